//! loadgen: the SendEmail load client of bench/sesame_load.py (`--client rust`).
//!
//! ```text
//! loadgen --port P --messages N --concurrency C --rcpt-domains R --senders FILE [--threads T]
//!         [--first F] [--rate R]
//! ```
//!
//! FILE is a JSON list of `{"sender", "template", "secret_id", "secret_key"}`. Message `i`
//! (F..F+N, F = `--first`, default 0) uses `senders[i % len]` and the byte-for-byte payload of
//! `_message_params` in sesame_load.py (so a second load with `--first` = the first load's N has
//! distinct recipients). C keep-alive HTTP/1.1 connections to 127.0.0.1:P, TC3-HMAC-SHA256 signed
//! like `Signer.headers` (derived key cached per secret and day); an I/O error or a 60 s timeout
//! closes the connection and the call is retried on a new one, 3 attempts in all. Connection k
//! runs on thread k % T, each thread a single-threaded tokio runtime.
//!
//! Closed loop (default): connection k sends messages F+k, F+k+C, ... one at a time (request,
//! whole response, next); latency = response end - request start.
//!
//! Open loop (`--rate R`, calls/s in all): message F+j is *scheduled* at t0 + j/R (t0 = the start
//! line). Thread k takes j = k, k+T, ... and its C/T connections form a pool: at its scheduled
//! time (a tokio timer, missed deadlines fire at once, like MissedTickBehavior::Burst) a call
//! goes out on a free connection, or waits for one. Latency = response end - scheduled time, so
//! waiting for a connection, a late timer and a stalled server all count (no coordinated
//! omission). The timer is set 1 ms early against tokio's 1 ms wheel (TIMER_LEAD); a call that
//! went out before its scheduled time counts from its send.
//!
//! Start: all C connections are opened first, then `ready` is written to stderr and the client
//! waits for one line on stdin (or its end: `</dev/null` starts at once), so the caller can time
//! the start. client_cpu (getrusage, all threads) counts from that line to the end.
//!
//! Output: one JSON object on stdout with the keys `run_load` returns: ok, errors (code -> count;
//! Response.Error.Code, or the Python exception name of an I/O error after 3 attempts), first,
//! last (CLOCK_MONOTONIC seconds, Python's time.monotonic()), wall, acked_per_s, p50, p99, max
//! (ms), client_cpu (s), p50_first_last_tenth, procs (= threads), missing_workers (0). Open loop
//! adds rate (asked), offered_per_s (calls sent / time between the first and the last first
//! attempt, i.e. (sent - 1) / span), sent, wait_p50, wait_p99, wait_max (ms from the scheduled
//! time to the first attempt's send; negative when early); the latency keys and p50_first_last_tenth then count from the
//! scheduled time, and the tenths are by scheduled time.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write as _};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(60);
/// Open loop: how much earlier than its scheduled time a call's timer is set. tokio's timer wheel
/// has 1 ms ticks and rounds a deadline up (the driver's epoll timeout too), so a timer set at the
/// scheduled time fires about 1-1.5 ms late, all of it added to every latency; set 1 ms early the
/// median send is within ~0.5 ms of the schedule (wait_p50 in the output). A call sent early
/// counts its latency from its send, so the lead never shortens a latency.
const TIMER_LEAD: Duration = Duration::from_micros(1000);
const ATTEMPTS: usize = 3;

