//! A small SMTP client for outbound delivery: one session to one server, carrying any number of
//! messages, with the reply of every command kept as data.
//!
//! Owns the wire: greeting, EHLO (HELO fallback), opportunistic STARTTLS, MAIL/RCPT/DATA/RSET/
//! QUIT, dot-stuffing and line-ending normalisation. Knows nothing of DNS, queues or outcomes
//! (`classify` judges the replies). Every read and write has a timeout. Never logs message
//! content.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use super::classify::parse_status;
use super::tls::{Transport, tls_config};

/// Longest reply line we accept; RFC 5321 §4.5.3.1.5 allows 512 octets, some servers send more.
const MAX_LINE: u64 = 4096;
/// Most lines in one reply (an EHLO reply lists one extension per line).
const MAX_REPLY_LINES: usize = 128;

/// How long each step of a session may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP connection.
    pub connect: Duration,
    /// Each command's write and its reply, the greeting and the TLS handshake. RFC 5321
    /// §4.5.3.2 asks for at least 5 minutes; the reply to the final "." gets twice this (the
    /// RFC's 10 minutes), since the server may be scanning the message.
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            command: Duration::from_secs(300),
        }
    }
}

/// One SMTP reply: the code, the enhanced status code (RFC 3463) when the server gave one, and
/// the text of all lines joined by a space, without the codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// class.subject.detail, e.g. (5, 1, 1).
    pub enhanced: Option<(u8, u16, u16)>,
    pub text: String,
}

impl Reply {
    /// 2xx (and 3xx for DATA's "354 go ahead", which `send` checks separately).
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: do not try again.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The enhanced status code as text, e.g. "5.1.1".
    pub fn enhanced_status(&self) -> Option<String> {
        self.enhanced
            .map(|(class, subject, detail)| format!("{class}.{subject}.{detail}"))
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(status) = self.enhanced_status() {
            write!(f, " {status}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

/// Why a session could not be opened or could not go on. After any of these (except a
/// negative greeting or EHLO, where the client is never returned) the client is unusable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    #[error("connecting to {address} failed: {reason}")]
    Connect { address: SocketAddr, reason: String },
    /// The source address could not be bound (not an address of this host: EADDRNOTAVAIL).
    #[error("binding the source address {source_ip} failed: {reason}")]
    Bind { source_ip: IpAddr, reason: String },
    /// No source address of a dedicated pool could be used for this destination.
    #[error("no source address: {0}")]
    NoSource(String),
    #[error("timed out waiting for {stage}")]
    Timeout { stage: &'static str },
    #[error("connection failed during {stage}: {reason}")]
    Io { stage: &'static str, reason: String },
    /// The server refused the session (greeting or EHLO/HELO not 2xx) or is closing it (421).
    #[error("server refused the session: {0}")]
    Refused(Reply),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("tls handshake failed: {0}")]
    Tls(String),
}

/// What the server said to one message. `per_recipient` and `data` hold what was received before
/// any session failure, which `broken` then names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendReport {
    /// The reply to MAIL FROM; `None` when the session broke before it.
    pub mail_from: Option<Reply>,
    /// The reply to each RCPT TO, in order; shorter than the recipients when MAIL FROM was
    /// refused or the session broke.
    pub per_recipient: Vec<(String, Reply)>,
    /// The reply to the end of data (or to DATA itself when it was refused); `None` when no
    /// recipient was accepted or the session broke first.
    pub data: Option<Reply>,
    /// Set when the session failed (I/O error, timeout, 421); the client must then be dropped.
    pub broken: Option<SessionError>,
}

impl PartialEq for SessionError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for SessionError {}

/// Extensions from the EHLO reply that the client uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub starttls: bool,
    /// SIZE offered (RFC 1870), with the limit when one was given (0 means no limit).
    pub size: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtp_utf8: bool,
    pub pipelining: bool,
}

impl Capabilities {
    fn from_ehlo(reply_lines: &[String]) -> Self {
        let mut capabilities = Capabilities::default();
        // The first line is the server's greeting name, not an extension.
        for line in reply_lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "STARTTLS" => capabilities.starttls = true,
                "SIZE" => {
                    capabilities.size =
                        Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0));
                }
                "8BITMIME" => capabilities.eight_bit_mime = true,
                "SMTPUTF8" => capabilities.smtp_utf8 = true,
                "PIPELINING" => capabilities.pipelining = true,
                _ => {}
            }
        }
        capabilities
    }
}

