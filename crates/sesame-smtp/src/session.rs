//! One SMTP session, as a loop over commands: read a bounded line, parse it with
//! `smtp-proto`, answer. The transaction (MAIL, RCPT, DATA) is checked step by step so a
//! client learns early what will be refused; the message itself goes to the submit pipeline
//! (submission) or the bounce parser (inbound) and is answered only once that is done, which
//! for submission means durable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sesame_core::EmailAddress;
use sesame_engine::credentials;
use sesame_engine::inbound::Processed;
use sesame_engine::submit::{self, MAX_SMTP_MESSAGE_BYTES, RawSubmission};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN, Request};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::command::{self, Data, DataDecoder, MAX_DATA_LINE, printable};
use crate::io::{Conn, Line, ReadError, Stream, handshake};
use crate::{Role, Service, auth, reply};

/// Longest command line (RFC 5321 allows 512; AUTH responses can be longer).
const MAX_COMMAND_LINE: usize = 4096;
/// Commands refused before the session is closed.
const MAX_ERRORS: u32 = 10;
/// Failed AUTH attempts in one session before it is closed.
const MAX_AUTH_FAILURES: u32 = 3;
/// Envelope recipients per message: the API's limit, and more for inbound reports.
const MAX_RCPT_SUBMISSION: usize = submit::MAX_TO;
const MAX_RCPT_INBOUND: usize = 100;

struct Session {
    service: Arc<Service>,
    role: Role,
    conn: Conn,
    peer: SocketAddr,
    trusted: bool,
    greeted: bool,
    /// The account of the authenticated sender, and the user name.
    auth: Option<(i64, String)>,
    auth_failures: u32,
    errors: u32,
    transaction: Option<Transaction>,
}

struct Transaction {
    mail_from: String,
    /// The account that owns the mail (submission).
    account_id: i64,
    recipients: Vec<String>,
}

/// What ended a session early.
enum Stop {
    /// Close after the reply already queued.
    Close,
}

type Step = Result<(), Stop>;

pub async fn run(
    service: Arc<Service>,
    role: Role,
    tcp: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    cancel: CancellationToken,
) {
    let timeout = service.config.smtp.timeout;
    let stream = if implicit_tls {
        match handshake(&service.tls, tcp, timeout).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
        }
    } else {
        Stream::Plain(tcp)
    };
    let trusted = role == Role::Submission && service.config.smtp.is_trusted(peer.ip());
    let mut session = Session {
        conn: Conn::new(stream, timeout),
        service,
        role,
        peer,
        trusted,
        greeted: false,
        auth: None,
        auth_failures: 0,
        errors: 0,
        transaction: None,
    };
    session.serve(cancel).await;
    session.conn.close().await;
}

impl Session {
    async fn serve(&mut self, cancel: CancellationToken) {
        let greeting = format!("220 {} ESMTP Sesame", self.service.hostname());
        if self.conn.send(&greeting).await.is_err() {
            return;
        }
        loop {
            let line = tokio::select! {
                _ = cancel.cancelled() => {
                    self.conn.queue("421 4.3.2 Service shutting down, try again later");
                    return;
                }
                line = self.conn.read_line(MAX_COMMAND_LINE) => line,
            };
            let line = match line {
                Ok(Line::Complete(line)) => line,
                Ok(Line::TooLong) => {
                    if self.refuse("500 5.5.2 Line too long").is_err() {
                        return;
                    }
                    continue;
                }
                Err(ReadError::Timeout(_)) => {
                    self.conn.queue("421 4.4.2 Timeout: closing the connection");
                    return;
                }
                Err(e) => {
                    tracing::debug!(peer = %self.peer, error = %e, "session ended");
                    return;
                }
            };
            if self.command(&line).await.is_err() {
                return;
            }
        }
    }

