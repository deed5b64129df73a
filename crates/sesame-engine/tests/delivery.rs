//! Outbound delivery against a scripted SMTP server on loopback (and a fake DNS server for MX
//! routing). The server answers each RCPT by the recipient's local part: `ok` 250, `full`
//! 552 5.2.2, `nouser` 550 5.1.1, `later` 451 4.3.0, `drop` closes the connection. It records
//! every command and every message's data exactly as received.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sesame_engine::delivery::{
    DeliveryConfig, MxResolver, OutboundMessage, Outcome, RouteError, SmtpClient, Timeouts,
    deliver_batch,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use common::{FakeDns, Zone, a, mx};

/// What the server saw on one connection.
#[derive(Debug, Default, Clone)]
struct Session {
    commands: Vec<String>,
    /// Each message's data as received, without the final ".\r\n".
    messages: Vec<Vec<u8>>,
    tls: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Normal,
    /// Greets with 421 and hangs up.
    Busy,
    /// Offers STARTTLS, answers 220, then hangs up instead of a handshake.
    BrokenTls,
}

struct FakeSmtp {
    address: SocketAddr,
    sessions: Arc<Mutex<Vec<Session>>>,
    task: JoinHandle<()>,
}

impl FakeSmtp {
    async fn start(behaviour: Behaviour, tls: Option<TlsAcceptor>) -> Self {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), behaviour, tls).await
    }

    async fn start_on(address: SocketAddr, behaviour: Behaviour, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind(address).await.expect("bind fake smtp");
        let address = listener.local_addr().expect("fake smtp address");
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(listener, behaviour, tls, Arc::clone(&sessions)));
        Self {
            address,
            sessions,
            task,
        }
    }

    fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().expect("sessions lock").clone()
    }
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    behaviour: Behaviour,
    tls: Option<TlsAcceptor>,
    sessions: Arc<Mutex<Vec<Session>>>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let sessions = Arc::clone(&sessions);
        let tls = tls.clone();
        tokio::spawn(async move {
            let index = {
                let mut sessions = sessions.lock().expect("sessions lock");
                sessions.push(Session::default());
                sessions.len() - 1
            };
            let record = Recorder { sessions, index };
            let mut tcp = tcp;
            if behaviour == Behaviour::Busy {
                let _ = tcp.write_all(b"421 4.3.2 busy, try later\r\n").await;
                return;
            }
            let _ = tcp.write_all(b"220 fake.example.test ESMTP\r\n").await;
            let offer_tls = tls.is_some() || behaviour == Behaviour::BrokenTls;
            if let Some(tcp) = converse(tcp, offer_tls, &record).await {
                if behaviour == Behaviour::BrokenTls {
                    return;
                }
                let Some(acceptor) = tls else { return };
                let Ok(tls_stream) = acceptor.accept(tcp).await else {
                    return;
                };
                record.update(|session| session.tls = true);
                converse(tls_stream, false, &record).await;
            }
        });
    }
}

/// Writes into one connection's `Session`.
struct Recorder {
    sessions: Arc<Mutex<Vec<Session>>>,
    index: usize,
}

impl Recorder {
    fn update(&self, change: impl FnOnce(&mut Session)) {
        change(&mut self.sessions.lock().expect("sessions lock")[self.index]);
    }
}