/// Whether to try STARTTLS when the server offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    Opportunistic,
    Never,
}

/// An open SMTP session, after EHLO (and STARTTLS when it worked).
pub struct SmtpClient {
    stream: BufReader<Transport>,
    capabilities: Capabilities,
    timeouts: Timeouts,
    is_tls: bool,
    /// Transactions started on this connection; from the second on, RSET comes first.
    n_transactions: usize,
}

impl fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpClient")
            .field("capabilities", &self.capabilities)
            .field("is_tls", &self.is_tls)
            .field("n_transactions", &self.n_transactions)
            .finish_non_exhaustive()
    }
}

impl SmtpClient {
    /// Connects to `address`, reads the greeting, says EHLO and upgrades with STARTTLS when
    /// offered. The TLS server name (SNI) is the address itself; use [`SmtpClient::connect_named`]
    /// to send the MX host name.
    pub async fn connect(
        address: SocketAddr,
        helo_name: &str,
        timeouts: Timeouts,
    ) -> Result<SmtpClient, SessionError> {
        Self::connect_named(address, None, helo_name, timeouts).await
    }

    /// As [`SmtpClient::connect`], with `server_name` (the MX host) as the TLS server name.
    ///
    /// STARTTLS is opportunistic: when the handshake fails, the session is opened again once
    /// without TLS, since a message sent in clear beats a message not sent (RFC 3207 §4.1 leaves
    /// this to the client; MTA-STS and DANE, which forbid it, are not implemented).
    pub async fn connect_named(
        address: SocketAddr,
        server_name: Option<&str>,
        helo_name: &str,
        timeouts: Timeouts,
    ) -> Result<SmtpClient, SessionError> {
        Self::connect_from(address, None, server_name, helo_name, timeouts).await
    }

    /// As [`SmtpClient::connect_named`], from the source address `source_ip` when given (a
    /// dedicated sending IP; it must be of the destination's family), else from whatever
    /// address the system picks. A source that cannot be bound is [`SessionError::Bind`].
    pub async fn connect_from(
        address: SocketAddr,
        source_ip: Option<IpAddr>,
        server_name: Option<&str>,
        helo_name: &str,
        timeouts: Timeouts,
    ) -> Result<SmtpClient, SessionError> {
        match Self::open(
            address,
            source_ip,
            server_name,
            helo_name,
            timeouts,
            TlsMode::Opportunistic,
        )
        .await
        {
            Err(SessionError::Tls(reason)) => {
                tracing::info!(%address, %reason, "starttls failed, retrying without tls");
                Self::open(
                    address,
                    source_ip,
                    server_name,
                    helo_name,
                    timeouts,
                    TlsMode::Never,
                )
                .await
            }
            other => other,
        }
    }