struct Args {
    port: u16,
    messages: usize,
    concurrency: usize,
    rcpt_domains: usize,
    senders: String,
    threads: usize,
    first: usize,
    rate: Option<f64>,
    dump: Option<usize>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "loadgen: {msg}\nusage: loadgen --port P --messages N --concurrency C --rcpt-domains R \
         --senders FILE [--threads T] [--first F] [--rate R]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        port: 0,
        messages: 0,
        concurrency: 0,
        rcpt_domains: 0,
        senders: String::new(),
        threads: 1,
        first: 0,
        rate: None,
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        let value = match inline.or_else(|| it.next()) {
            Some(v) => v,
            None => usage(&format!("{name} needs a value")),
        };
        let num = |v: &str| -> usize {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{name}: not a number: {v}")))
        };
        match name.as_str() {
            "--port" => a.port = num(&value) as u16,
            "--messages" => a.messages = num(&value),
            "--concurrency" => a.concurrency = num(&value),
            "--rcpt-domains" => a.rcpt_domains = num(&value),
            "--senders" => a.senders = value,
            "--threads" => a.threads = num(&value),
            "--first" => a.first = num(&value),
            "--rate" => match value.parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 => a.rate = Some(r),
                _ => usage(&format!("--rate: not a positive number: {value}")),
            },
            // prints the payloads of messages F..F+K, one a line, and exits (to diff with Python)
            "--dump-payloads" => a.dump = Some(num(&value)),
            _ => usage(&format!("unknown option {name}")),
        }
    }
    if a.senders.is_empty() || a.rcpt_domains == 0 {
        usage("--senders and --rcpt-domains are required");
    }
    if a.dump.is_none() && (a.port == 0 || a.concurrency == 0) {
        usage("--port and --concurrency are required");
    }
    a.threads = a.threads.clamp(1, a.concurrency.max(1));
    a
}

// ------------------------------------------------------------------------------------ senders

#[derive(Clone)]
struct Sender {
    sender: String,
    template: i64,
    secret_id: String,
    secret_key: String,
}

fn load_senders(path: &str) -> Vec<Sender> {
    let text = std::fs::read(path).unwrap_or_else(|e| usage(&format!("{path}: {e}")));
    let v: serde_json::Value =
        serde_json::from_slice(&text).unwrap_or_else(|e| usage(&format!("{path}: {e}")));
    let list = v
        .as_array()
        .unwrap_or_else(|| usage("senders: not a JSON list"));
    let s = |o: &serde_json::Value, k: &str| -> String {
        o[k].as_str()
            .unwrap_or_else(|| usage(&format!("senders: {k} missing or not a string")))
            .to_string()
    };
    let out: Vec<Sender> = list
        .iter()
        .map(|o| Sender {
            sender: s(o, "sender"),
            template: o["template"]
                .as_i64()
                .unwrap_or_else(|| usage("senders: template missing or not an integer")),
            secret_id: s(o, "secret_id"),
            secret_key: s(o, "secret_key"),
        })
        .collect();
    if out.is_empty() {
        usage("senders: empty list");
    }
    out
}

// ------------------------------------------------------------------------------------ payload

