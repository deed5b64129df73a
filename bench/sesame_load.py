#!/usr/bin/env python3
"""Sesame vs Postfix throughput/latency/memory benchmark (driven by bench/run).

Everything talks to 127.0.0.1 only and every wait is bounded. Phases:

  1. sesame-e2e   Sesame (release binary, temp SQLite store, RSA-2048 DKIM domains) relays to a
                  local sink (Postfix's smtp-sink). N SendEmail calls over C keep-alive
                  connections (raw HTTP + TC3 signing) from the Rust client bench/loadgen
                  (--client rust; the default when it builds) or P Python processes (--client
                  python). Reports acked calls/s, p50/p99 latency, end-to-end msg/s (first call
                  sent -> last message at the sink), peak RSS (VmHWM) and CPU. With --rate R (Rust
                  client only), once those N have reached the sink, an open-loop load on the same
                  server: --rate-messages calls scheduled at R/s (latency from each call's
                  scheduled time), reported as offered/acked calls/s and p50/p99/max.
  2. sesame-queue A fresh Sesame whose relay is a closed port: Q messages are accepted and sit in
                  the queue (deferred, retry in 1h); reports RSS with Q messages queued.
  3. postfix      A private Postfix instance (own config and queue directory) relaying to the same
                  kind of sink, fed by `smtp-source -s C -l 2048 -m N`; end-to-end msg/s and the
                  peak of the summed RSS/PSS of all its processes.

Reuses the e2e suite's DNS zone (dnslib) and TC3 signer from tests/e2e/helpers.py.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import math
import multiprocessing as mp
import os
import pwd
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from helpers import Zone, free_port, publish  # noqa: E402  (dnslib zone + record publishing)

PER_DOMAIN = 450          # messages per sender domain: stays under the level-1 cap (500/day)
DOMAINS_PER_ACCOUNT = 10  # OperationDenied.ExceedDomainLimit above this
SPF_INCLUDE = "_spf.sesame.bench"
MX_HOST = "mx.sesame.bench"
DKIM_SELECTOR = "sesame"


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def find_tool(name: str) -> str:
    for d in ("/usr/sbin", "/usr/lib/postfix", "/usr/lib/postfix/sbin", "/usr/bin"):
        p = Path(d) / name
        if p.exists():
            return str(p)
    p = shutil.which(name)
    if not p:
        raise SystemExit(f"{name} not found (apt-get install postfix)")
    return p


# --------------------------------------------------------------------------- /proc


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM etc. in kB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.startswith("Vm") or k.startswith("Rss"):
                    out[k] = int(v.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def proc_pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def proc_cpu(pid: int) -> float:
    """utime+stime of `pid` in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class TreeSampler:
    """Samples the summed RSS and PSS (kB) and CPU of a process tree every `interval`; keeps
    the peaks. CPU of exited children is lost, so Postfix's CPU is a lower bound."""

    def __init__(self, root_fn, interval: float = 0.2):
        self.root_fn = root_fn
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_procs = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._t.start()
        return self

    def sample(self):
        roots = [r for r in self.root_fn() if r]
        if not roots:
            return
        pids = sorted({p for r in roots for p in descendants(r)})
        rss = sum(proc_status(p).get("VmRSS", 0) for p in pids)
        pss = sum(proc_pss(p) for p in pids)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_procs = max(self.peak_procs, len(pids))

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        self.sample()


def load_note() -> str:
    la = os.getloadavg()
    busy = []
    me = os.getpid()
    ours = set(descendants(me))
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in ours:
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            state = s.rsplit(")", 1)[1].split()[0]
            name = s[s.index("(") + 1:s.rindex(")")]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if state == "R":
            busy.append(name)
    return f"loadavg {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; other running: {', '.join(sorted(set(busy))) or 'none'}"


# --------------------------------------------------------------------------- sink


