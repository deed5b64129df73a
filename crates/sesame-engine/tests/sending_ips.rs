//! Dedicated source addresses in delivery: `deliver_batch_from` binds each connection to the
//! pool's next address in turn, skips one the host does not have, and defers (connecting
//! nowhere) when none of the pool can be used. The server is a minimal SMTP receiver on
//! 127.0.0.1 that records each connection's peer address; on Linux every 127.0.0.0/8 address
//! is local, so 127.0.0.x can be bound as a source.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesame_engine::delivery::{
    DeliveryConfig, MxResolver, OutboundMessage, Outcome, Rotations, Source, deliver_batch_from,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};

/// Accepts connections, answers every command positively and records each peer address.
async fn receiver() -> (SocketAddr, Arc<Mutex<Vec<IpAddr>>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind receiver");
    let address = listener.local_addr().expect("receiver address");
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&peers);
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            seen.lock().expect("peers lock").push(peer.ip());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 receiver.test ready\r\n").await;
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        b"250 2.0.0 queued\r\n"
                    } else if line.eq_ignore_ascii_case("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if line.eq_ignore_ascii_case("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, peers)
}

/// Documentation addresses (RFC 5737) this host does not have: binding them fails.
fn unbindable() -> Vec<IpAddr> {
    ["192.0.2.1", "198.51.100.1", "203.0.113.1", "192.0.2.3"]
        .iter()
        .map(|text| text.parse().expect("address"))
        .filter(|ip: &IpAddr| {
            let socket = TcpSocket::new_v4().expect("socket");
            socket.bind(SocketAddr::new(*ip, 0)).is_err()
        })
        .collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

async fn deliver(relay: SocketAddr, source: &Source) -> Outcome {
    let config = DeliveryConfig {
        helo_name: "sesame.test".to_owned(),
        port: 25,
        relay: Some(relay),
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
    };
    // The relay needs no DNS; the resolver is never asked.
    let resolver = MxResolver::with_timeout(
        &[SocketAddr::from((Ipv4Addr::LOCALHOST, 9))],
        Duration::from_millis(200),
    )
    .expect("resolver");
    let message = OutboundMessage {
        mail_from: "b-1-x@bounces.sesame.test".to_owned(),
        recipients: vec!["ok@rcpt.test".to_owned()],
        body: Arc::from(&b"Subject: hi\r\n\r\nhello\r\n"[..]),
    };
    let mut results = deliver_batch_from(&resolver, &config, "rcpt.test", source, &[message]).await;
    results.remove(0).remove(0).1
}

#[tokio::test]
async fn pool_connections_take_turns_and_skip_unbindable_addresses() {
    let (relay, peers) = receiver().await;
    let rotations = Rotations::new();
    let bad = unbindable()[0];
    let pool = Source::Pool(rotations.pool(
        1,
        "account 1".into(),
        vec![ip("127.0.0.2"), bad, ip("127.0.0.3")],
    ));
    for _ in 0..4 {
        let outcome = deliver(relay, &pool).await;
        assert!(matches!(outcome, Outcome::Delivered(_)), "{outcome:?}");
    }
    // Turns: .2, (bad skipped) .3, .3, .2
    assert_eq!(
        *peers.lock().unwrap(),
        [
            ip("127.0.0.2"),
            ip("127.0.0.3"),
            ip("127.0.0.3"),
            ip("127.0.0.2")
        ]
    );
    let outcome = deliver(relay, &Source::Shared).await;
    assert!(matches!(outcome, Outcome::Delivered(_)), "{outcome:?}");
    assert_eq!(peers.lock().unwrap().last(), Some(&ip("127.0.0.1")));
}

#[tokio::test]
async fn a_pool_that_cannot_be_used_defers_without_connecting() {
    let (relay, peers) = receiver().await;
    let rotations = Rotations::new();
    let unbindable = Source::Pool(rotations.pool(1, "account 1".into(), unbindable()));
    match deliver(relay, &unbindable).await {
        Outcome::Deferred(reason) => assert!(
            reason.contains("no address of the dedicated pool of account 1"),
            "{reason}"
        ),
        other => panic!("not deferred: {other:?}"),
    }
    // An IPv6-only pool cannot reach an IPv4 host: deferred too, never the shared address.
    let v6_only = Source::Pool(rotations.pool(2, "domain a.test".into(), vec![ip("::1")]));
    match deliver(relay, &v6_only).await {
        Outcome::Deferred(reason) => assert!(
            reason.contains("the dedicated pool of domain a.test has no IPv4 address"),
            "{reason}"
        ),
        other => panic!("not deferred: {other:?}"),
    }
    assert!(peers.lock().unwrap().is_empty(), "a connection was made");
}