/// A string as Python's json.dumps writes it (ensure_ascii: \uXXXX for non-ASCII).
fn py_json_str(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// `_message_params(i, sender, rcpt_domains)` of sesame_load.py, byte for byte.
fn message_params(out: &mut String, i: usize, s: &Sender, rcpt_domains: usize) {
    use std::fmt::Write;
    out.clear();
    out.push_str("{\"FromEmailAddress\": ");
    py_json_str(out, &s.sender);
    let _ = write!(
        out,
        ", \"Destination\": [\"u{i}@r{}.rcpt.bench.test\"], \"Subject\": \"Your order {{{{code}}}}\", \
         \"Template\": {{\"TemplateID\": {}, \"TemplateData\": ",
        i % rcpt_domains,
        s.template
    );
    let data = format!("{{\"name\": \"User {i}\", \"code\": \"{}\"}}", 100_000 + i);
    py_json_str(out, &data);
    out.push_str("}}");
}

// ------------------------------------------------------------------------------------ TC3

fn hmac256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    m.update(msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(&m.finalize().into_bytes());
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// UTC "YYYY-MM-DD" of a Unix timestamp (civil-from-days, proleptic Gregorian).
fn utc_day(ts: u64) -> String {
    let z = (ts / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `Signer` of sesame_load.py: one per secret, the derived key cached for its day.
struct Signer {
    secret_id: String,
    secret_key: String,
    host: String,
    day: String,
    key: [u8; 32],
}

impl Signer {
    fn new(s: &Sender, host: &str) -> Self {
        Signer {
            secret_id: s.secret_id.clone(),
            secret_key: s.secret_key.clone(),
            host: host.to_string(),
            day: String::new(),
            key: [0; 32],
        }
    }

    /// The request (head and payload) into `out`.
    fn request(&mut self, action: &str, payload: &[u8], out: &mut Vec<u8>) {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let day = utc_day(ts);
        if day != self.day {
            let k = hmac256(format!("TC3{}", self.secret_key).as_bytes(), day.as_bytes());
            let k = hmac256(&k, b"ses");
            self.key = hmac256(&k, b"tc3_request");
            self.day = day;
        }
        let canonical = format!(
            "POST\n/\n\ncontent-type:application/json\nhost:{}\n\ncontent-type;host\n{}",
            self.host,
            sha256_hex(payload)
        );
        let sts = format!(
            "TC3-HMAC-SHA256\n{ts}\n{}/ses/tc3_request\n{}",
            self.day,
            sha256_hex(canonical.as_bytes())
        );
        let sig = hex::encode(hmac256(&self.key, sts.as_bytes()));
        out.clear();
        let _ = write!(
            out,
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             X-TC-Action: {action}\r\nX-TC-Version: 2020-10-02\r\nX-TC-Region: ap-guangzhou\r\n\
             X-TC-Timestamp: {ts}\r\nAuthorization: TC3-HMAC-SHA256 Credential={}/{}/ses/\
             tc3_request, SignedHeaders=content-type;host, Signature={sig}\r\n\
             Content-Length: {}\r\n\r\n",
            self.host,
            self.secret_id,
            self.day,
            payload.len()
        );
        out.extend_from_slice(payload);
    }
}

// ------------------------------------------------------------------------------------ clock

/// CLOCK_MONOTONIC in seconds: the clock of Python's time.monotonic().
fn monotonic() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// user + system CPU seconds of the process (all threads).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

// ------------------------------------------------------------------------------------ HTTP

/// A keep-alive connection and its read buffer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed mid-response",
    )
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

impl Conn {
    async fn fill(&mut self) -> io::Result<()> {
        self.buf.reserve(8192);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(eof());
        }
        Ok(())
    }

    /// Until `needle` is in the buffer at or after `from`; its position.
    async fn until(&mut self, needle: &[u8], from: usize) -> io::Result<usize> {
        let mut scanned = from;
        loop {
            if let Some(p) = find(&self.buf, needle, scanned) {
                return Ok(p);
            }
            scanned = self.buf.len().saturating_sub(needle.len() - 1).max(from);
            self.fill().await?;
        }
    }

    async fn at_least(&mut self, n: usize) -> io::Result<()> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(())
    }

    /// One request, then its whole response (Content-Length or chunked); the response body into
    /// `body`. Bytes after the response stay buffered.
    async fn call(&mut self, req: &[u8], body: &mut Vec<u8>) -> io::Result<()> {
        self.stream.write_all(req).await?;
        let head_end = self.until(b"\r\n\r\n", 0).await? + 4;
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("non-UTF-8 head"))?;
        let mut lines = head.split("\r\n");
        let status_ok = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .is_some_and(|s| s.parse::<u16>().is_ok());
        if !status_ok {
            return Err(bad("bad status line"));
        }
        let (mut length, mut chunked) = (None, false);
        for line in lines {
            let (k, v) = line.split_once(':').unwrap_or((line, ""));
            let k = k.trim();
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| bad("bad Content-Length"))?,
                );
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
        body.clear();
        if let Some(n) = length {
            self.at_least(head_end + n).await?;
            body.extend_from_slice(&self.buf[head_end..head_end + n]);
            self.buf.drain(..head_end + n);
            return Ok(());
        }
        if !chunked {
            return Err(bad("response without length"));
        }
        let mut pos = head_end;
        loop {
            let eol = self.until(b"\r\n", pos).await?;
            let line = std::str::from_utf8(&self.buf[pos..eol]).map_err(|_| bad("bad chunk"))?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
            pos = eol + 2;
            if size == 0 {
                // like Python: one more line (the empty line that ends a body without trailers)
                pos = self.until(b"\r\n", pos).await? + 2;
                self.buf.drain(..pos);
                return Ok(());
            }
            self.at_least(pos + size + 2).await?;
            body.extend_from_slice(&self.buf[pos..pos + size]);
            pos += size + 2;
        }
    }
}