/// Runs the SMTP dialogue; returns the stream when the client asked for STARTTLS.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    offer_tls: bool,
    record: &Recorder,
) -> Option<S> {
    let mut stream = BufReader::new(stream);
    // Whether the transaction has a recipient: DATA without one is refused, as real servers
    // do (RFC 2920 §3.1), which a pipelining client meets.
    let mut has_recipient = false;
    loop {
        let mut line = String::new();
        match stream.read_line(&mut line).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        record.update(|session| session.commands.push(command.clone()));
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => {
                let mut reply =
                    String::from("250-fake.example.test\r\n250-SIZE 10000000\r\n250-8BITMIME\r\n");
                if offer_tls {
                    reply.push_str("250-STARTTLS\r\n");
                }
                reply.push_str("250 PIPELINING\r\n");
                reply
            }
            "RSET" | "MAIL" => {
                has_recipient = false;
                "250 2.0.0 ok\r\n".to_owned()
            }
            "HELO" | "NOOP" => "250 2.0.0 ok\r\n".to_owned(),
            "STARTTLS" => {
                let _ = stream.write_all(b"220 2.0.0 ready\r\n").await;
                return Some(stream.into_inner());
            }
            "RCPT" => {
                let local = command
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('@'))
                    .map(|(local, _)| local.to_owned())
                    .unwrap_or_default();
                match local.as_str() {
                    "full" => "552 5.2.2 <full@x> mailbox full\r\n".to_owned(),
                    "nouser" => "550-5.1.1 <nouser@x>: Recipient address rejected:\r\n550 5.1.1 User unknown in local recipient table\r\n".to_owned(),
                    "later" => "451 4.3.0 try later\r\n".to_owned(),
                    "drop" => return None,
                    _ => {
                        has_recipient = true;
                        "250 2.1.5 ok\r\n".to_owned()
                    }
                }
            }
            "DATA" if !has_recipient => "554 5.5.1 Error: no valid recipients\r\n".to_owned(),
            "DATA" => {
                let _ = stream.write_all(b"354 go ahead\r\n").await;
                let mut data = Vec::new();
                loop {
                    let mut data_line = Vec::new();
                    match stream.read_until(b'\n', &mut data_line).await {
                        Ok(0) | Err(_) => return None,
                        Ok(_) => {}
                    }
                    // Only CRLF "." CRLF ends the data.
                    if data_line == b".\r\n" {
                        break;
                    }
                    data.extend_from_slice(&data_line);
                }
                record.update(|session| session.messages.push(data.clone()));
                "250 2.0.0 queued as 1\r\n".to_owned()
            }
            "QUIT" => {
                let _ = stream.write_all(b"221 2.0.0 bye\r\n").await;
                return None;
            }
            _ => "500 5.5.2 unknown command\r\n".to_owned(),
        };
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return None;
        }
    }
}

fn message(recipients: &[&str], body: &[u8]) -> OutboundMessage {
    OutboundMessage {
        mail_from: "bounce+1@bounces.sesame.test".to_owned(),
        recipients: recipients
            .iter()
            .map(|r| format!("{r}@example.test"))
            .collect(),
        body: Arc::from(body),
    }
}

fn relay_config(relay: SocketAddr) -> DeliveryConfig {
    DeliveryConfig {
        helo_name: "sesame.test".to_owned(),
        port: 25,
        relay: Some(relay),
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
    }
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_secs(5),
    }
}

/// A resolver that is never asked (relay mode), pointing at a dead port just in case.
fn unused_resolver() -> MxResolver {
    MxResolver::with_timeout(
        &[SocketAddr::from((Ipv4Addr::LOCALHOST, 9))],
        Duration::from_millis(200),
    )
    .expect("resolver")
}

fn outcome_kinds(outcomes: &[(String, Outcome)]) -> Vec<(String, &'static str)> {
    outcomes
        .iter()
        .map(|(recipient, outcome)| {
            let kind = match outcome {
                Outcome::Delivered(_) => "delivered",
                Outcome::Deferred(_) => "deferred",
                Outcome::Bounced { hard: true, .. } => "hard",
                Outcome::Bounced { hard: false, .. } => "soft",
            };
            (
                recipient.split('@').next().unwrap_or_default().to_owned(),
                kind,
            )
        })
        .collect()
}

fn kinds(expected: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    expected
        .iter()
        .map(|(r, k)| ((*r).to_owned(), *k))
        .collect()
}