    async fn open(
        address: SocketAddr,
        source_ip: Option<IpAddr>,
        server_name: Option<&str>,
        helo_name: &str,
        timeouts: Timeouts,
        tls_mode: TlsMode,
    ) -> Result<SmtpClient, SessionError> {
        let socket = match source_ip {
            Some(source_ip) => Some(bound_socket(address, source_ip)?),
            None => None,
        };
        let connecting = async {
            match socket {
                Some(socket) => socket.connect(address).await,
                None => TcpStream::connect(address).await,
            }
        };
        let tcp = match tokio::time::timeout(timeouts.connect, connecting).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(err)) => {
                return Err(SessionError::Connect {
                    address,
                    reason: err.to_string(),
                });
            }
            Err(_) => return Err(SessionError::Timeout { stage: "connect" }),
        };
        let mut client = SmtpClient {
            stream: BufReader::new(Transport::Plain(tcp)),
            capabilities: Capabilities::default(),
            timeouts,
            is_tls: false,
            n_transactions: 0,
        };
        let (greeting, _) = client.read_reply("greeting").await?;
        if greeting.code != 220 {
            return Err(SessionError::Refused(greeting));
        }
        client.hello(helo_name).await?;
        if tls_mode == TlsMode::Opportunistic && client.capabilities.starttls {
            client.send_command("STARTTLS", "STARTTLS").await?;
            let (reply, _) = client.read_reply("STARTTLS").await?;
            if reply.code == 220 {
                client = client.upgrade(address, server_name).await?;
                // RFC 3207 §4.2: forget what was learnt before TLS and say EHLO again.
                client.hello(helo_name).await?;
            } else if reply.code == 421 {
                return Err(SessionError::Refused(reply));
            }
            // Any other refusal: carry on in clear on the same session.
        }
        Ok(client)
    }

    /// EHLO, or HELO when the server does not know EHLO.
    async fn hello(&mut self, helo_name: &str) -> Result<(), SessionError> {
        self.send_command(&format!("EHLO {helo_name}"), "EHLO")
            .await?;
        let (reply, lines) = self.read_reply("EHLO").await?;
        if reply.is_positive() {
            self.capabilities = Capabilities::from_ehlo(&lines);
            return Ok(());
        }
        if reply.code == 421 || !reply.is_permanent() {
            return Err(SessionError::Refused(reply));
        }
        self.send_command(&format!("HELO {helo_name}"), "HELO")
            .await?;
        let (reply, _) = self.read_reply("HELO").await?;
        if !reply.is_positive() {
            return Err(SessionError::Refused(reply));
        }
        self.capabilities = Capabilities::default();
        Ok(())
    }

    async fn upgrade(
        self,
        address: SocketAddr,
        server_name: Option<&str>,
    ) -> Result<SmtpClient, SessionError> {
        // Bytes already buffered after "220 go ahead" would be read as if they came over TLS:
        // a man in the middle could inject commands (CVE-2011-0411 style). Refuse.
        if !self.stream.buffer().is_empty() {
            return Err(SessionError::Protocol(
                "server sent data after its STARTTLS reply".to_owned(),
            ));
        }
        let Transport::Plain(tcp) = self.stream.into_inner() else {
            return Err(SessionError::Protocol("STARTTLS inside TLS".to_owned()));
        };
        let name = server_name
            .and_then(|name| ServerName::try_from(name.to_owned()).ok())
            .unwrap_or_else(|| ServerName::IpAddress(address.ip().into()));
        let connector = TlsConnector::from(tls_config());
        let tls =
            match tokio::time::timeout(self.timeouts.command, connector.connect(name, tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => return Err(SessionError::Tls(err.to_string())),
                Err(_) => return Err(SessionError::Tls("handshake timed out".to_owned())),
            };
        Ok(SmtpClient {
            stream: BufReader::new(Transport::Tls(Box::new(tls))),
            capabilities: Capabilities::default(),
            timeouts: self.timeouts,
            is_tls: true,
            n_transactions: self.n_transactions,
        })
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.is_tls
    }

    /// What the server offered in its (last) EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Sends one message to `recipients` and collects every reply. Can be called again for the
    /// next message on the same connection, unless `broken` is set in the report.
    ///
    /// The body is normalised before sending: every bare CR or LF becomes CRLF, lines starting
    /// with "." are dot-stuffed, and the data ends with CRLF "." CRLF. So no byte sequence in a
    /// message can end the data early (SMTP smuggling).
    pub async fn send(
        &mut self,
        mail_from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> SendReport {
        let mut report = SendReport::default();
        if let Err(error) = self
            .transaction(mail_from, recipients, message, &mut report)
            .await
        {
            report.broken = Some(error);
        }
        self.n_transactions += 1;
        report
    }

    async fn transaction(
        &mut self,
        mail_from: &str,
        recipients: &[String],
        message: &[u8],
        report: &mut SendReport,
    ) -> Result<(), SessionError> {
        let data = encode_data(message);
        let command = self.mail_command(mail_from, recipients, message, &data);
        if self.capabilities.pipelining {
            return self
                .pipelined_transaction(&command, recipients, &data, report)
                .await;
        }
        if self.n_transactions > 0 {
            self.send_command("RSET", "RSET").await?;
            let (reply, _) = self.read_reply("RSET").await?;
            if !reply.is_positive() {
                return Err(SessionError::Refused(reply));
            }
        }
        let mail_reply = self.command(&command, "MAIL FROM").await?;
        let mail_accepted = mail_reply.is_positive();
        report.mail_from = Some(mail_reply);
        if !mail_accepted {
            return Ok(());
        }
        let mut any_accepted = false;
        for recipient in recipients {
            let reply = self
                .command(&format!("RCPT TO:<{recipient}>"), "RCPT TO")
                .await?;
            any_accepted |= reply.is_positive();
            report.per_recipient.push((recipient.clone(), reply));
        }
        if !any_accepted {
            return Ok(());
        }
        let reply = self.command("DATA", "DATA").await?;
        if reply.code != 354 {
            report.data = Some(reply);
            return Ok(());
        }
        self.finish_data(&data, report).await
    }

    /// `MAIL FROM` with the parameters the server takes (SIZE, BODY=8BITMIME, SMTPUTF8).
    fn mail_command(
        &self,
        mail_from: &str,
        recipients: &[String],
        message: &[u8],
        data: &[u8],
    ) -> String {
        let mut command = format!("MAIL FROM:<{mail_from}>");
        if self.capabilities.size.is_some() {
            command.push_str(&format!(" SIZE={}", data.len()));
        }
        if self.capabilities.eight_bit_mime && message.iter().any(|b| !b.is_ascii()) {
            command.push_str(" BODY=8BITMIME");
        }
        let needs_utf8 =
            !mail_from.is_ascii() || recipients.iter().any(|recipient| !recipient.is_ascii());
        if needs_utf8 && self.capabilities.smtp_utf8 {
            command.push_str(" SMTPUTF8");
        }
        command
    }

    /// One transaction with PIPELINING (RFC 2920): RSET (after the first), MAIL, every RCPT and
    /// DATA go out in one write, and their replies are read in order; only the message data
    /// waits for DATA's 354. Two round trips a message instead of four or more.
    async fn pipelined_transaction(
        &mut self,
        mail_command: &str,
        recipients: &[String],
        data: &[u8],
        report: &mut SendReport,
    ) -> Result<(), SessionError> {
        let mut group = String::new();
        let reset = self.n_transactions > 0;
        if reset {
            group.push_str("RSET\r\n");
        }
        group.push_str(mail_command);
        group.push_str("\r\n");
        for recipient in recipients {
            group.push_str(&format!("RCPT TO:<{recipient}>\r\n"));
        }
        group.push_str("DATA\r\n");
        self.write_timed(group.as_bytes(), self.timeouts.command, "MAIL FROM")
            .await?;
        // Every reply of the group is read, whatever the earlier ones said, so the session
        // stays in step; a 421 ends it.
        if reset {
            let reply = self.command_reply("RSET").await?;
            if !reply.is_positive() {
                return Err(SessionError::Refused(reply));
            }
        }
        let mail_reply = self.command_reply("MAIL FROM").await?;
        let mail_accepted = mail_reply.is_positive();
        report.mail_from = Some(mail_reply);
        let mut any_accepted = false;
        for recipient in recipients {
            let reply = self.command_reply("RCPT TO").await?;
            if mail_accepted {
                any_accepted |= reply.is_positive();
                report.per_recipient.push((recipient.clone(), reply));
            }
        }
        let reply = self.command_reply("DATA").await?;
        if !any_accepted {
            // A server should refuse DATA without a recipient (RFC 2920 §3.1); one that said
            // 354 gets an empty message ended at once, and its reply is not an outcome.
            if reply.code == 354 {
                self.write_timed(b".\r\n", self.timeouts.command, "message data")
                    .await?;
                self.command_reply("end of data").await?;
            }
            return Ok(());
        }
        if reply.code != 354 {
            report.data = Some(reply);
            return Ok(());
        }
        self.finish_data(data, report).await
    }

    /// Reads the reply to a command (alone or in a pipelined group); a 421 means the server is
    /// closing the session.
    async fn command_reply(&mut self, stage: &'static str) -> Result<Reply, SessionError> {
        let (reply, _) = self.read_reply(stage).await?;
        if reply.code == 421 {
            return Err(SessionError::Refused(reply));
        }
        Ok(reply)
    }

    /// Sends the message data after DATA's 354 and records the final reply.
    async fn finish_data(
        &mut self,
        data: &[u8],
        report: &mut SendReport,
    ) -> Result<(), SessionError> {
        self.write_timed(data, self.timeouts.command, "message data")
            .await?;
        let (reply, _) = self
            .read_reply_within("end of data", self.timeouts.command.saturating_mul(2))
            .await?;
        let closing = reply.code == 421;
        report.data = Some(reply.clone());
        if closing {
            return Err(SessionError::Refused(reply));
        }
        Ok(())
    }

    /// Says QUIT and closes the connection; errors do not matter any more.
    pub async fn quit(mut self) {
        if self.send_command("QUIT", "QUIT").await.is_ok() {
            let _ = self.read_reply("QUIT").await;
        }
        let _ = tokio::time::timeout(self.timeouts.command, self.stream.shutdown()).await;
    }

    /// Sends a command and reads its reply. A 421 means the server is closing the session.
    async fn command(&mut self, line: &str, stage: &'static str) -> Result<Reply, SessionError> {
        self.send_command(line, stage).await?;
        self.command_reply(stage).await
    }

    async fn send_command(&mut self, line: &str, stage: &'static str) -> Result<(), SessionError> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.write_timed(&bytes, self.timeouts.command, stage).await
    }

    async fn write_timed(
        &mut self,
        bytes: &[u8],
        timeout: Duration,
        stage: &'static str,
    ) -> Result<(), SessionError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(SessionError::Io {
                stage,
                reason: err.to_string(),
            }),
            Err(_) => Err(SessionError::Timeout { stage }),
        }
    }

    async fn read_reply(
        &mut self,
        stage: &'static str,
    ) -> Result<(Reply, Vec<String>), SessionError> {
        self.read_reply_within(stage, self.timeouts.command).await
    }

    /// Reads one (possibly multi-line) reply; also returns each line's text for EHLO.
    async fn read_reply_within(
        &mut self,
        stage: &'static str,
        timeout: Duration,
    ) -> Result<(Reply, Vec<String>), SessionError> {
        match tokio::time::timeout(timeout, self.read_reply_lines(stage)).await {
            Ok(result) => result,
            Err(_) => Err(SessionError::Timeout { stage }),
        }
    }

    async fn read_reply_lines(
        &mut self,
        stage: &'static str,
    ) -> Result<(Reply, Vec<String>), SessionError> {
        let mut lines = Vec::new();
        let mut code = None;
        loop {
            let mut raw = Vec::new();
            let n_read = (&mut self.stream)
                .take(MAX_LINE)
                .read_until(b'\n', &mut raw)
                .await
                .map_err(|err| SessionError::Io {
                    stage,
                    reason: err.to_string(),
                })?;
            if n_read == 0 {
                return Err(SessionError::Io {
                    stage,
                    reason: "connection closed by the server".to_owned(),
                });
            }
            if raw.last() != Some(&b'\n') {
                return Err(SessionError::Protocol(format!(
                    "reply line too long in {stage}"
                )));
            }
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n']);
            let (line_code, is_last, text) = parse_reply_line(line)
                .ok_or_else(|| SessionError::Protocol(format!("malformed reply in {stage}")))?;
            if *code.get_or_insert(line_code) != line_code {
                return Err(SessionError::Protocol(format!(
                    "reply codes differ within one reply in {stage}"
                )));
            }
            lines.push(text.to_owned());
            if is_last {
                break;
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(SessionError::Protocol(format!("reply too long in {stage}")));
            }
        }
        let code = code.expect("the loop reads at least one line");
        Ok((build_reply(code, &lines), lines))
    }
}