/// The name Python's client counts an I/O failure under (its exception class).
fn error_name(e: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "ConnectionRefusedError",
        ConnectionReset => "ConnectionResetError",
        ConnectionAborted => "ConnectionAbortedError",
        BrokenPipe => "BrokenPipeError",
        UnexpectedEof => "IncompleteReadError",
        TimedOut => "TimeoutError",
        InvalidData => "BadResponse",
        _ => "OSError",
    }
}

// ------------------------------------------------------------------------------------ load

#[derive(Default)]
struct Results {
    lat: Vec<(f64, f64)>, // (start, latency s); open loop: (scheduled, latency from it)
    errors: BTreeMap<String, u64>,
    first_start: Option<f64>,
    last_end: Option<f64>,
    /// open loop: scheduled time -> first attempt's send (s), one per call
    waits: Vec<f64>,
    /// calls sent (first attempts) and the last first attempt
    sent: usize,
    last_send: Option<f64>,
}

impl Results {
    fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_string()).or_insert(0) += 1;
    }

    fn merge(&mut self, o: Results) {
        self.lat.extend(o.lat);
        self.waits.extend(o.waits);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
        self.first_start = opt_min(self.first_start, o.first_start);
        self.last_end = opt_max(self.last_end, o.last_end);
        self.last_send = opt_max(self.last_send, o.last_send);
        self.sent += o.sent;
    }
}

fn opt_min(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn opt_max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

struct Job {
    port: u16,
    rcpt_domains: usize,
    senders: Arc<Vec<Sender>>,
    /// sender index -> index of its secret in `secrets`
    secret_of: Arc<Vec<usize>>,
    secrets: Arc<Vec<Sender>>,
}

async fn connect(port: u16) -> io::Result<Conn> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    Ok(Conn {
        stream,
        buf: Vec::with_capacity(8192),
    })
}

/// One connection with its signers, buffers and results: sends one call at a time.
struct Worker {
    conn: Option<Conn>,
    signers: Vec<Signer>,
    payload: String,
    req: Vec<u8>,
    body: Vec<u8>,
    res: Results,
}

impl Worker {
    fn new(job: &Job, conn: Option<Conn>, calls: usize) -> Self {
        let host = format!("127.0.0.1:{}", job.port);
        Worker {
            conn,
            signers: job.secrets.iter().map(|s| Signer::new(s, &host)).collect(),
            payload: String::new(),
            req: Vec::new(),
            body: Vec::new(),
            res: Results {
                lat: Vec::with_capacity(calls),
                ..Results::default()
            },
        }
    }

