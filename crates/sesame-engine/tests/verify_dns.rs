//! `DnsChecker` against a real DNS server on loopback: a tiny UDP responder, started inside each
//! test on 127.0.0.1:0, answers from an in-memory zone (NXDOMAIN for unknown names, SERVFAIL
//! for `servfail.example.test`). Covers what the pure rule tests cannot: wire decoding of
//! TXT strings and MX hosts, NXDOMAIN versus failure, and that nothing is cached.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{MX, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record};
use sesame_engine::verify::{
    DkimPublicKey, DnsChecker, RecordSettings, VerifyError, expected_records,
};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Names answered with SERVFAIL, as a broken authoritative server would.
const SERVFAIL_DOMAIN: &str = "servfail.example.test";

/// Records by lower-case name without the trailing dot. A name present with other types only
/// gets NODATA; an absent name gets NXDOMAIN.
type Zone = HashMap<String, Vec<RData>>;

struct FakeDns {
    address: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: JoinHandle<()>,
}

impl FakeDns {
    async fn start(zone: Zone) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind fake dns socket");
        let address = socket.local_addr().expect("fake dns address");
        let zone = Arc::new(Mutex::new(zone));
        let task = tokio::spawn(serve(socket, Arc::clone(&zone)));
        Self {
            address,
            zone,
            task,
        }
    }

    fn set(&self, name: &str, records: Vec<RData>) {
        self.zone
            .lock()
            .expect("zone lock")
            .insert(name.to_owned(), records);
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

fn txt(strings: &[&str]) -> RData {
    RData::TXT(TXT::new(strings.iter().map(|s| (*s).to_owned()).collect()))
}

fn mx(preference: u16, exchange: &str) -> RData {
    RData::MX(MX::new(
        preference,
        Name::from_ascii(exchange).expect("valid exchange name"),
    ))
}

fn settings() -> RecordSettings {
    RecordSettings {
        spf_include: "spf.sesame.test".to_owned(),
        dkim_selector: "sesame".to_owned(),
        mx_host: "mx.sesame.test".to_owned(),
    }
}

/// A 2048-bit-sized key: too long for one 255-byte TXT string, as in real DNS.
fn long_key() -> String {
    let mut key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".to_owned();
    while key.len() < 392 {
        key.push_str("q83vEjRWeJq8");
    }
    key.truncate(392);
    key
}

fn keys() -> Vec<DkimPublicKey> {
    vec![
        DkimPublicKey {
            selector: "sesame".to_owned(),
            public_key_b64: long_key(),
        },
        DkimPublicKey {
            selector: "sesame1024".to_owned(),
            public_key_b64: "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1".to_owned(),
        },
    ]
}

/// Checks `domain`'s records through `checker`; yields (name, current value, passes) per record.
async fn check(
    checker: &DnsChecker,
    domain: &str,
) -> Result<Vec<(String, String, bool)>, VerifyError> {
    let records = expected_records(domain, &settings(), &keys());
    let checks = checker.check(&records).await?;
    Ok(checks
        .into_iter()
        .map(|check| (check.record.name, check.current_value, check.passes))
        .collect())
}

fn row(name: &str, current_value: &str, passes: bool) -> (String, String, bool) {
    (name.to_owned(), current_value.to_owned(), passes)
}

fn published_zone() -> Zone {
    let key = long_key();
    let (head, tail) = key.split_at(200);
    let mut zone = Zone::new();
    zone.insert(
        "example.test".to_owned(),
        vec![
            txt(&["google-site-verification=abc"]),
            txt(&["v=spf1 ip4:192.0.2.1 ", "include:spf.sesame.test ~all"]),
            mx(20, "backup.other.test."),
            mx(10, "MX.Sesame.test."),
        ],
    );
    zone.insert(
        "sesame._domainkey.example.test".to_owned(),
        vec![txt(&["v=DKIM1; k=rsa; p=", head, tail])],
    );
    zone.insert(
        "_dmarc.example.test".to_owned(),
        vec![txt(&["v=DMARC1; p=quarantine; rua=mailto:d@example.test"])],
    );
    zone
}

#[tokio::test]
async fn published_records_are_found_and_pass() {
    let dns = FakeDns::start(published_zone()).await;
    let checker = DnsChecker::new(&[dns.address]).expect("checker");
    let key = long_key();
    assert_eq!(
        check(&checker, "example.test").await.expect("dns answers"),
        [
            row(
                "example.test",
                "google-site-verification=abc v=spf1 ip4:192.0.2.1 include:spf.sesame.test ~all",
                true
            ),
            row(
                "sesame._domainkey.example.test",
                &format!("v=DKIM1; k=rsa; p={key}"),
                true
            ),
            // Not published: NXDOMAIN is an answer, not a failure.
            row("sesame1024._domainkey.example.test", "", false),
            row(
                "_dmarc.example.test",
                "v=DMARC1; p=quarantine; rua=mailto:d@example.test",
                true
            ),
            row("example.test", "MX.Sesame.test backup.other.test", true),
        ]
    );
}

#[tokio::test]
async fn unpublished_domain_shows_empty_values() {
    let mut zone = Zone::new();
    // The name exists with an A record only: TXT and MX queries get NODATA.
    zone.insert(
        "bare.example.test".to_owned(),
        vec![RData::A(Ipv4Addr::new(192, 0, 2, 1).into())],
    );
    let dns = FakeDns::start(zone).await;
    let checker = DnsChecker::new(&[dns.address]).expect("checker");
    for domain in ["bare.example.test", "nowhere.example.test"] {
        let rows = check(&checker, domain).await.expect("dns answers");
        assert_eq!(rows.len(), 5);
        for (name, current_value, passes) in rows {
            assert_eq!((current_value.as_str(), passes), ("", false), "{name}");
        }
    }
}

#[tokio::test]
async fn wrong_records_fail() {
    let mut zone = Zone::new();
    zone.insert(
        "wrong.example.test".to_owned(),
        vec![
            txt(&["v=spf1 include:spf.sesame.test ~all"]),
            txt(&["v=spf1 include:_spf.other.test ~all"]),
            mx(10, "mx.other.test."),
        ],
    );
    zone.insert(
        "sesame._domainkey.wrong.example.test".to_owned(),
        vec![txt(&["v=DKIM1; k=rsa; p=AAAA"])],
    );
    zone.insert(
        "_dmarc.wrong.example.test".to_owned(),
        vec![txt(&["v=DMARC1; rua=mailto:d@example.test"])],
    );
    let dns = FakeDns::start(zone).await;
    let checker = DnsChecker::new(&[dns.address]).expect("checker");
    let passes: Vec<bool> = check(&checker, "wrong.example.test")
        .await
        .expect("dns answers")
        .into_iter()
        .map(|(_, _, passes)| passes)
        .collect();
    assert_eq!(passes, [false, false, false, false, false]);
}

#[tokio::test]
async fn rechecks_see_changes_at_once() {
    let dns = FakeDns::start(Zone::new()).await;
    let checker = DnsChecker::new(&[dns.address]).expect("checker");
    let before = check(&checker, "example.test").await.expect("dns answers");
    assert!(
        before
            .iter()
            .all(|(_, value, passes)| value.is_empty() && !passes)
    );

    // The user publishes the records and presses "verify" straight away.
    for (name, records) in published_zone() {
        dns.set(&name, records);
    }
    let after = check(&checker, "example.test").await.expect("dns answers");
    let passes: Vec<bool> = after.iter().map(|(_, _, passes)| *passes).collect();
    assert_eq!(passes, [true, true, false, true, true]);

    // Later the DMARC record is removed; the periodic re-check must notice.
    dns.set("_dmarc.example.test", Vec::new());
    let later = check(&checker, "example.test").await.expect("dns answers");
    assert_eq!(later[3], row("_dmarc.example.test", "", false));
}

#[tokio::test]
async fn servfail_is_unavailable() {
    let dns = FakeDns::start(published_zone()).await;
    let checker =
        DnsChecker::with_timeout(&[dns.address], Duration::from_secs(5)).expect("checker");
    let started = Instant::now();
    let result = check(&checker, SERVFAIL_DOMAIN).await;
    assert!(
        matches!(result, Err(VerifyError::Unavailable(_))),
        "{result:?}"
    );
    // SERVFAIL comes back at once: the error must not come from waiting out the timeout.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_server_is_unavailable() {
    // Bound but never read: every query times out.
    let silent = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind silent socket");
    let address = silent.local_addr().expect("silent address");
    let checker =
        DnsChecker::with_timeout(&[address], Duration::from_millis(200)).expect("checker");
    let started = Instant::now();
    let result = check(&checker, "example.test").await;
    assert!(
        matches!(result, Err(VerifyError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