    /// Queues a refusal and counts it; too many and the session is closed.
    fn refuse(&mut self, text: &str) -> Step {
        self.errors += 1;
        self.conn.queue(text);
        if self.errors >= MAX_ERRORS {
            self.conn
                .queue("421 4.7.0 Too many errors, closing the connection");
            return Err(Stop::Close);
        }
        Ok(())
    }

    async fn command(&mut self, line: &[u8]) -> Step {
        let request = match command::parse(line) {
            Ok(request) => request,
            Err(refusal) => return self.refuse(&refusal),
        };
        match request {
            Request::Ehlo { host } => self.ehlo(&host),
            Request::Helo { host } => {
                self.greeted = true;
                self.transaction = None;
                self.conn
                    .queue(&format!("250 {} hello {host}", self.service.hostname()));
                Ok(())
            }
            Request::Lhlo { .. } => self.refuse("500 5.5.1 This is not an LMTP server"),
            Request::StartTls => self.start_tls().await,
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response).await,
            Request::Mail { from } => {
                let size_too_big = from.size > MAX_SMTP_MESSAGE_BYTES;
                self.mail(&from.address, size_too_big).await
            }
            Request::Rcpt { to } => self.rcpt(&to.address),
            Request::Data => self.data().await,
            Request::Rset => {
                self.transaction = None;
                self.conn.queue("250 2.0.0 Ok");
                Ok(())
            }
            Request::Noop { .. } => {
                self.conn.queue("250 2.0.0 Ok");
                Ok(())
            }
            Request::Quit => {
                self.conn.queue("221 2.0.0 Bye");
                Err(Stop::Close)
            }
            Request::Vrfy { .. } => {
                self.conn
                    .queue("252 2.5.2 Cannot VRFY a user; send the mail and see");
                Ok(())
            }
            Request::Help { .. } => {
                self.conn.queue(
                    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT STARTTLS AUTH",
                );
                Ok(())
            }
            Request::Bdat { .. } => {
                // Its chunk would be read as commands: close rather than misread it.
                self.conn.queue("502 5.5.1 BDAT is not offered; use DATA");
                Err(Stop::Close)
            }
            _ => self.refuse("502 5.5.1 Command not implemented"),
        }
    }

    fn offers_auth(&self) -> bool {
        self.role == Role::Submission
            && (self.conn.is_tls() || self.service.config.smtp.allow_plain_auth)
    }

    fn ehlo(&mut self, host: &str) -> Step {
        self.greeted = true;
        self.transaction = None;
        let mut lines = vec![
            format!(
                "{} hello {host} [{}]",
                self.service.hostname(),
                self.peer.ip()
            ),
            "PIPELINING".to_string(),
            format!("SIZE {MAX_SMTP_MESSAGE_BYTES}"),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if !self.conn.is_tls() {
            lines.push("STARTTLS".to_string());
        }
        if self.offers_auth() && self.auth.is_none() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        self.conn.queue(&reply::multiline(250, &lines));
        Ok(())
    }

    async fn start_tls(&mut self) -> Step {
        if self.conn.is_tls() {
            return self.refuse("503 5.5.1 TLS is already active");
        }
        self.conn.queue("220 2.0.0 Ready to start TLS");
        let acceptor = self.service.tls.clone();
        if let Err(e) = self.conn.start_tls(&acceptor).await {
            tracing::debug!(peer = %self.peer, error = %e, "STARTTLS failed");
            return Err(Stop::Close);
        }
        // RFC 3207: the client starts over.
        self.greeted = false;
        self.auth = None;
        self.transaction = None;
        Ok(())
    }

    async fn auth(&mut self, mechanism: u64, initial: &str) -> Step {
        if self.role != Role::Submission {
            return self.refuse("502 5.5.1 AUTH is not offered here");
        }
        if !self.greeted {
            return self.refuse("503 5.5.1 Send EHLO first");
        }
        if self.auth.is_some() {
            return self.refuse("503 5.5.1 Already authenticated");
        }
        if self.transaction.is_some() {
            return self.refuse("503 5.5.1 AUTH is not allowed during a mail transaction");
        }
        if !self.offers_auth() {
            return self.refuse(
                "538 5.7.11 Encryption required for requested authentication mechanism: STARTTLS first",
            );
        }
        let credentials = match mechanism {
            AUTH_PLAIN => {
                let response = match initial {
                    "" => match self.challenge("334 ").await? {
                        Some(r) => r,
                        None => return Ok(()),
                    },
                    r => r.to_string(),
                };
                auth::parse_plain(&response)
            }
            AUTH_LOGIN => {
                let user = match initial {
                    "" => match self.challenge("334 VXNlcm5hbWU6").await? {
                        Some(r) => r,
                        None => return Ok(()),
                    },
                    r => r.to_string(),
                };
                let Some(password) = self.challenge("334 UGFzc3dvcmQ6").await? else {
                    return Ok(());
                };
                auth::decode(&user).zip(auth::decode(&password))
            }
            _ => {
                return self
                    .refuse("504 5.5.4 Unrecognized authentication type: use PLAIN or LOGIN");
            }
        };
        let Some((user, password)) = credentials else {
            return self.refuse("501 5.5.2 Cannot decode the authentication response");
        };
        self.check_credentials(&user, password).await
    }

    /// Sends a `334` challenge and reads the answer; `None` if the client cancelled (`*`).
    async fn challenge(&mut self, prompt: &str) -> Result<Option<String>, Stop> {
        self.conn.queue(prompt);
        let line = match self.conn.read_line(MAX_COMMAND_LINE).await {
            Ok(Line::Complete(line)) => line,
            Ok(Line::TooLong) => {
                self.refuse("500 5.5.2 Line too long")?;
                return Ok(None);
            }
            Err(_) => return Err(Stop::Close),
        };
        let text = String::from_utf8_lossy(&line).trim().to_string();
        if text == "*" {
            self.refuse("501 5.7.0 Authentication cancelled")?;
            return Ok(None);
        }
        Ok(Some(text))
    }

    async fn check_credentials(&mut self, user: &str, password: String) -> Step {
        let now = Instant::now();
        let throttle = &self.service.throttle;
        if throttle.is_blocked(self.peer.ip(), user, now) {
            tracing::warn!(peer = %self.peer, "SMTP AUTH throttled");
            self.conn
                .queue("454 4.7.0 Too many failed authentication attempts; try again later");
            return Err(Stop::Close);
        }
        let account = self.verify(user, password).await;
        match account {
            Ok(Some(account_id)) => {
                throttle.record_success(user);
                self.auth = Some((account_id, user.to_string()));
                self.conn.queue("235 2.7.0 Authentication successful");
                Ok(())
            }
            Ok(None) => {
                throttle.record_failure(self.peer.ip(), user, now);
                sesame_core::metrics::get().smtp_auth_failures.inc();
                self.auth_failures += 1;
                tracing::info!(peer = %self.peer, "SMTP AUTH failed");
                self.conn
                    .queue("535 5.7.8 Authentication credentials invalid");
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    self.conn
                        .queue("421 4.7.0 Too many failed authentication attempts");
                    return Err(Stop::Close);
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "SMTP AUTH: storage failed");
                self.conn
                    .queue("454 4.7.0 Temporary authentication failure");
                Ok(())
            }
        }
    }

    /// The account of `user` if `password` is its SMTP password.
    async fn verify(
        &self,
        user: &str,
        password: String,
    ) -> Result<Option<i64>, sesame_store::StoreError> {
        let sender = match EmailAddress::parse(user) {
            Some(address) => {
                self.service
                    .store
                    .sender_by_address(&address.to_string())
                    .await?
            }
            None => None,
        };
        let known = sender.and_then(|s| s.smtp_password.map(|hash| (s.account_id, hash)));
        let account = tokio::task::spawn_blocking(move || match known {
            Some((account_id, hash)) => {
                credentials::verify_password(&hash, &password).then_some(account_id)
            }
            None => {
                credentials::verify_nothing(&password);
                None
            }
        })
        .await
        .unwrap_or(None);
        Ok(account)
    }

    async fn mail(&mut self, address: &str, size_too_big: bool) -> Step {
        if !self.greeted {
            return self.refuse("503 5.5.1 Send EHLO first");
        }
        if self.transaction.is_some() {
            return self.refuse("503 5.5.1 Nested MAIL command");
        }
        if size_too_big {
            return self.refuse("552 5.3.4 Message size exceeds fixed maximum message size");
        }
        let account_id = match self.role {
            Role::Inbound => 0,
            Role::Submission => match self.mail_owner(address).await {
                Ok(account_id) => account_id,
                Err(text) => return self.refuse(&text),
            },
        };
        self.transaction = Some(Transaction {
            mail_from: address.to_string(),
            account_id,
            recipients: Vec::new(),
        });
        self.conn.queue("250 2.1.0 Ok");
        Ok(())
    }

    /// The account that owns mail from `address`: the authenticated one, which must own the
    /// sender, or (trusted networks, no AUTH) the sender's owner.
    async fn mail_owner(&self, address: &str) -> Result<i64, String> {
        if self.auth.is_none() && !self.trusted {
            return Err("530 5.7.0 Authentication required".into());
        }
        let sender = match EmailAddress::parse(address) {
            Some(parsed) => self
                .service
                .store
                .sender_by_address(&parsed.to_string())
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "SMTP MAIL: storage failed");
                    "451 4.3.0 Temporary failure; try again later".to_string()
                })?,
            None => None,
        };
        match (&self.auth, sender) {
            (Some((account_id, _)), Some(sender)) if sender.account_id == *account_id => {
                Ok(*account_id)
            }
            (Some(_), _) => Err(format!(
                "553 5.7.1 <{}>: Sender address rejected: not a sender address of the authenticated account",
                printable(address)
            )),
            (None, Some(sender)) => Ok(sender.account_id),
            (None, None) => Err(format!(
                "553 5.7.1 <{}>: Sender address rejected: not a sender address of any account",
                printable(address)
            )),
        }
    }

    fn rcpt(&mut self, address: &str) -> Step {
        let (max, role) = match self.role {
            Role::Submission => (MAX_RCPT_SUBMISSION, Role::Submission),
            Role::Inbound => (MAX_RCPT_INBOUND, Role::Inbound),
        };
        let Some(transaction) = self.transaction.as_ref() else {
            return self.refuse("503 5.5.1 Need MAIL command first");
        };
        if transaction.recipients.len() >= max {
            self.conn.queue(&format!(
                "452 4.5.3 Too many recipients: at most {max} per message"
            ));
            return Ok(());
        }
        let accepted = match role {
            Role::Submission => EmailAddress::parse(address).is_some(),
            Role::Inbound => self.service.inbound.accepts(address),
        };
        if !accepted {
            let text = match role {
                Role::Submission => format!(
                    "553 5.1.3 <{}>: Recipient address rejected: not a valid address",
                    printable(address)
                ),
                Role::Inbound => format!(
                    "550 5.1.1 <{}>: Recipient address rejected: this server takes only bounces and complaints for its return paths",
                    printable(address)
                ),
            };
            return self.refuse(&text);
        }
        if let Some(transaction) = self.transaction.as_mut()
            && !transaction
                .recipients
                .iter()
                .any(|r| r.eq_ignore_ascii_case(address))
        {
            transaction.recipients.push(address.to_string());
        }
        self.conn.queue("250 2.1.5 Ok");
        Ok(())
    }

    async fn data(&mut self) -> Step {
        let Some(transaction) = self.transaction.take() else {
            return self.refuse("503 5.5.1 Need MAIL command first");
        };
        if transaction.recipients.is_empty() {
            return self.refuse("554 5.5.1 No valid recipients");
        }
        self.conn
            .send("354 End data with <CR><LF>.<CR><LF>")
            .await
            .map_err(|_| Stop::Close)?;
        let data = match read_data(&mut self.conn).await {
            Ok(data) => data,
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "connection lost in DATA");
                return Err(Stop::Close);
            }
        };
        let data = match data {
            Data::Message(bytes) => bytes,
            Data::TooBig => {
                self.conn
                    .queue("552 5.3.4 Message size exceeds fixed maximum message size");
                return Ok(());
            }
            Data::LongLine => {
                self.conn.queue(&format!(
                    "554 5.0.0 Error: too longer line in input stream: lines are at most {MAX_DATA_LINE} characters"
                ));
                return Ok(());
            }
        };
        let reply = match self.role {
            Role::Submission => self.submit(transaction, data).await,
            Role::Inbound => self.report(transaction, data).await,
        };
        self.conn.queue(&reply);
        Ok(())
    }

    async fn submit(&self, transaction: Transaction, data: Vec<u8>) -> String {
        let n = transaction.recipients.len();
        let raw = RawSubmission {
            account_id: transaction.account_id,
            mail_from: transaction.mail_from,
            recipients: transaction.recipients,
            data,
        };
        let now = sesame_core::time::now_unix();
        match submit::submit_raw(&self.service.store, &self.service.submit, raw, now).await {
            Ok(accepted) => {
                self.service.queue_wakeup.notify_one();
                sesame_core::metrics::get().accepted("smtp", accepted.n_queued as u64);
                tracing::info!(
                    peer = %self.peer,
                    account = self.auth.as_ref().map_or("trusted", |(_, user)| user.as_str()),
                    message_id = %accepted.message_id,
                    recipients = n,
                    "SMTP message queued"
                );
                format!("250 2.0.0 Ok: queued as {}", accepted.message_id)
            }
            Err(e) => {
                // The reason may quote the client's own text (a file name, a header): escaped.
                let reason = e.to_string();
                if e.is_temporary() {
                    tracing::warn!(peer = %self.peer, error = ?reason, "SMTP message deferred");
                } else {
                    tracing::info!(peer = %self.peer, code = e.code(), error = ?reason, "SMTP message refused");
                }
                reply::submit_error(&e)
            }
        }
    }

    async fn report(&self, transaction: Transaction, data: Vec<u8>) -> String {
        let now = sesame_core::time::now_unix();
        let service = &self.service;
        match sesame_engine::inbound::process(
            &service.store,
            &service.inbound,
            &transaction.recipients,
            data,
            now,
        )
        .await
        {
            Ok(Processed::NotAReport) => {
                "550 5.7.1 Not a delivery status notification or abuse report: this address takes only those".into()
            }
            Ok(Processed::Recorded {
                kind,
                matched,
                unmatched,
            }) => {
                tracing::info!(peer = %self.peer, ?kind, matched, unmatched, "inbound report recorded");
                format!("250 2.0.0 Ok: {kind:?} report recorded").to_lowercase()
            }
            Err(e) => {
                tracing::error!(error = %e, "inbound report: storage failed");
                "451 4.3.0 Temporary failure; try again later".into()
            }
        }
    }
}

/// Reads a DATA section through the decoder, one bounded line at a time.
async fn read_data(conn: &mut Conn) -> Result<Data, ReadError> {
    let mut decoder = DataDecoder::new(MAX_SMTP_MESSAGE_BYTES);
    loop {
        match conn.read_line(MAX_DATA_LINE + 2).await? {
            Line::Complete(line) => {
                if decoder.line(&line) {
                    return Ok(decoder.finish());
                }
            }
            Line::TooLong => decoder.overlong_line(),
        }
    }
}