    /// Message `i` (3 attempts), its outcome into `res`. Latency from `sched` when given (open
    /// loop; from the first attempt's send instead when that was earlier, see TIMER_LEAD), else
    /// from the start of the attempt that got the response.
    async fn send(&mut self, job: &Job, i: usize, sched: Option<f64>) {
        let s = &job.senders[i % job.senders.len()];
        message_params(&mut self.payload, i, s, job.rcpt_domains);
        let mut done = None;
        let mut sent_at = None;
        for attempt in 0..ATTEMPTS {
            let outcome = async {
                if self.conn.is_none() {
                    self.conn = Some(connect(job.port).await?);
                }
                self.signers[job.secret_of[i % job.senders.len()]].request(
                    "SendEmail",
                    self.payload.as_bytes(),
                    &mut self.req,
                );
                let t0 = monotonic();
                self.res.first_start.get_or_insert(t0);
                if attempt == 0 {
                    sent_at = Some(t0);
                    self.res.sent += 1;
                    self.res.last_send = Some(t0);
                    if let Some(sched) = sched {
                        self.res.waits.push(t0 - sched);
                    }
                }
                let c = self.conn.as_mut().expect("connected above");
                match tokio::time::timeout(TIMEOUT, c.call(&self.req, &mut self.body)).await {
                    Ok(Ok(())) => Ok((t0, monotonic())),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no response in 60 s",
                    )),
                }
            }
            .await;
            match outcome {
                Ok(t) => {
                    done = Some(t);
                    break;
                }
                Err(e) => {
                    self.conn = None;
                    if attempt == ATTEMPTS - 1 {
                        self.res.error(error_name(&e));
                    }
                }
            }
        }
        let Some((t0, t1)) = done else { return };
        let t0 = match (sched, sent_at) {
            (Some(sched), Some(sent)) => sched.min(sent),
            (Some(sched), None) => sched,
            (None, _) => t0,
        };
        self.res.last_end = Some(t1);
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(v) => match v.get("Response").and_then(|r| r.get("Error")) {
                Some(err) => self
                    .res
                    .error(err.get("Code").and_then(|c| c.as_str()).unwrap_or("?")),
                None => self.res.lat.push((t0, t1 - t0)),
            },
            Err(_) => self.res.error("BadResponse"),
        }
    }
}

/// Closed loop, one connection: its messages one after the other.
async fn conn_loop(job: Arc<Job>, items: Vec<usize>, conn: Option<Conn>) -> Results {
    let mut w = Worker::new(&job, conn, items.len());
    for i in items {
        w.send(&job, i, None).await;
    }
    w.res
}

/// Open loop, one thread: message `first + j` (j in `items`) at t0 + j / rate on the first free
/// connection of the pool. A free worker is a message in `pool`; each call is a task that puts its
/// worker back when the response (or the last attempt's failure) is in.
async fn open_loop(
    job: Arc<Job>,
    items: Vec<(usize, usize)>,
    conns: Vec<Option<Conn>>,
    t0: f64,
    rate: f64,
) -> Results {
    let workers = conns.len();
    let per_worker = items.len() / workers.max(1) + 1;
    let (pool_tx, mut pool) = tokio::sync::mpsc::unbounded_channel::<Worker>();
    for c in conns {
        let _ = pool_tx.send(Worker::new(&job, c, per_worker));
    }
    // CLOCK_MONOTONIC (the scheduled times, as Python reads them) -> tokio's Instant
    let (base_instant, base_mono) = (tokio::time::Instant::now(), monotonic());
    for (j, i) in items {
        let sched = t0 + j as f64 / rate;
        let at = (base_instant + Duration::from_secs_f64((sched - base_mono).max(0.0)))
            .checked_sub(TIMER_LEAD)
            .unwrap_or(base_instant);
        if tokio::time::Instant::now() < at {
            tokio::time::sleep_until(at).await;
        }
        let mut w = pool.recv().await.expect("the pool outlives its workers");
        let (job, back) = (job.clone(), pool_tx.clone());
        tokio::spawn(async move {
            w.send(&job, i, Some(sched)).await;
            let _ = back.send(w);
        });
    }
    let mut all = Results::default();
    for _ in 0..workers {
        all.merge(pool.recv().await.expect("every worker comes back").res);
    }
    all
}

/// What one thread runs: per connection its messages (closed loop), or the thread's (j, i)
/// schedule slots over a pool of its connections (open loop, `rate` calls/s in all).
enum Plan {
    Closed(Vec<Vec<usize>>),
    Open {
        items: Vec<(usize, usize)>,
        rate: f64,
    },
}