/// "250-text" → (250, false, "text"); "250 text" or "250" → (250, true, "text").
/// A TCP socket of `destination`'s family bound to `source_ip` (any port), ready to connect.
/// Binding comes first so that an address this host does not have fails here, as
/// [`SessionError::Bind`], before any packet leaves.
fn bound_socket(destination: SocketAddr, source_ip: IpAddr) -> Result<TcpSocket, SessionError> {
    let bind_error = |reason: String| SessionError::Bind { source_ip, reason };
    if source_ip.is_ipv4() != destination.is_ipv4() {
        return Err(bind_error(format!(
            "not of the family of the destination {destination}"
        )));
    }
    let socket = if destination.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| bind_error(e.to_string()))?;
    socket
        .bind(SocketAddr::new(source_ip, 0))
        .map_err(|e| bind_error(e.to_string()))?;
    Ok(socket)
}

fn parse_reply_line(line: &str) -> Option<(u16, bool, &str)> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = digits.parse().ok()?;
    if !(200..600).contains(&code) {
        return None;
    }
    match line.as_bytes().get(3) {
        None => Some((code, true, "")),
        Some(b' ') => Some((code, true, line.get(4..)?)),
        Some(b'-') => Some((code, false, line.get(4..)?)),
        Some(_) => None,
    }
}