#[tokio::test]
async fn relay_batch_gets_per_recipient_outcomes_over_one_connection() {
    let server = FakeSmtp::start(Behaviour::Normal, None).await;
    let messages = [
        message(
            &["ok", "full", "nouser", "later"],
            b"Subject: one\r\n\r\n.leading dot\r\nbare lf\nend",
        ),
        message(
            &["ok"],
            "Subject: two\r\n\r\nh\u{e9}llo\r\n.\r\n".as_bytes(),
        ),
    ];
    let results = deliver_batch(
        &unused_resolver(),
        &relay_config(server.address),
        "example.test",
        &messages,
    )
    .await;

    assert_eq!(
        outcome_kinds(&results[0]),
        kinds(&[
            ("ok", "delivered"),
            ("full", "soft"),
            ("nouser", "hard"),
            ("later", "deferred")
        ])
    );
    assert_eq!(outcome_kinds(&results[1]), kinds(&[("ok", "delivered")]));
    match &results[0][2].1 {
        Outcome::Bounced { reason, .. } => assert_eq!(
            reason,
            "550 5.1.1 <nouser@x>: Recipient address rejected: User unknown in local recipient table"
        ),
        other => panic!("unexpected {other:?}"),
    }

    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1, "both messages on one connection");
    let session = &sessions[0];
    assert_eq!(
        session.messages,
        vec![
            b"Subject: one\r\n\r\n..leading dot\r\nbare lf\r\nend\r\n".to_vec(),
            "Subject: two\r\n\r\nh\u{e9}llo\r\n..\r\n"
                .as_bytes()
                .to_vec(),
        ]
    );
    let commands = &session.commands;
    assert_eq!(commands[0], "EHLO sesame.test");
    assert!(commands.contains(&"RSET".to_owned()), "{commands:?}");
    let mails: Vec<&String> = commands
        .iter()
        .filter(|c| c.starts_with("MAIL FROM"))
        .collect();
    assert_eq!(mails.len(), 2);
    assert!(mails[0].starts_with("MAIL FROM:<bounce+1@bounces.sesame.test> SIZE="));
    assert!(!mails[0].contains("BODY=8BITMIME"), "{}", mails[0]);
    assert!(mails[1].ends_with(" BODY=8BITMIME"), "{}", mails[1]);
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"));
}

#[tokio::test]
async fn smtp_smuggling_bare_lf_dot_cannot_end_the_data() {
    let server = FakeSmtp::start(Behaviour::Normal, None).await;
    let mut client = SmtpClient::connect(server.address, "sesame.test", timeouts())
        .await
        .expect("session");
    let recipients = vec!["ok@example.test".to_owned()];
    let smuggled = b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<evil@example.test>\nRCPT TO:<ok@example.test>\nDATA\n\nevil\n.\r\n";
    let report = client
        .send("bounce@bounces.sesame.test", &recipients, smuggled)
        .await;
    assert_eq!(report.data.map(|reply| reply.code), Some(250));
    client.quit().await;
    let sessions = server.sessions();
    assert_eq!(sessions[0].messages.len(), 1, "exactly one message arrived");
    assert_eq!(
        sessions[0].messages[0],
        b"Subject: x\r\n\r\nhi\r\n..\r\nMAIL FROM:<evil@example.test>\r\nRCPT TO:<ok@example.test>\r\nDATA\r\n\r\nevil\r\n..\r\n".to_vec()
    );
    let n_mail = sessions[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("MAIL FROM"))
        .count();
    assert_eq!(n_mail, 1);
}

#[tokio::test]
async fn no_data_when_every_recipient_is_refused() {
    let server = FakeSmtp::start(Behaviour::Normal, None).await;
    let mut client = SmtpClient::connect(server.address, "sesame.test", timeouts())
        .await
        .expect("session");
    let recipients = vec![
        "nouser@example.test".to_owned(),
        "later@example.test".to_owned(),
    ];
    let report = client
        .send("b@bounces.sesame.test", &recipients, b"x\r\n")
        .await;
    assert!(report.broken.is_none());
    assert_eq!(report.data, None);
    let codes: Vec<u16> = report
        .per_recipient
        .iter()
        .map(|(_, reply)| reply.code)
        .collect();
    assert_eq!(codes, vec![550, 451]);
    // The session stays usable for the next message.
    let report = client
        .send(
            "b@bounces.sesame.test",
            &["ok@example.test".to_owned()],
            b"x\r\n",
        )
        .await;
    assert_eq!(report.data.map(|reply| reply.code), Some(250));
    client.quit().await;
    // The client pipelines (the server offers PIPELINING): DATA went out with each group, was
    // refused the first time, and data was sent only for the message with a recipient.
    let commands = &server.sessions()[0].commands;
    let verbs: Vec<&str> = commands
        .iter()
        .map(|c| c.split([' ', ':']).next().unwrap_or_default())
        .collect();
    assert_eq!(
        verbs,
        [
            "EHLO", "MAIL", "RCPT", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "QUIT"
        ]
    );
    assert_eq!(server.sessions()[0].messages.len(), 1);
}