/// One thread: a single-threaded runtime running its connections; waits at `start` first.
/// `t0` (CLOCK_MONOTONIC, set by main before the barrier) is the open loop's time zero.
fn thread_main(
    job: Arc<Job>,
    conns: Vec<Option<std::net::TcpStream>>,
    plan: Plan,
    start: Arc<Barrier>,
    t0: Arc<std::sync::Mutex<f64>>,
) -> Results {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let ready: Vec<Option<Conn>> = conns
            .into_iter()
            .map(|std_stream| {
                std_stream
                    .and_then(|s| s.set_nonblocking(true).ok().map(|()| s))
                    .and_then(|s| TcpStream::from_std(s).ok())
                    .map(|stream| Conn {
                        stream,
                        buf: Vec::with_capacity(8192),
                    })
            })
            .collect();
        start.wait();
        match plan {
            Plan::Closed(items) => {
                let handles: Vec<_> = items
                    .into_iter()
                    .zip(ready)
                    .map(|(items, conn)| tokio::spawn(conn_loop(job.clone(), items, conn)))
                    .collect();
                let mut all = Results::default();
                for h in handles {
                    all.merge(h.await.expect("connection task"));
                }
                all
            }
            Plan::Open { items, rate } => {
                let t0 = *t0.lock().expect("t0");
                open_loop(job, items, ready, t0, rate).await
            }
        }
    })
}

// ------------------------------------------------------------------------------------ output

/// A float as Python's json reads it back (NaN for "no value").
fn num(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{x:?}")
    }
}

/// `LOADGEN_LATENCIES=FILE`: one line per call, "start latency", the start as Unix seconds
/// (UTC, like the server's log) and the latency in ms, to line up slow calls with the server's
/// log.
fn write_latencies(path: &str, by_start: &[(f64, f64)]) {
    use std::fmt::Write;
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let to_unix = unix_now - monotonic();
    let mut text = String::with_capacity(by_start.len() * 24);
    for (start, latency) in by_start {
        let _ = writeln!(text, "{:.6} {:.3}", start + to_unix, latency * 1000.0);
    }
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("loadgen: writing {path}: {e}");
    }
}

