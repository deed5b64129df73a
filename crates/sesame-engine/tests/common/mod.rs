//! Test doubles shared by integration tests: a tiny DNS responder on loopback that answers from
//! an in-memory zone (NXDOMAIN for unknown names, NODATA for a known name without the asked
//! type, SERVFAIL under `servfail.example.test`). The same approach as `verify_dns.rs`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX};
use hickory_resolver::proto::rr::{Name, RData, Record};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Names answered with SERVFAIL, as a broken authoritative server would.
pub const SERVFAIL_DOMAIN: &str = "servfail.example.test";

/// Records by lower-case name without the trailing dot.
pub type Zone = HashMap<String, Vec<RData>>;

pub struct FakeDns {
    pub address: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeDns {
    pub async fn start(zone: Zone) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind fake dns socket");
        let address = socket.local_addr().expect("fake dns address");
        let task = tokio::spawn(serve(socket, Arc::new(Mutex::new(zone))));
        Self { address, task }
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(socket: UdpSocket, zone: Arc<Mutex<Zone>>) {
    let mut buffer = vec![0; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
            return;
        };
        let Ok(request) = Message::from_vec(&buffer[..len]) else {
            continue;
        };
        let response = answer(&request, &zone.lock().expect("zone lock"));
        let bytes = response.to_vec().expect("encode response");
        let _ = socket.send_to(&bytes, peer).await;
    }
}

fn answer(request: &Message, zone: &Zone) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    response.add_query(query.clone());
    let name = query
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if name == SERVFAIL_DOMAIN || name.ends_with(&format!(".{SERVFAIL_DOMAIN}")) {
        response.metadata.response_code = ResponseCode::ServFail;
        return response;
    }
    match zone.get(&name) {
        None => response.metadata.response_code = ResponseCode::NXDomain,
        Some(records) => {
            for rdata in records {
                if rdata.record_type() == query.query_type() {
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
                        300,
                        rdata.clone(),
                    ));
                }
            }
        }
    }
    response
}

pub fn mx(preference: u16, exchange: &str) -> RData {
    RData::MX(MX::new(
        preference,
        Name::from_ascii(exchange).expect("valid exchange name"),
    ))
}

pub fn a(address: Ipv4Addr) -> RData {
    RData::A(A(address))
}