#[tokio::test]
async fn a_dropped_connection_defers_what_was_not_finished() {
    let server = FakeSmtp::start(Behaviour::Normal, None).await;
    let messages = [
        message(&["ok"], b"first\r\n"),
        message(&["ok", "drop"], b"second\r\n"),
        message(&["ok"], b"third\r\n"),
    ];
    let results = deliver_batch(
        &unused_resolver(),
        &relay_config(server.address),
        "example.test",
        &messages,
    )
    .await;
    assert_eq!(outcome_kinds(&results[0]), kinds(&[("ok", "delivered")]));
    assert_eq!(
        outcome_kinds(&results[1]),
        kinds(&[("ok", "deferred"), ("drop", "deferred")])
    );
    assert_eq!(outcome_kinds(&results[2]), kinds(&[("ok", "deferred")]));
}

#[tokio::test]
async fn an_unreachable_relay_defers_everything() {
    // Bind and drop a listener to find a port nobody listens on.
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind")
        .local_addr()
        .expect("address");
    let results = deliver_batch(
        &unused_resolver(),
        &relay_config(closed),
        "example.test",
        &[message(&["ok", "nouser"], b"x\r\n")],
    )
    .await;
    assert_eq!(
        outcome_kinds(&results[0]),
        kinds(&[("ok", "deferred"), ("nouser", "deferred")])
    );
}

fn tls_acceptor() -> TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["mx.example.test".to_owned()])
        .expect("self-signed certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server certificate");
    TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn starttls_is_used_with_a_self_signed_certificate() {
    let server = FakeSmtp::start(Behaviour::Normal, Some(tls_acceptor())).await;
    let mut client = SmtpClient::connect_named(
        server.address,
        Some("other-name.example.test"),
        "sesame.test",
        timeouts(),
    )
    .await
    .expect("session");
    assert!(client.is_tls());
    let report = client
        .send(
            "b@bounces.sesame.test",
            &["ok@example.test".to_owned()],
            b"secret\r\n",
        )
        .await;
    assert_eq!(report.data.map(|reply| reply.code), Some(250));
    client.quit().await;
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].tls);
    // EHLO again after the handshake (RFC 3207 §4.2).
    let n_ehlo = sessions[0]
        .commands
        .iter()
        .filter(|c| c.starts_with("EHLO"))
        .count();
    assert_eq!(n_ehlo, 2);
    assert_eq!(sessions[0].messages, vec![b"secret\r\n".to_vec()]);
}

#[tokio::test]
async fn a_failed_tls_handshake_falls_back_to_plain_once() {
    let server = FakeSmtp::start(Behaviour::BrokenTls, None).await;
    let mut client = SmtpClient::connect(server.address, "sesame.test", timeouts())
        .await
        .expect("session");
    assert!(!client.is_tls());
    let report = client
        .send(
            "b@bounces.sesame.test",
            &["ok@example.test".to_owned()],
            b"x\r\n",
        )
        .await;
    assert_eq!(report.data.map(|reply| reply.code), Some(250));
    client.quit().await;
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 2);
    assert!(!sessions[1].commands.iter().any(|c| c == "STARTTLS"));
}

async fn resolver_for(dns: &FakeDns) -> MxResolver {
    MxResolver::with_timeout(&[dns.address], Duration::from_millis(500)).expect("resolver")
}

#[tokio::test]
async fn routes_follow_mx_preference_and_fall_back_to_the_domain() {
    let zone: Zone = [
        (
            "example.test",
            vec![
                mx(20, "mx2.example.test."),
                mx(10, "mx1.example.test."),
                mx(30, "mx1.example.test."),
            ],
        ),
        ("mx1.example.test", vec![a(Ipv4Addr::new(192, 0, 2, 1))]),
        (
            "implicit.example.test",
            vec![a(Ipv4Addr::new(192, 0, 2, 9))],
        ),
        ("nullmx.example.test", vec![mx(0, ".")]),
    ]
    .into_iter()
    .map(|(name, records)| (name.to_owned(), records))
    .collect();
    let dns = FakeDns::start(zone).await;
    let resolver = resolver_for(&dns).await;

    assert_eq!(
        resolver.route("example.test").await,
        Ok(vec![
            "mx1.example.test".to_owned(),
            "mx2.example.test".to_owned()
        ])
    );
    assert_eq!(
        resolver.route("implicit.example.test").await,
        Ok(vec!["implicit.example.test".to_owned()])
    );
    assert_eq!(
        resolver.route("nullmx.example.test").await,
        Err(RouteError::NullMx)
    );
    assert_eq!(
        resolver.route("missing.example.test").await,
        Err(RouteError::NoSuchDomain)
    );
    assert!(matches!(
        resolver.route(common::SERVFAIL_DOMAIN).await,
        Err(RouteError::Temporary(_))
    ));
    assert_eq!(
        resolver.addresses("mx1.example.test").await,
        Ok(vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))])
    );
    assert_eq!(
        resolver.addresses("mx2.example.test").await,
        Err(RouteError::NoSuchDomain)
    );
}