fn main() {
    let args = parse_args();
    let senders = load_senders(&args.senders);
    if let Some(k) = args.dump {
        let mut p = String::new();
        let mut out = io::stdout().lock();
        for i in args.first..args.first + k {
            message_params(&mut p, i, &senders[i % senders.len()], args.rcpt_domains);
            let _ = writeln!(out, "{p}");
        }
        return;
    }
    let mut secrets: Vec<Sender> = Vec::new();
    let secret_of: Vec<usize> = senders
        .iter()
        .map(
            |s| match secrets.iter().position(|x| x.secret_id == s.secret_id) {
                Some(p) => p,
                None => {
                    secrets.push(s.clone());
                    secrets.len() - 1
                }
            },
        )
        .collect();
    let job = Arc::new(Job {
        port: args.port,
        rcpt_domains: args.rcpt_domains,
        senders: Arc::new(senders),
        secret_of: Arc::new(secret_of),
        secrets: Arc::new(secrets),
    });

    // all connections first (a failed one is retried lazily and counts as an attempt)
    let (c, t) = (args.concurrency, args.threads);
    let first_msg = args.first;
    let mut conns: Vec<Vec<Option<std::net::TcpStream>>> = (0..t).map(|_| Vec::new()).collect();
    let mut plans: Vec<Plan> = (0..t)
        .map(|k| match args.rate {
            // thread k: schedule slots j = k, k+T, ... (message first + j)
            Some(rate) => Plan::Open {
                items: (k..args.messages)
                    .step_by(t)
                    .map(|j| (j, first_msg + j))
                    .collect(),
                rate,
            },
            None => Plan::Closed(Vec::new()),
        })
        .collect();
    for k in 0..c {
        let stream = std::net::TcpStream::connect(("127.0.0.1", args.port)).ok();
        if let Some(s) = &stream {
            let _ = s.set_nodelay(true);
        }
        conns[k % t].push(stream);
        if let Plan::Closed(items) = &mut plans[k % t] {
            items.push(
                (k..args.messages)
                    .step_by(c)
                    .map(|j| first_msg + j)
                    .collect(),
            );
        }
    }
    let start = Arc::new(Barrier::new(t + 1));
    let t0 = Arc::new(std::sync::Mutex::new(0.0f64));
    let threads: Vec<_> = conns
        .into_iter()
        .zip(plans)
        .map(|(conns, plan)| {
            let (job, start, t0) = (job.clone(), start.clone(), t0.clone());
            std::thread::spawn(move || thread_main(job, conns, plan, start, t0))
        })
        .collect();

    eprintln!("ready");
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
    let cpu0 = cpu_seconds();
    let t_start = monotonic();
    *t0.lock().expect("t0") = t_start;
    start.wait();

    let mut all = Results::default();
    for th in threads {
        all.merge(th.join().expect("load thread"));
    }
    let cpu = cpu_seconds() - cpu0;

    // statistics exactly as run_load computes them
    let mut by_start = all.lat;
    by_start.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Ok(path) = std::env::var("LOADGEN_LATENCIES") {
        write_latencies(&path, &by_start);
    }
    let mut lat: Vec<f64> = by_start.iter().map(|x| x.1).collect();
    lat.sort_by(f64::total_cmp);
    let tenth = (by_start.len() / 10).max(1);
    let median = |xs: &[(f64, f64)]| -> f64 {
        let mut v: Vec<f64> = xs.iter().map(|x| x.1).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).map_or(f64::NAN, |m| m * 1000.0)
    };
    let first_tenth = median(&by_start[..tenth.min(by_start.len())]);
    let last_tenth = median(&by_start[by_start.len().saturating_sub(tenth)..]);
    let first = all.first_start.unwrap_or(t_start);
    let last = all.last_end.unwrap_or_else(monotonic);
    let wall = (last - first).max(1e-9);
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let idx = ((p / 100.0 * lat.len() as f64).ceil() as i64 - 1).clamp(0, lat.len() as i64 - 1);
        lat[idx as usize] * 1000.0
    };
    let errors = serde_json::to_string(&all.errors).expect("errors map");
    let mut out = format!(
        "{{\"ok\": {}, \"errors\": {errors}, \"first\": {}, \"last\": {}, \"wall\": {}, \
         \"acked_per_s\": {}, \"p50\": {}, \"p99\": {}, \"max\": {}, \"client_cpu\": {}, \
         \"p50_first_last_tenth\": [{}, {}], \"procs\": {t}, \"missing_workers\": 0}}",
        lat.len(),
        num(first),
        num(last),
        num(wall),
        num(lat.len() as f64 / wall),
        num(pct(50.0)),
        num(pct(99.0)),
        num(lat.last().map_or(0.0, |m| m * 1000.0)),
        num(cpu),
        num(first_tenth),
        num(last_tenth),
    );
    if let Some(rate) = args.rate {
        let mut waits = all.waits;
        waits.sort_by(f64::total_cmp);
        let wp = |p: f64| -> f64 {
            if waits.is_empty() {
                return f64::NAN;
            }
            let idx = ((p / 100.0 * waits.len() as f64).ceil() as i64 - 1)
                .clamp(0, waits.len() as i64 - 1);
            waits[idx as usize] * 1000.0
        };
        let span = all.last_send.unwrap_or(first) - first;
        let offered = if all.sent > 1 && span > 0.0 {
            (all.sent - 1) as f64 / span
        } else {
            f64::NAN
        };
        out.pop(); // the closing brace
        out.push_str(&format!(
            ", \"rate\": {}, \"offered_per_s\": {}, \"sent\": {}, \"wait_p50\": {}, \
             \"wait_p99\": {}, \"wait_max\": {}}}",
            num(rate),
            num(offered),
            all.sent,
            num(wp(50.0)),
            num(wp(99.0)),
            num(waits.last().map_or(f64::NAN, |m| m * 1000.0)),
        ));
    }
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
    let _ = stdout.flush();
}