class Sink:
    """Postfix's smtp-sink on 127.0.0.1:<free port>, run with -c (running counters on stdout,
    one `sess=.. quit=.. mesg=N` record per update, CR-separated) and -D (a dump file, so one
    message can be checked and sizes measured). A reader thread timestamps every counter change
    with time.monotonic() (system-wide, comparable across processes). The dump goes under
    $SESAME_BENCH_SINK_DIR when set (bench/run points it at /dev/shm: the sink then costs the
    machine little CPU), else under `workdir`."""

    def __init__(self, workdir: Path, name: str):
        dumpdir = Path(os.environ.get("SESAME_BENCH_SINK_DIR") or workdir) / name
        dumpdir.mkdir(parents=True, exist_ok=True)
        self.dump = dumpdir / "dump"
        self.count = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.lock = threading.Lock()
        cmd = [find_tool("smtp-sink"), "-c", "-m", "1000", "-h", "sink.bench.test", "-D", str(self.dump)]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
            dumpdir.chmod(0o777)  # nobody appends the dump there
        for _ in range(10):
            self.port = free_port()
            self.proc = subprocess.Popen(cmd + [f"127.0.0.1:{self.port}", "1024"], stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            if _wait_port(self.port, 5, self.proc):
                break
            self.proc.kill()
            self.proc.wait()
        else:
            raise SystemExit("smtp-sink did not start")
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        pat = re.compile(rb"mesg=(\d+)")
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            buf += chunk
            found = pat.findall(buf)
            cut = max(buf.rfind(b"\r"), buf.rfind(b"\n"))
            buf = buf[cut + 1:] if cut >= 0 else buf
            if found:
                n = int(found[-1])
                with self.lock:
                    if n > self.count:
                        if self.first_at is None:
                            self.first_at = now
                        self.count = n
                        self.last_at = now

    def wait_count(self, n: int, stall_timeout: float, hard_timeout: float) -> bool:
        """Until `n` messages arrived; gives up when nothing arrives for `stall_timeout` s."""
        deadline = time.monotonic() + hard_timeout
        last_n, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                c = self.count
            if c >= n:
                return True
            if c != last_n:
                last_n, last_change = c, time.monotonic()
            elif time.monotonic() - last_change > stall_timeout:
                return False
            time.sleep(0.02)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def first_message(self) -> bytes:
        """The first dumped transaction (smtp-sink's dump: envelope lines, then the message)."""
        try:
            data = self.dump.read_bytes()[:200_000]
        except FileNotFoundError:
            return b""
        return data


def _wait_port(port: int, timeout: float, proc=None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# --------------------------------------------------------------------------- TC3 over raw HTTP


def _hmac256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Signer:
    """TC3-HMAC-SHA256 for POST JSON (same algorithm as tests/e2e/helpers.tc3_signature), with
    the derived key cached per day."""

    def __init__(self, secret_id: str, secret_key: str, host: str):
        self.secret_id, self.secret_key, self.host = secret_id, secret_key, host
        self._day, self._key = None, None

    def headers(self, action: str, payload: bytes) -> str:
        ts = int(time.time())
        day = datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")
        if day != self._day:
            k = _hmac256(("TC3" + self.secret_key).encode(), day)
            k = _hmac256(k, "ses")
            self._key, self._day = _hmac256(k, "tc3_request"), day
        canonical = (f"POST\n/\n\ncontent-type:application/json\nhost:{self.host}\n\n"
                     f"content-type;host\n{hashlib.sha256(payload).hexdigest()}")
        sts = (f"TC3-HMAC-SHA256\n{ts}\n{day}/ses/tc3_request\n"
               f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        sig = hmac.new(self._key, sts.encode(), hashlib.sha256).hexdigest()
        return (f"POST / HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"X-TC-Action: {action}\r\nX-TC-Version: 2020-10-02\r\nX-TC-Region: ap-guangzhou\r\n"
                f"X-TC-Timestamp: {ts}\r\nAuthorization: TC3-HMAC-SHA256 Credential={self.secret_id}/{day}/ses/"
                f"tc3_request, SignedHeaders=content-type;host, Signature={sig}\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    chunked = False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    if length is not None:
        return status, await reader.readexactly(length)
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, body
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    raise RuntimeError("response without length")


def api_call(port: int, signer: Signer, action: str, params: dict, timeout: float = 60) -> dict:
    """One synchronous call (setup); returns Response, raises on an error."""
    payload = json.dumps(params).encode()
    req = signer.headers(action, payload).encode() + payload

    async def go():
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(req)
        status, body = await asyncio.wait_for(_read_response(r), timeout)
        w.close()
        return status, body

    status, body = asyncio.run(go())
    resp = json.loads(body)["Response"]
    if "Error" in resp:
        raise RuntimeError(f"{action}: {resp['Error']}")
    return resp


# --------------------------------------------------------------------------- load generator

def _message_params(i: int, sender: dict, rcpt_domains: int) -> bytes:
    return json.dumps({
        "FromEmailAddress": sender["sender"],
        "Destination": [f"u{i}@r{i % rcpt_domains}.rcpt.bench.test"],
        "Subject": "Your order {{code}}",
        "Template": {"TemplateID": sender["template"],
                     "TemplateData": json.dumps({"name": f"User {i}", "code": str(100000 + i)})},
    }).encode()


def _worker(wid, nprocs, conns, n, senders, rcpt_domains, port, start_evt, out_q):
    """One client process: `conns` keep-alive connections on asyncio, messages wid, wid+nprocs..."""
    host = f"127.0.0.1:{port}"
    signers = {s["secret_id"]: Signer(s["secret_id"], s["secret_key"], host) for s in senders}
    todo = list(range(wid, n, nprocs))
    lat: list[float] = []
    errors: dict[str, int] = {}
    times = {"first_start": None, "last_end": None}

    async def conn_loop(items):
        r = w = None
        for i in items:
            s = senders[i % len(senders)]
            payload = _message_params(i, s, rcpt_domains)
            for attempt in range(3):
                try:
                    if w is None:
                        r, w = await asyncio.open_connection("127.0.0.1", port)
                    req = signers[s["secret_id"]].headers("SendEmail", payload).encode() + payload
                    t0 = time.monotonic()
                    if times["first_start"] is None:
                        times["first_start"] = t0
                    w.write(req)
                    status, body = await asyncio.wait_for(_read_response(r), 60)
                    t1 = time.monotonic()
                    break
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
                    if w is not None:
                        w.close()
                    r = w = None
                    if attempt == 2:
                        errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                        status = None
            if status is None:
                continue
            times["last_end"] = t1
            resp = json.loads(body).get("Response", {})
            if "Error" in resp:
                c = resp["Error"].get("Code", "?")
                errors[c] = errors.get(c, 0) + 1
            else:
                lat.append((t0, t1 - t0))
        if w is not None:
            w.close()

    async def main():
        await asyncio.gather(*(conn_loop(todo[k::conns]) for k in range(conns)))

    start_evt.wait()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    asyncio.run(main())
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    out_q.put({"lat": lat, "errors": errors, "first_start": times["first_start"],
               "last_end": times["last_end"], "cpu": cpu})


def run_load(port: int, senders: list[dict], n: int, concurrency: int, procs: int, rcpt_domains: int,
             loadgen: str | None = None, workdir: Path | None = None, rate: float | None = None,
             first: int = 0) -> dict:
    """N SendEmail calls over `concurrency` keep-alive connections. With `loadgen` (the binary of
    bench/loadgen, see build_loadgen) the Rust client runs them on `procs` threads (its senders file
    goes into `workdir`); without it, `procs` forked Python processes (_worker). Only loadgen
    knows `rate` (open loop: call j scheduled at start + j/rate) and `first` (messages first ..
    first+n: a second load on the same server keeps the recipients distinct)."""
    procs = max(1, min(procs, concurrency))
    if loadgen:
        return _run_loadgen(loadgen, port, senders, n, concurrency, procs, rcpt_domains, workdir, rate, first)
    if rate or first:
        raise ValueError("rate/first need the Rust load client (bench/loadgen)")
    ctx = mp.get_context("fork")
    start_evt = ctx.Event()
    out_q = ctx.Queue()
    workers = []
    for wid in range(procs):
        conns = concurrency // procs + (1 if wid < concurrency % procs else 0)
        p = ctx.Process(target=_worker, args=(wid, procs, conns, n, senders, rcpt_domains, port, start_evt, out_q),
                        daemon=True)
        p.start()
        workers.append(p)
    time.sleep(0.3)
    t_start = time.monotonic()
    start_evt.set()
    results = []
    deadline = time.monotonic() + max(120, n / 20)
    while len(results) < procs and time.monotonic() < deadline:
        try:
            results.append(out_q.get(timeout=1))
        except Exception:
            if all(not p.is_alive() for p in workers) and out_q.empty():
                break
    for p in workers:
        p.join(5)
        if p.is_alive():
            p.kill()
    return _load_stats(results, procs, t_start)


def _load_stats(results: list[dict], procs: int, t_start: float) -> dict:
    """run_load's figures from the workers' results (lat [(start, s)], errors, first_start,
    last_end, cpu); bench/loadgen computes the same ones itself."""
    by_start = sorted((x for r in results for x in r["lat"]), key=lambda x: x[0])
    lat = sorted(x[1] for x in by_start)
    tenth = max(1, len(by_start) // 10)

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] * 1000 if xs else float("nan")

    drift = (median(x[1] for x in by_start[:tenth]), median(x[1] for x in by_start[-tenth:]))
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    starts = [r["first_start"] for r in results if r["first_start"]]
    ends = [r["last_end"] for r in results if r["last_end"]]
    first = min(starts) if starts else t_start
    last = max(ends) if ends else time.monotonic()
    wall = max(last - first, 1e-9)

    def pct(p):
        return lat[min(len(lat) - 1, max(0, math.ceil(p / 100 * len(lat)) - 1))] * 1000 if lat else float("nan")

    return {"ok": len(lat), "errors": errors, "first": first, "last": last, "wall": wall,
            "acked_per_s": len(lat) / wall, "p50": pct(50), "p99": pct(99), "max": lat[-1] * 1000 if lat else 0,
            "client_cpu": sum(r["cpu"] for r in results), "p50_first_last_tenth": drift, "procs": procs, "missing_workers": procs - len(results)}


LOADGEN_DIR = REPO / "bench" / "loadgen"
LOADGEN_TARGET = Path(os.environ.get("LOADGEN_TARGET_DIR", "/tmp/sesame-loadgen-target"))


def build_loadgen(required: bool) -> str | None:
    """`cargo build --release` of bench/loadgen (target dir LOADGEN_TARGET, kept between runs, so
    only the first build compiles tokio); its binary. Without cargo or when the build fails: the
    binary a previous build left, else None (SystemExit when `required`)."""
    binary = LOADGEN_TARGET / "release" / "loadgen"
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    why = None
    if Path(cargo).exists():
        log(f"building the Rust load client (bench/loadgen, target dir {LOADGEN_TARGET}) ...")
        try:
            r = subprocess.run([cargo, "build", "--release", "-q", "--manifest-path", str(LOADGEN_DIR / "Cargo.toml"),
                                "--target-dir", str(LOADGEN_TARGET)], stdin=subprocess.DEVNULL, timeout=900)
            why = None if r.returncode == 0 else f"cargo build exited {r.returncode}"
        except subprocess.TimeoutExpired:
            why = "cargo build timed out"
    else:
        why = "no cargo"
    if why and binary.exists():
        log(f"{why}: using the loadgen binary already at {binary}")
    elif why:
        if required:
            raise SystemExit(f"--client rust: {why} and no {binary}")
        log(f"{why}: falling back to the Python load client")
        return None
    return str(binary)


def _run_loadgen(binary: str, port: int, senders: list[dict], n: int, concurrency: int, threads: int,
                 rcpt_domains: int, workdir: Path | None, rate: float | None = None, first: int = 0) -> dict:
    """bench/loadgen: it connects, says `ready` on stderr, starts at our `go` line on stdin and
    prints run_load's dict as one JSON object (with `rate`, the open loop's keys too: rate,
    offered_per_s, sent, wait_p50/p99/max)."""
    workdir = Path(workdir) if workdir else Path("/tmp")
    workdir.mkdir(parents=True, exist_ok=True)
    sfile = workdir / f"loadgen-senders-{os.getpid()}-{port}.json"
    sfile.write_text(json.dumps(senders))
    cmd = [binary, "--port", str(port), "--messages", str(n), "--concurrency", str(concurrency),
           "--rcpt-domains", str(rcpt_domains), "--senders", str(sfile), "--threads", str(threads)]
    if first:
        cmd += ["--first", str(first)]
    if rate:
        cmd += ["--rate", repr(float(rate))]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = b""
    t_start = time.monotonic()
    try:
        deadline = time.monotonic() + 30
        while b"ready\n" not in err and time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stderr], [], [], 0.5)[0]:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                err += chunk
        if b"ready\n" not in err:
            log(f"loadgen did not get ready: {err.decode(errors='replace')[-1000:]}")
            return _load_stats([], threads, t_start)
        err = err.replace(b"ready\n", b"", 1)
        t_start = time.monotonic()
        out, more = proc.communicate(b"go\n", timeout=max(120, n / 20) if not rate else 120 + n / rate)
        err += more
    except subprocess.TimeoutExpired:
        log("loadgen timed out")
        return _load_stats([], threads, t_start)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if err.strip():
            log(f"loadgen: {err.decode(errors='replace').strip()[-2000:]}")
    if proc.returncode != 0:
        log(f"loadgen exited {proc.returncode}")
        return _load_stats([], threads, t_start)
    res = json.loads(out)  # NaN (no call acked) reads back as float("nan")
    res["p50_first_last_tenth"] = tuple(res["p50_first_last_tenth"])
    return res


def client_note(args) -> str:
    if getattr(args, "loadgen", None):
        return f"Rust load client bench/loadgen ({args.client_threads} thread(s))"
    return f"Python load client ({args.client_procs} processes)"


def run_client_load(args, port: int, senders: list[dict], n: int, workdir: Path, rate: float | None = None,
                    first: int = 0) -> dict:
    """run_load with the client chosen by --client (`rate`, `first`: Rust client only)."""
    if getattr(args, "loadgen", None):
        return run_load(port, senders, n, args.concurrency, args.client_threads, args.rcpt_domains,
                        loadgen=args.loadgen, workdir=workdir, rate=rate, first=first)
    return run_load(port, senders, n, args.concurrency, args.client_procs, args.rcpt_domains)


# --------------------------------------------------------------------------- Sesame


def toml(config: dict) -> str:
    out = []
    for section, values in config.items():
        out.append(f"[{section}]")
        out += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        out.append("")
    return "\n".join(out)


class Sesame:
    def __init__(self, binary: str, workdir: Path, zone: Zone, relay_port: int, retry: list[str]):
        self.binary = str(Path(binary).resolve())
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        cfg = {
            "storage": {"url": f"sqlite://{workdir}/sesame.db", "key_file": str(workdir / "sesame.key")},
            "api": {"listen": f"127.0.0.1:{self.api_port}", "public_url": f"http://127.0.0.1:{self.api_port}",
                    "rate_limit": 0},
            "smtp": {"listen": f"127.0.0.1:{free_port()}", "tls_listen": f"127.0.0.1:{free_port()}"},
            "inbound": {"listen": f"127.0.0.1:{free_port()}"},
            "dns": {"nameservers": [f"127.0.0.1:{zone.port}"]},
            "delivery": {"relay": f"127.0.0.1:{relay_port}", "helo_name": "out.sesame.bench",
                         "retry_schedule": retry, "max_queue_lifetime": "5d"},
            "sending": {"spf_include": SPF_INCLUDE, "dkim_selector": DKIM_SELECTOR, "mx_host": MX_HOST,
                        "return_path_domain": "bounces.sesame.bench",
                        # recipients/s per account (newer builds; default 20): off for the benchmark.
                        # Dropped again in start() when this build does not know the key.
                        "mail_rate": 0},
        }
        # SESAME_BENCH_SQLITE_SYNC=full measures [storage] sqlite_synchronous = "full" (every
        # commit fsync'd); unset, the server's default ("normal").
        sync = os.environ.get("SESAME_BENCH_SQLITE_SYNC")
        if sync:
            cfg["storage"]["sqlite_synchronous"] = sync
        # SESAME_BENCH_DATABASE_URL=postgres://... (a server and a database to connect to):
        # the store is a fresh PostgreSQL database there, dropped at stop(), instead of SQLite.
        self.pg_admin = os.environ.get("SESAME_BENCH_DATABASE_URL")
        self.pg_name = None
        if self.pg_admin:
            self.pg_name = f"sesame_bench_{os.getpid()}_{self.api_port}"
            self.psql(f"CREATE DATABASE {self.pg_name}", admin=True)
            u = urllib.parse.urlsplit(self.pg_admin)
            cfg["storage"]["url"] = urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + self.pg_name, u.query, ""))
        self.cfg = cfg
        self.config = workdir / "sesame.toml"
        self.config.write_text(toml(cfg))
        self.log_path = workdir / "sesame.log"
        self.zone = zone
        self.proc = None

    def start(self):
        try:
            return self._start()
        except SystemExit as e:
            if "mail_rate" not in str(e):
                raise
            log("this sesame build has no [sending] mail_rate key: starting without it")
            del self.cfg["sending"]["mail_rate"]
            self.config.write_text(toml(self.cfg))
            return self._start()

    def _start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "serve", "--config", str(self.config)], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log, cwd=self.dir)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "sesame ready" in self.log_path.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                raise SystemExit(f"sesame exited {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        raise SystemExit("sesame not ready within 30 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.pg_name:
            self.psql(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)", admin=True)
            self.pg_name = None

    def psql(self, sql: str, admin: bool = False) -> str:
        """Runs `sql` on the PostgreSQL store (or, `admin`, on SESAME_BENCH_DATABASE_URL's database)."""
        url = self.pg_admin if admin else self.cfg["storage"]["url"]
        r = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "|", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise SystemExit(f"psql {sql!r}: {r.stderr}")
        return r.stdout

    def delivery_states(self) -> dict:
        """DeliverStatus -> count in the server's store."""
        if self.pg_name:
            rows = self.psql("SELECT deliver_status, COUNT(*) FROM deliveries GROUP BY 1").split()
            return {int(a): int(b) for a, b in (r.split("|") for r in rows)}
        return _delivery_states(self.dir / "sesame.db")

    def store_mb(self) -> float:
        if self.pg_name:
            return int(self.psql("SELECT pg_database_size(current_database())")) / 2**20
        return sum(p.stat().st_size for p in self.dir.glob("sesame.db*")) / 2**20

    def cli(self, *args) -> str:
        r = subprocess.run([self.binary, *args, "--config", str(self.config)], capture_output=True, text=True,
                           timeout=60, cwd=self.dir, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise SystemExit(f"sesame {' '.join(args)}: {r.stdout}{r.stderr}")
        return r.stdout

    def setup_senders(self, n_messages: int, template_bytes: int, tag: str) -> list[dict]:
        """Enough verified RSA-2048 domains that none takes more than PER_DOMAIN messages
        (level-1 reputation cap: 500/day), 10 per account; one sender and one approved template
        of ~template_bytes per domain/account."""
        domains = max(1, math.ceil(n_messages / PER_DOMAIN))
        accounts = math.ceil(domains / DOMAINS_PER_ACCOUNT)
        host = f"127.0.0.1:{self.api_port}"
        html = _template_html(template_bytes)  # body ~ smtp-source -l size
        senders = []
        for a in range(accounts):
            acct = json.loads(self.cli("account", "create", "--name", f"bench-{tag}-{a}"))
            self.cli("account", "update", "--app-id", str(acct["AppId"]), "--daily-quota", "100000000")
            signer = Signer(acct["SecretId"], acct["SecretKey"], host)
            tid = api_call(self.api_port, signer, "CreateEmailTemplate", {
                "TemplateName": f"bench-{a}", "TemplateContent": {"Html": _b64(html)}})["TemplateID"]
            st = api_call(self.api_port, signer, "GetEmailTemplate", {"TemplateID": tid})
            if st.get("TemplateStatus") != 0:
                raise SystemExit(f"template {tid} not approved: {st}")
            for d in range(min(DOMAINS_PER_ACCOUNT, domains - a * DOMAINS_PER_ACCOUNT)):
                domain = f"d{a}-{d}.{tag}.sesame.bench"
                created = api_call(self.api_port, signer, "CreateEmailIdentity",
                                   {"EmailIdentity": domain, "DKIMOption": 1})
                publish(self.zone, created["Attributes"])
                upd = api_call(self.api_port, signer, "UpdateEmailIdentity", {"EmailIdentity": domain})
                if upd.get("VerifiedForSendingStatus") is not True:
                    raise SystemExit(f"{domain} not verified: {upd}")
                sender = f"noreply@{domain}"
                api_call(self.api_port, signer, "CreateEmailAddress", {"EmailAddress": sender})
                senders.append({"secret_id": acct["SecretId"], "secret_key": acct["SecretKey"],
                                "sender": sender, "template": tid})
        log(f"sesame setup: {accounts} account(s), {len(senders)} RSA-2048 domain(s)/sender(s)")
        return senders


def _b64(s: str) -> str:
    import base64
    return base64.b64encode(s.encode()).decode()


def _template_html(size: int) -> str:
    head = "<html><body><p>Hello {{name}},</p><p>Your order {{code}} has shipped.</p>"
    filler = ("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
              "incididunt ut labore et dolore magna aliqua.</p>\n")
    body = head
    while len(body) + len(filler) < size - 20:
        body += filler
    return body + "</body></html>"


def sesame_e2e(args, zone: Zone, workdir: Path) -> dict:
    sink = Sink(workdir, "sesame-sink")
    srv = Sesame(args.sesame_bin, workdir / "sesame-e2e", zone, sink.port, ["5s", "30s"])
    open_loop = bool(args.rate and getattr(args, "loadgen", None))
    try:
        srv.start()
        # domains/accounts for both loads: the open loop's messages are args.messages .. +rate_messages,
        # so over all calls i % len(senders) keeps every domain under PER_DOMAIN
        senders = srv.setup_senders(args.messages + (args.rate_messages if open_loop else 0), args.size, "e2e")
        time.sleep(0.5)
        cpu0 = proc_cpu(srv.proc.pid)
        log(f"sesame e2e: {args.messages} SendEmail over {args.concurrency} connections "
            f"({client_note(args)}), {args.rcpt_domains} recipient domain(s)")
        load = run_client_load(args, srv.api_port, senders, args.messages, srv.dir)
        cpu_ack = proc_cpu(srv.proc.pid) - cpu0
        done = sink.wait_count(load["ok"], stall_timeout=args.stall, hard_timeout=args.timeout)
        cpu_all = proc_cpu(srv.proc.pid) - cpu0
        st = proc_status(srv.proc.pid)
        res = dict(load)
        res.update({
            "delivered": sink.count, "all_delivered": done,
            "e2e_wall": (sink.last_at or time.monotonic()) - load["first"],
            "peak_rss_mb": st.get("VmHWM", 0) / 1024, "rss_mb": st.get("VmRSS", 0) / 1024,
            "cpu_ack": cpu_ack, "cpu_all": cpu_all,
            "senders": len(senders),
        })
        res["e2e_per_s"] = sink.count / res["e2e_wall"] if res["e2e_wall"] > 0 else 0
        dump = sink.first_message()
        res["dkim_rsa2048"] = _check_dkim(dump)
        res["avg_msg_bytes"] = (sink.dump.stat().st_size / sink.count) if sink.count and sink.dump.exists() else 0
        if open_loop:
            res["open"] = _open_loop(args, srv, sink, senders)
        return res
    finally:
        srv.stop()
        sink.stop()


def _open_loop(args, srv: "Sesame", sink: Sink, senders: list[dict]) -> dict:
    """The open-loop load (--rate) on the e2e server, after the closed-loop messages reached the
    sink (or it gave up on them): --rate-messages calls, messages args.messages.. (new
    recipients), call j scheduled at start + j/rate on a pool of --concurrency connections."""
    base = sink.count
    time.sleep(0.5)
    log(f"sesame open loop: {args.rate_messages} SendEmail at {args.rate:g}/s on a pool of {args.concurrency} "
        f"connections")
    cpu0 = proc_cpu(srv.proc.pid)
    load = run_client_load(args, srv.api_port, senders, args.rate_messages, srv.dir, rate=args.rate,
                           first=args.messages)
    cpu = proc_cpu(srv.proc.pid) - cpu0
    done = sink.wait_count(base + load["ok"], stall_timeout=args.stall, hard_timeout=args.timeout)
    res = dict(load)
    nan = float("nan")
    for k, v in (("rate", args.rate), ("offered_per_s", nan), ("sent", 0), ("wait_p50", nan), ("wait_p99", nan)):
        res.setdefault(k, v)  # loadgen failed: _load_stats' keys only
    res.update({"delivered": sink.count - base, "all_delivered": done, "cpu_ack": cpu,
                "peak_rss_mb": proc_status(srv.proc.pid).get("VmHWM", 0) / 1024})
    log(f"sesame open loop: offered {res['offered_per_s']:.0f}/s, acked {res['acked_per_s']:.0f}/s, "
        f"p50 {res['p50']:.1f} ms (first/last tenth {res['p50_first_last_tenth'][0]:.1f}/"
        f"{res['p50_first_last_tenth'][1]:.1f}), p99 {res['p99']:.1f} ms, max {res['max']:.1f} ms, send lag p50/p99 "
        f"{res['wait_p50']:.1f}/{res['wait_p99']:.1f} ms, errors {res['errors']}")
    return res


def _check_dkim(dump: bytes) -> str:
    m = re.search(rb"DKIM-Signature:(.*?)\r?\n(?![ \t])", dump, re.S)
    if not m:
        return "no DKIM-Signature seen"
    sig = re.sub(rb"\s+", b"", m.group(1)).decode(errors="replace")
    tags = dict(t.split("=", 1) for t in sig.split(";") if "=" in t)
    b = tags.get("b", "")
    import base64
    try:
        bits = len(base64.b64decode(b + "=" * (-len(b) % 4))) * 8
    except Exception:
        bits = 0
    return f"a={tags.get('a')} d={tags.get('d')} s={tags.get('s')} signature {bits} bits"


def _delivery_states(db: Path) -> dict:
    """DeliverStatus -> count in the server's SQLite store (read-only)."""
    import sqlite3
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return dict(c.execute("SELECT deliver_status, COUNT(*) FROM deliveries GROUP BY 1").fetchall())
        finally:
            c.close()
    except sqlite3.Error as e:
        return {"error": str(e)}


def sesame_queue(args, zone: Zone, workdir: Path) -> dict:
    dead = free_port()  # nothing listens there: every delivery is refused and deferred
    srv = Sesame(args.sesame_bin, workdir / "sesame-queue", zone, dead, ["1h"])
    try:
        srv.start()
        senders = srv.setup_senders(args.queued, args.size, "q")
        time.sleep(0.5)
        base = proc_status(srv.proc.pid)
        log(f"sesame queue: {args.queued} SendEmail with delivery blocked (relay 127.0.0.1:{dead} closed)")
        load = run_client_load(args, srv.api_port, senders, args.queued, srv.dir)
        time.sleep(3)  # let the worker lease/defer the backlog
        st = proc_status(srv.proc.pid)
        states = srv.delivery_states()
        res = dict(load)
        res.update({"rss_mb": st.get("VmRSS", 0) / 1024, "peak_rss_mb": st.get("VmHWM", 0) / 1024,
                    "idle_rss_mb": base.get("VmRSS", 0) / 1024, "states": states,
                    "db_mb": srv.store_mb()})
        return res
    finally:
        srv.stop()


# --------------------------------------------------------------------------- Postfix

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
relayhost = [127.0.0.1]:{sink}
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_host_lookup = native
default_process_limit = {procs}
default_destination_concurrency_limit = {conc}
smtp_destination_concurrency_limit = {conc}
biff = no
append_dot_mydomain = no
readme_directory = no
{milter}"""


class Postfix:
    """A private Postfix instance: config and queue directory under `dir` (never the system one)."""

    def __init__(self, dir: Path, sink_port: int, concurrency: int, milter_port: int | None = None):
        self.dir = dir
        self.conf = dir / "etc"
        for d in (self.conf, dir / "queue", dir / "data"):
            d.mkdir(parents=True, exist_ok=True)
        dir.chmod(0o755)
        self.port = free_port()
        milter = ""
        if milter_port:
            milter = (f"smtpd_milters = inet:127.0.0.1:{milter_port}\nnon_smtpd_milters = $smtpd_milters\n"
                      "milter_default_action = tempfail\nmilter_protocol = 6\n")
        (self.conf / "main.cf").write_text(MAIN_CF.format(dir=dir, sink=sink_port, procs=max(100, 4 * concurrency),
                                                          conc=concurrency, milter=milter))
        (self.conf / "master.cf").write_text(MASTER_CF.format(port=self.port))
        pw = pwd.getpwnam("postfix")
        os.chown(dir / "data", pw.pw_uid, pw.pw_gid)
        self.master_pid = None

    def pf(self, *args, check=True):
        r = subprocess.run([find_tool("postfix"), "-c", str(self.conf), *args], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise SystemExit(f"postfix {' '.join(args)} failed:\n{r.stdout}{r.stderr}\n{self.maillog()[-2000:]}")
        return r

    def maillog(self) -> str:
        try:
            return (self.dir / "maillog").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self):
        self.pf("set-permissions", check=False)  # creates the queue tree with the right owners
        self.pf("check", check=False)
        self.pf("start")
        if not _wait_port(self.port, 20):
            raise SystemExit(f"postfix smtpd not listening on {self.port}:\n{self.maillog()[-2000:]}")
        pidf = self.dir / "queue" / "pid" / "master.pid"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.master_pid:
            try:
                self.master_pid = int(pidf.read_text().strip())
            except (FileNotFoundError, ValueError):
                time.sleep(0.1)
        return self

    def stop(self):
        self.pf("stop", check=False)
        # master waits for its children; make sure nothing of ours is left behind
        deadline = time.monotonic() + 10
        while self.master_pid and time.monotonic() < deadline and Path(f"/proc/{self.master_pid}").exists():
            time.sleep(0.1)
        if self.master_pid and Path(f"/proc/{self.master_pid}").exists():
            self.pf("abort", check=False)

    def queue_count(self) -> int:
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _root, _dirs, files in os.walk(self.dir / "queue" / sub):
                n += len(files)
        return n


class OpenDkim:
    """A private OpenDKIM milter (foreground, own config, RSA-2048 key for source.bench.test)."""

    DOMAIN = "source.bench.test"

    def __init__(self, dir: Path):
        self.dir = dir
        dir.mkdir(parents=True, exist_ok=True)
        dir.chmod(0o755)
        subprocess.run([find_tool("opendkim-genkey"), "-b", "2048", "-d", self.DOMAIN, "-s", "bench", "-D", str(dir)],
                       check=True, capture_output=True, timeout=60)
        key = dir / "bench.private"
        user = "opendkim" if _user_exists("opendkim") else None
        if os.geteuid() == 0 and user:
            pw = pwd.getpwnam(user)
            os.chown(key, pw.pw_uid, pw.pw_gid)
        key.chmod(0o600)
        self.port = free_port()
        conf = [f"Domain {self.DOMAIN}", "Selector bench", f"KeyFile {key}", f"Socket inet:{self.port}@127.0.0.1",
                "Mode s", "Syslog no", "RequireSafeKeys false", "Canonicalization relaxed/simple", "SignatureAlgorithm rsa-sha256",
                "InternalHosts 127.0.0.0/8", f"PidFile {dir}/opendkim.pid"]
        if os.geteuid() == 0 and user:
            conf.append(f"UserID {user}")
        (dir / "opendkim.conf").write_text("\n".join(conf) + "\n")
        self.proc = None

    def start(self):
        self._log = open(self.dir / "opendkim.log", "ab")
        self.proc = subprocess.Popen([find_tool("opendkim"), "-f", "-x", str(self.dir / "opendkim.conf")],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        if not _wait_port(self.port, 15, self.proc):
            raise SystemExit(f"opendkim did not start: {(self.dir / 'opendkim.log').read_text()[-1000:]}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def postfix_e2e(args, workdir: Path, dkim: bool = False) -> dict:
    tag = "postfix-dkim" if dkim else "postfix"
    sink = Sink(workdir, f"{tag}-sink")
    milter = pfx = sampler = None
    try:
        if dkim:
            milter = OpenDkim(workdir / "opendkim")
            milter.start()
        pfx = Postfix(workdir / tag, sink.port, args.concurrency, milter.port if milter else None)
        pfx.start()
        sampler = TreeSampler(lambda: [pfx.master_pid, milter and milter.proc.pid]).start()
        time.sleep(0.5)
        log(f"{tag}: smtp-source -s {args.concurrency} -l {args.size} -m {args.messages} "
            f"-> 127.0.0.1:{pfx.port} -> relayhost smtp-sink 127.0.0.1:{sink.port}")
        t0 = time.monotonic()
        src = subprocess.run([find_tool("smtp-source"), "-s", str(args.concurrency), "-l", str(args.size),
                              "-m", str(args.messages), "-f", "bench@source.bench.test", "-t", "rcpt@rcpt.bench.test",
                              "-N", "-M", "source.bench.test", f"127.0.0.1:{pfx.port}"],
                             capture_output=True, text=True, timeout=args.timeout, stdin=subprocess.DEVNULL)
        t1 = time.monotonic()
        if src.returncode != 0:
            log(f"smtp-source exited {src.returncode}: {src.stderr[-500:]}")
        done = sink.wait_count(args.messages, stall_timeout=args.stall, hard_timeout=args.timeout)
        sampler.stop()
        wall = (sink.last_at or time.monotonic()) - t0
        res = {"delivered": sink.count, "all_delivered": done, "e2e_wall": wall,
               "e2e_per_s": sink.count / wall if wall > 0 else 0,
               "submit_per_s": args.messages / (t1 - t0), "submit_wall": t1 - t0,
               "peak_rss_mb": sampler.peak_rss / 1024, "peak_pss_mb": sampler.peak_pss / 1024,
               "peak_procs": sampler.peak_procs, "left_in_queue": pfx.queue_count(),
               "avg_msg_bytes": (sink.dump.stat().st_size / sink.count) if sink.count and sink.dump.exists() else 0,
               "mode": "private instance (postfix -c <tmp>/etc)" + (", OpenDKIM RSA-2048 milter" if dkim else "")}
        if dkim:
            res["dkim_check"] = _check_dkim(sink.first_message())
        if not done:
            res["maillog_tail"] = pfx.maillog()[-1500:]
        return res
    finally:
        if sampler:
            sampler.stop()
        if pfx:
            pfx.stop()
        if milter:
            milter.stop()
        sink.stop()


# --------------------------------------------------------------------------- report


def report(args, ses: dict | None, q: dict | None, pfx: dict | None, pdk: dict | None, notes: list[str]):
    def f(v, fmt="{:,.0f}"):
        return "-" if v is None or v is False else fmt.format(v)

    print()
    print("=" * 96)
    print(f"Sesame vs Postfix, {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs")
    for n in notes:
        print(f"  {n}")
    print(f"  message ~{args.size} B, {args.concurrency} concurrent sessions/connections; Sesame: {args.rcpt_domains} "
          f"recipient domain(s), RSA-2048 DKIM, {os.environ.get('SESAME_BENCH_DATABASE_URL') and 'PostgreSQL' or 'SQLite'}, "
          f"{client_note(args)}; sink: Postfix smtp-sink")
    print("-" * 96)
    cols = [ses, pfx, pdk]
    rows = [("", "Sesame (DKIM 2048)", "Postfix (no DKIM)", "Postfix+OpenDKIM 2048")]

    def row(label, fn, fmt="{:,.0f}", only=(0, 1, 2)):
        rows.append((label, *[f(fn(c), fmt) if (c and i in only) else "-" for i, c in enumerate(cols)]))

    row("messages", lambda c: c.get("ok", args.messages))
    row("delivered to sink", lambda c: c["delivered"])
    row("end-to-end msg/s", lambda c: c["e2e_per_s"])
    row("end-to-end wall s", lambda c: c["e2e_wall"], "{:.2f}")
    row("acked calls/s (Postfix: submissions/s)", lambda c: c.get("acked_per_s", c.get("submit_per_s")))
    row("ack latency p50 ms", lambda c: c["p50"], "{:.1f}", (0,))
    row("ack latency p99 ms", lambda c: c["p99"], "{:.1f}", (0,))
    row("ack latency max ms", lambda c: c["max"], "{:.1f}", (0,))
    rows.append(("p50 ms, first / last tenth of calls",
                 "{:.1f} / {:.1f}".format(*ses["p50_first_last_tenth"]) if ses else "-", "-", "-"))
    op = ses.get("open") if ses else None
    if op:
        rows.append((f"open loop ({args.rate_messages:,} at {op['rate']:,.0f}/s): calls/s offered / acked",
                     f"{op['offered_per_s']:,.0f} / {op['acked_per_s']:,.0f}", "-", "-"))
        rows.append(("open loop p50 / p99 / max ms",
                     f"{op['p50']:.1f} / {op['p99']:.1f} / {op['max']:.1f}", "-", "-"))
        rows.append(("open loop send lag p50 / p99 ms (client)",
                     f"{op['wait_p50']:.1f} / {op['wait_p99']:.1f}", "-", "-"))
    row("peak RSS MB (Postfix: sum over procs)", lambda c: c["peak_rss_mb"], "{:.1f}")
    row("peak PSS MB (Postfix: shared split)", lambda c: c["peak_pss_mb"], "{:.1f}", (1, 2))
    row("processes (peak)", lambda c: c["peak_procs"], "{}", (1, 2))
    rows.append(("server CPU s (until acked / until delivered)",
                 f"{ses['cpu_ack']:.1f} / {ses['cpu_all']:.1f}" if ses else "-", "-", "-"))
    rows.append(("load client CPU s (ms per call)",
                 f"{ses['client_cpu']:.1f} ({1000 * ses['client_cpu'] / max(args.messages, 1):.3f})" if ses else "-",
                 "-", "-"))
    row("avg bytes/msg in sink dump", lambda c: c["avg_msg_bytes"])
    w = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for r in rows:
        print(f"{r[0]:<{w[0]}}  " + "  ".join(f"{str(r[i]):>{w[i]}}" for i in (1, 2, 3)))
    if ses:
        if ses["errors"]:
            print(f"Sesame SendEmail errors: {ses['errors']}")
        if not ses["all_delivered"]:
            print(f"Sesame: only {ses['delivered']} of {ses['ok']} reached the sink before giving up")
        print(f"Sesame DKIM (first message at the sink): {ses['dkim_rsa2048']}; {ses['senders']} sender domains")
        if op:
            print(f"Sesame open loop: {op['sent']:,} sent at {op['rate']:g}/s asked, {op['ok']:,} acked, "
                  f"{op['delivered']:,} reached the sink"
                  + ("" if op["all_delivered"] else " (gave up waiting)")
                  + f"; server CPU until acked {op['cpu_ack']:.1f} s"
                  + (f"; errors {op['errors']}" if op["errors"] else ""))
    for name, c in (("Postfix", pfx), ("Postfix+OpenDKIM", pdk)):
        if c:
            print(f"{name}: {c['mode']}; left in queue: {c['left_in_queue']}"
                  + (f"; DKIM (first message): {c['dkim_check']}" if "dkim_check" in c else ""))
            if "maillog_tail" in c:
                print(f"{name} maillog tail:\n" + c["maillog_tail"])
    if q:
        print(f"Sesame with {q['ok']:,} queued (delivery blocked): RSS {q['rss_mb']:.1f} MB, peak {q['peak_rss_mb']:.1f} MB "
              f"(idle before load {q['idle_rss_mb']:.1f} MB), store {q['db_mb']:.0f} MB, "
              f"deliveries by DeliverStatus {q['states']} (0 queued, 8 deferred); that run acked "
              f"{q['acked_per_s']:,.0f} calls/s, p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f} ms (p50 first/last tenth "
              f"{q['p50_first_last_tenth'][0]:.1f}/{q['p50_first_last_tenth'][1]:.1f} ms)"
              + (f", errors {q['errors']}" if q["errors"] else ""))
    print("-" * 96)
    print("Goals:")

    def goal(text, ok):
        print(f"  [{'MET' if ok else 'NOT MET' if ok is not None else 'n/a'}] {text}")

    if ses and pfx:
        goal(f"Sesame end-to-end (DKIM 2048) >= 2x plain Postfix: {ses['e2e_per_s']:,.0f} vs 2 x {pfx['e2e_per_s']:,.0f} = "
             f"{2 * pfx['e2e_per_s']:,.0f} msg/s ({ses['e2e_per_s'] / max(pfx['e2e_per_s'], 1e-9):.2f}x)",
             ses["e2e_per_s"] >= 2 * pfx["e2e_per_s"] and ses["all_delivered"])
    else:
        goal("Sesame end-to-end >= 2x plain Postfix", None)
    if ses and pdk:
        print(f"  (for reference: Sesame vs Postfix+OpenDKIM {ses['e2e_per_s'] / max(pdk['e2e_per_s'], 1e-9):.2f}x)")
    if ses:
        goal(f">= 1,000 acked SendEmail/s: {ses['acked_per_s']:,.0f}/s", ses["acked_per_s"] >= 1000)
        if op:
            low = "" if op["offered_per_s"] >= 1000 else "; below the goal's 1,000/s"
            goal(f"p99 < 20 ms, open loop at {op['offered_per_s']:,.0f}/s offered ({op['acked_per_s']:,.0f}/s acked"
                 f"{low}): {op['p99']:.1f} ms (closed loop: {ses['p99']:.1f} ms)",
                 op["p99"] < 20 and not op["errors"])
        else:
            goal(f"p99 < 20 ms: {ses['p99']:.1f} ms", ses["p99"] < 20)
    if q:
        goal(f"< 100 MB with {q['ok']:,} queued: {q['rss_mb']:.1f} MB (peak {q['peak_rss_mb']:.1f})",
             q["peak_rss_mb"] < 100 and q["ok"] >= args.queued)
    print("=" * 96)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sesame-bin", default=str(REPO / "target" / "release" / "sesame"))
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--queued", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--client", choices=("auto", "rust", "python"), default="auto",
                    help="SendEmail load client: rust = bench/loadgen (built at start), python = forked asyncio "
                         "processes; auto (default) = rust when bench/loadgen builds (or was built), else python")
    ap.add_argument("--client-procs", type=int, default=4, help="processes of the Python load client")
    ap.add_argument("--client-threads", type=int, default=1, help="threads of the Rust load client")
    ap.add_argument("--rcpt-domains", type=int, default=20,
                    help="recipient domains (Sesame delivers one connection per domain at a time)")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--rate", type=float, default=None,
                    help="sesame phase, Rust client: after the closed-loop load has reached the sink, an open-loop "
                         "load at RATE SendEmail/s (latency from each call's scheduled time); the p99 goal is "
                         "judged on it")
    ap.add_argument("--rate-messages", type=int, default=5000, help="calls of the open-loop load (--rate)")
    ap.add_argument("--stall", type=float, default=30, help="give up when no message arrives for this long")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--phases", default="postfix,postfix-dkim,sesame,queue",
                    help="comma-separated subset of postfix,postfix-dkim,sesame,queue")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    phases = set(args.phases.split(","))
    args.loadgen = None
    if args.client != "python" and phases & {"sesame", "queue"}:
        args.loadgen = build_loadgen(required=args.client == "rust")
    notes = [f"before: {load_note()}"]
    if args.rate and "sesame" in phases and not args.loadgen:
        notes.append("--rate needs the Rust load client (bench/loadgen): no open-loop load")
    ses = q = pfx = pdk = None
    zone = Zone()
    zone.start()
    try:
        if "postfix" in phases:
            pfx = postfix_e2e(args, workdir)
            log(f"postfix: {pfx['e2e_per_s']:.0f} msg/s end to end")
        if "postfix-dkim" in phases:
            if shutil.which("opendkim") or Path("/usr/sbin/opendkim").exists():
                pdk = postfix_e2e(args, workdir, dkim=True)
                log(f"postfix+opendkim: {pdk['e2e_per_s']:.0f} msg/s end to end")
            else:
                notes.append("opendkim not installed: no Postfix+OpenDKIM figures")
        if "sesame" in phases:
            ses = sesame_e2e(args, zone, workdir)
            log(f"sesame: {ses['e2e_per_s']:.0f} msg/s end to end, {ses['acked_per_s']:.0f} acked/s")
        if "queue" in phases:
            q = sesame_queue(args, zone, workdir)
    finally:
        zone.stop()
    notes.append(f"after:  {load_note()}")
    report(args, ses, q, pfx, pdk, notes)


if __name__ == "__main__":
    main()
