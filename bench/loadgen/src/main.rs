//! loadgen: the SendEmail load client of bench/sesame_load.py (`--client rust`).
//!
//! ```text
//! loadgen --port P --messages N --concurrency C --rcpt-domains R --senders FILE [--threads T]
//! ```
//!
//! FILE is a JSON list of `{"sender", "template", "secret_id", "secret_key"}`. Message `i` (0..N)
//! uses `senders[i % len]` and the byte-for-byte payload of `_message_params` in sesame_load.py.
//! C keep-alive HTTP/1.1 connections to 127.0.0.1:P; connection k sends messages k, k+C, k+2C, ...
//! one at a time (request, whole response, next), TC3-HMAC-SHA256 signed like `Signer.headers`
//! (derived key cached per secret and day); an I/O error or a 60 s timeout closes the connection
//! and the call is retried on a new one, 3 attempts in all. Connection k runs on thread k % T,
//! each thread a single-threaded tokio runtime.
//!
//! Start: all C connections are opened first, then `ready` is written to stderr and the client
//! waits for one line on stdin (or its end: `</dev/null` starts at once), so the caller can time
//! the start. client_cpu (getrusage, all threads) counts from that line to the end.
//!
//! Output: one JSON object on stdout with the keys `run_load` returns: ok, errors (code -> count;
//! Response.Error.Code, or the Python exception name of an I/O error after 3 attempts), first,
//! last (CLOCK_MONOTONIC seconds, Python's time.monotonic()), wall, acked_per_s, p50, p99, max
//! (ms), client_cpu (s), p50_first_last_tenth, procs (= threads), missing_workers (0).

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write as _};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(60);
const ATTEMPTS: usize = 3;

struct Args {
    port: u16,
    messages: usize,
    concurrency: usize,
    rcpt_domains: usize,
    senders: String,
    threads: usize,
    dump: Option<usize>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "loadgen: {msg}\nusage: loadgen --port P --messages N --concurrency C --rcpt-domains R \
         --senders FILE [--threads T]"
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
            // prints the payloads of messages 0..K, one a line, and exits (to diff with Python)
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
    lat: Vec<(f64, f64)>, // (start, latency s)
    errors: BTreeMap<String, u64>,
    first_start: Option<f64>,
    last_end: Option<f64>,
}

impl Results {
    fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_string()).or_insert(0) += 1;
    }

    fn merge(&mut self, o: Results) {
        self.lat.extend(o.lat);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
        self.first_start = opt_min(self.first_start, o.first_start);
        self.last_end = match (self.last_end, o.last_end) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

fn opt_min(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
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

/// One connection: its messages one after the other.
async fn conn_loop(job: Arc<Job>, items: Vec<usize>, mut conn: Option<Conn>) -> Results {
    let host = format!("127.0.0.1:{}", job.port);
    let mut signers: Vec<Signer> = job.secrets.iter().map(|s| Signer::new(s, &host)).collect();
    let mut res = Results {
        lat: Vec::with_capacity(items.len()),
        ..Results::default()
    };
    let (mut payload, mut req, mut body) = (String::new(), Vec::new(), Vec::new());
    for i in items {
        let s = &job.senders[i % job.senders.len()];
        message_params(&mut payload, i, s, job.rcpt_domains);
        let mut done = None;
        for attempt in 0..ATTEMPTS {
            let outcome = async {
                if conn.is_none() {
                    conn = Some(connect(job.port).await?);
                }
                signers[job.secret_of[i % job.senders.len()]].request(
                    "SendEmail",
                    payload.as_bytes(),
                    &mut req,
                );
                let t0 = monotonic();
                res.first_start.get_or_insert(t0);
                let c = conn.as_mut().expect("connected above");
                match tokio::time::timeout(TIMEOUT, c.call(&req, &mut body)).await {
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
                    conn = None;
                    if attempt == ATTEMPTS - 1 {
                        res.error(error_name(&e));
                    }
                }
            }
        }
        let Some((t0, t1)) = done else { continue };
        res.last_end = Some(t1);
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) => match v.get("Response").and_then(|r| r.get("Error")) {
                Some(err) => res.error(err.get("Code").and_then(|c| c.as_str()).unwrap_or("?")),
                None => res.lat.push((t0, t1 - t0)),
            },
            Err(_) => res.error("BadResponse"),
        }
    }
    res
}

/// One thread: a single-threaded runtime running its connections; waits at `start` first.
fn thread_main(
    job: Arc<Job>,
    conns: Vec<(Vec<usize>, Option<std::net::TcpStream>)>,
    start: Arc<Barrier>,
) -> Results {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let mut ready = Vec::with_capacity(conns.len());
        for (items, std_stream) in conns {
            let conn = std_stream
                .and_then(|s| s.set_nonblocking(true).ok().map(|()| s))
                .and_then(|s| TcpStream::from_std(s).ok())
                .map(|stream| Conn {
                    stream,
                    buf: Vec::with_capacity(8192),
                });
            ready.push((items, conn));
        }
        start.wait();
        let handles: Vec<_> = ready
            .into_iter()
            .map(|(items, conn)| tokio::spawn(conn_loop(job.clone(), items, conn)))
            .collect();
        let mut all = Results::default();
        for h in handles {
            all.merge(h.await.expect("connection task"));
        }
        all
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

fn main() {
    let args = parse_args();
    let senders = load_senders(&args.senders);
    if let Some(k) = args.dump {
        let mut p = String::new();
        let mut out = io::stdout().lock();
        for i in 0..k {
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
    let mut per_thread: Vec<Vec<(Vec<usize>, Option<std::net::TcpStream>)>> =
        (0..t).map(|_| Vec::new()).collect();
    for k in 0..c {
        let items: Vec<usize> = (k..args.messages).step_by(c).collect();
        let stream = std::net::TcpStream::connect(("127.0.0.1", args.port)).ok();
        if let Some(s) = &stream {
            let _ = s.set_nodelay(true);
        }
        per_thread[k % t].push((items, stream));
    }
    let start = Arc::new(Barrier::new(t + 1));
    let threads: Vec<_> = per_thread
        .into_iter()
        .map(|conns| {
            let (job, start) = (job.clone(), start.clone());
            std::thread::spawn(move || thread_main(job, conns, start))
        })
        .collect();

    eprintln!("ready");
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
    let cpu0 = cpu_seconds();
    let t_start = monotonic();
    start.wait();

    let mut all = Results::default();
    for th in threads {
        all.merge(th.join().expect("load thread"));
    }
    let cpu = cpu_seconds() - cpu0;

    // statistics exactly as run_load computes them
    let mut by_start = all.lat;
    by_start.sort_by(|a, b| a.0.total_cmp(&b.0));
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
    let out = format!(
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
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
    let _ = stdout.flush();
}