/// Joins the lines' text, taking the enhanced status code from the first line when its class
/// matches the reply code and stripping it from every line (Gmail repeats it on each).
fn build_reply(code: u16, lines: &[String]) -> Reply {
    let leading_status = |text: &str| {
        let token = text.split_ascii_whitespace().next()?;
        let status = parse_status(token)?;
        Some((status, token.len()))
    };
    let enhanced = lines
        .first()
        .and_then(|line| leading_status(line))
        .map(|(status, _)| status)
        .filter(|(class, _, _)| u16::from(*class) == code / 100);
    let text = lines
        .iter()
        .map(|line| match leading_status(line) {
            Some((status, len)) if Some(status) == enhanced => line[len..].trim_start(),
            _ => line.trim(),
        })
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Reply {
        code,
        enhanced,
        text,
    }
}

/// The DATA payload for `message`: every CRLF, bare CR and bare LF becomes CRLF, a line starting
/// with "." gets another "." (RFC 5321 §4.5.2), the message ends with CRLF, then "." CRLF.
///
/// Normalising bare CR and LF is what defeats SMTP smuggling: a receiver that treats "\n.\n" as
/// the end of data would otherwise see a second message hidden in ours.
pub fn encode_data(message: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(message.len() + message.len() / 50 + 5);
    let mut at_line_start = true;
    let mut bytes = message.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        match byte {
            b'\r' => {
                if bytes.peek() == Some(&b'\n') {
                    bytes.next();
                }
                data.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            b'\n' => {
                data.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            _ => {
                if at_line_start && byte == b'.' {
                    data.push(b'.');
                }
                data.push(byte);
                at_line_start = false;
            }
        }
    }
    if !at_line_start {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_data(message: &[u8], expected: &[u8]) {
        assert_eq!(
            String::from_utf8_lossy(&encode_data(message)),
            String::from_utf8_lossy(expected)
        );
    }

    #[test]
    fn data_is_normalised_and_dot_stuffed() {
        check_data(b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n");
        check_data(b"a\nb", b"a\r\nb\r\n.\r\n");
        check_data(
            b".start\r\n..two\r\nmid.dle\r\n",
            b"..start\r\n...two\r\nmid.dle\r\n.\r\n",
        );
        check_data(b"", b".\r\n");
        check_data(b"x\r\n.\r\n", b"x\r\n..\r\n.\r\n");
    }

    #[test]
    fn smtp_smuggling_bare_line_endings_cannot_end_data() {
        // "\n.\n", "\r.\r" and "\n.\r\n" would each end data at a lax receiver.
        check_data(
            b"hello\n.\nMAIL FROM:<evil@example.test>\r\n",
            b"hello\r\n..\r\nMAIL FROM:<evil@example.test>\r\n.\r\n",
        );
        check_data(b"a\r.\rb", b"a\r\n..\r\nb\r\n.\r\n");
        check_data(b"a\n.\r\nb", b"a\r\n..\r\nb\r\n.\r\n");
        check_data(b"a\r\r\n", b"a\r\n\r\n.\r\n");
    }

    #[test]
    fn replies_are_parsed() {
        let reply = build_reply(
            550,
            &[
                "5.1.1 The email account that you tried to reach does not exist.".to_owned(),
                "5.1.1 Learn more".to_owned(),
            ],
        );
        assert_eq!(reply.enhanced, Some((5, 1, 1)));
        assert_eq!(
            reply.text,
            "The email account that you tried to reach does not exist. Learn more"
        );
        assert_eq!(
            reply.to_string(),
            "550 5.1.1 The email account that you tried to reach does not exist. Learn more"
        );
        let plain = build_reply(250, &["ok".to_owned()]);
        assert_eq!(plain.enhanced, None);
        // A status whose class disagrees with the code is not taken as the enhanced code.
        assert_eq!(build_reply(250, &["5.1.1 odd".to_owned()]).enhanced, None);
        assert_eq!(
            parse_reply_line("250-SIZE 100"),
            Some((250, false, "SIZE 100"))
        );
        assert_eq!(parse_reply_line("250"), Some((250, true, "")));
        assert_eq!(parse_reply_line("25x ok"), None);
        assert_eq!(parse_reply_line("250_ok"), None);
    }

    #[test]
    fn ehlo_capabilities_are_read() {
        let lines: Vec<String> = [
            "mx.example.test hello",
            "SIZE 1000",
            "8bitmime",
            "STARTTLS",
            "PIPELINING",
        ]
        .iter()
        .map(|line| (*line).to_owned())
        .collect();
        let capabilities = Capabilities::from_ehlo(&lines);
        assert_eq!(
            capabilities,
            Capabilities {
                starttls: true,
                size: Some(1000),
                eight_bit_mime: true,
                smtp_utf8: false,
                pipelining: true,
            }
        );
    }
}