#[tokio::test]
async fn route_failures_become_outcomes() {
    let zone: Zone = [
        ("nullmx.example.test", vec![mx(0, ".")]),
        ("dangling.example.test", vec![mx(10, "gone.example.test.")]),
        (
            "broken.example.test",
            vec![mx(10, "mx.servfail.example.test.")],
        ),
    ]
    .into_iter()
    .map(|(name, records)| (name.to_owned(), records))
    .collect();
    let dns = FakeDns::start(zone).await;
    let resolver = resolver_for(&dns).await;
    let config = DeliveryConfig {
        relay: None,
        ..relay_config(SocketAddr::from((Ipv4Addr::LOCALHOST, 25)))
    };
    for (domain, expected) in [
        ("nullmx.example.test", "hard"),
        ("missing.example.test", "hard"),
        (common::SERVFAIL_DOMAIN, "deferred"),
        // The only MX host does not exist: as permanent as a missing domain.
        ("dangling.example.test", "hard"),
        // The MX host's addresses cannot be looked up right now.
        ("broken.example.test", "deferred"),
    ] {
        let results =
            deliver_batch(&resolver, &config, domain, &[message(&["ok"], b"x\r\n")]).await;
        assert_eq!(
            outcome_kinds(&results[0]),
            kinds(&[("ok", expected)]),
            "{domain}"
        );
    }
}

/// mx1 (preference 10) greets with 421 and mx2's address refuses connections; mx3 delivers. All
/// listen on the same port on different loopback addresses, since `port` is one setting.
#[tokio::test]
async fn delivery_moves_down_the_mx_list_until_a_host_accepts() {
    let (busy, good) = loop {
        let busy = FakeSmtp::start_on(
            SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 0)),
            Behaviour::Busy,
            None,
        )
        .await;
        let same_port = SocketAddr::from((Ipv4Addr::LOCALHOST, busy.address.port()));
        if TcpListener::bind(same_port).await.is_ok() {
            let good = FakeSmtp::start_on(same_port, Behaviour::Normal, None).await;
            break (busy, good);
        }
    };
    let zone: Zone = [
        (
            "example.test",
            vec![
                mx(10, "mx1.example.test."),
                mx(20, "mx2.example.test."),
                mx(30, "mx3.example.test."),
            ],
        ),
        ("mx1.example.test", vec![a(Ipv4Addr::new(127, 0, 0, 2))]),
        ("mx2.example.test", vec![a(Ipv4Addr::new(127, 0, 0, 3))]),
        ("mx3.example.test", vec![a(Ipv4Addr::LOCALHOST)]),
    ]
    .into_iter()
    .map(|(name, records)| (name.to_owned(), records))
    .collect();
    let dns = FakeDns::start(zone).await;
    let resolver = resolver_for(&dns).await;
    let config = DeliveryConfig {
        relay: None,
        port: good.address.port(),
        ..relay_config(good.address)
    };
    let results = deliver_batch(
        &resolver,
        &config,
        "example.test",
        &[
            message(&["ok"], b"one\r\n"),
            message(&["nouser"], b"two\r\n"),
        ],
    )
    .await;
    assert_eq!(outcome_kinds(&results[0]), kinds(&[("ok", "delivered")]));
    assert_eq!(outcome_kinds(&results[1]), kinds(&[("nouser", "hard")]));
    assert_eq!(busy.sessions().len(), 1);
    assert_eq!(good.sessions().len(), 1);
    assert_eq!(good.sessions()[0].messages, vec![b"one\r\n".to_vec()]);
}
