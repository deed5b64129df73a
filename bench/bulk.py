#!/usr/bin/env python3
"""Bulk sending benchmark (issue 6, item 5): accept a 50 000-recipient list, then fan a
BatchSendEmail task over it out into the durable queue; time both and read the server's peak
memory.

  1. Starts `sesame serve` (release binary by default, `--sesame-bin` for another) on a temp
     SQLite store, or on a fresh PostgreSQL database with `--postgres URL` (default: the
     SESAME_TEST_DATABASE_URL environment variable when `--postgres` is given without a
     value), relaying to Postfix's smtp-sink (accepts everything), with the dnslib zone of the
     e2e suite for the domain's records. `[sending] mail_rate = 0` and `[api] rate_limit = 0`:
     the benchmark measures the pipeline, not the configured pace (docs/bulk.md, "Pacing").
  2. One account, one verified domain (`--dkim-option`, default 1 = RSA-2048) raised to
     reputation level 20 (1 000 000 a day), one sender, one approved ~1 KiB HTML template with
     {{name}} and {{code}}; open/click tracking on (the default), so every recipient gets
     their own signed copy.
  3. CreateReceiver, then CreateReceiverDetailWithData in calls of at most 20 000 rows (each
     with its own TemplateData) through the official Python SDK: "acceptance" is the wall
     time of those calls.
  4. BatchSendEmail (TaskType 1), then polls ListSendTasks every 0.1 s until SendCount
     reaches the list size: "fan-out" is BatchSendEmail's call until then. The count of
     queued deliveries is read back from the database.
  5. A transactional SendEmail every 0.1 s (20 on the idle server first) while the task fans out
     (and is delivered, with --wait-delivery): their latencies, p50, p99 and max.
  6. Peak memory: VmHWM of the server process (/proc/PID/status) after the upload and after
     the fan-out; VmRSS is sampled every 0.2 s.

Only 127.0.0.1 is used; every wait is bounded. Run with the repository's .venv python.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from helpers import Zone, call, publish  # noqa: E402
from sesame_load import Sesame, Sink, log, proc_cpu, proc_status, toml  # noqa: E402
from tencentcloud.common import credential  # noqa: E402
from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: E402
from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: E402
from tencentcloud.ses.v20201002 import ses_client  # noqa: E402

MAX_PER_CALL = 20_000
# A transactional SendEmail every this many seconds while the task runs (its latency shows
# whether SendEmail stays fast beside a bulk task).
PROBE_EVERY = 0.1
TEMPLATE = ("<html><body><p>Hello {{name}},</p><p>Your code is {{code}}. "
            "<a href=\"https://shop.example.test/orders\">See your order</a></p>"
            + "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
              "incididunt ut labore et dolore magna aliqua.</p>\n" * 6
            + "</body></html>")


class RssSampler:
    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._t.join(2)
        return self.peak


def sdk_client(port: int, secret_id: str, secret_key: str):
    http = HttpProfile(endpoint=f"127.0.0.1:{port}", protocol="http", reqMethod="POST", reqTimeout=120)
    return ses_client.SesClient(credential.Credential(secret_id, secret_key), "ap-guangzhou",
                                ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http))


class PgDatabase:
    """A fresh database on the server `admin_url` names, dropped at the end."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.name = "sesame_bulk_bench_" + uuid.uuid4().hex[:10]
        self._psql(admin_url, f"CREATE DATABASE {self.name}")
        u = urllib.parse.urlsplit(admin_url)
        self.url = urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + self.name, u.query, u.fragment))

    @staticmethod
    def _psql(url: str, sql: str) -> str:
        r = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise SystemExit(f"psql {sql!r}: {r.stderr}")
        return r.stdout

    def scalar(self, sql: str) -> int:
        return int(self._psql(self.url, sql).strip() or 0)

    def drop(self):
        self._psql(self.admin_url, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def build_profile(binary: Path) -> str:
    parts = binary.resolve().parts
    return "release" if "release" in parts else "debug" if "debug" in parts else "unknown"


def run(args) -> dict:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sesame-bulk-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # smtp-sink runs as nobody when we are root and must reach its dump under here.
    workdir.chmod(0o755)
    binary = Path(args.sesame_bin)
    if not binary.exists():
        raise SystemExit(f"{binary} not found: cargo build --release (or --sesame-bin target/debug/sesame)")
    zone = Zone()
    zone.start()
    sink = Sink(workdir, "sink")
    pg = PgDatabase(args.postgres) if args.postgres else None
    srv = Sesame(str(binary), workdir / "sesame", zone, sink.port, ["5s", "30s"])
    srv.cfg["api"]["rate_limit"] = 0
    srv.cfg["sending"]["mail_rate"] = 0
    srv.cfg["bulk"] = {"tick": "1s", "chunk": args.chunk}
    if pg:
        srv.cfg["storage"]["url"] = pg.url
    srv.config.write_text(toml(srv.cfg))
    res: dict = {"n": args.recipients, "profile": build_profile(binary),
                 "storage": "postgres" if pg else "sqlite", "dkim_option": args.dkim_option,
                 "chunk": args.chunk}
    try:
        srv.start()
        pid = srv.proc.pid
        acct = json.loads(srv.cli("account", "create", "--name", "bulk-bench"))
        client = sdk_client(srv.api_port, acct["SecretId"], acct["SecretKey"])
        domain = "news.bulk.sesame.bench"
        created = call(client, "CreateEmailIdentity", {"EmailIdentity": domain, "DKIMOption": args.dkim_option})
        publish(zone, created["Attributes"])
        if call(client, "UpdateEmailIdentity", {"EmailIdentity": domain}).get("VerifiedForSendingStatus") is not True:
            raise SystemExit(f"{domain} not verified")
        srv.cli("domain", "update", "--domain", domain, "--reputation-level", "20")
        sender = f"noreply@{domain}"
        call(client, "CreateEmailAddress", {"EmailAddress": sender})
        import base64
        tid = call(client, "CreateEmailTemplate", {"TemplateName": "bulk-bench",
                                                    "TemplateContent": {"Html": base64.b64encode(TEMPLATE.encode()).decode()}})["TemplateID"]

        sampler = RssSampler(pid)
        rid = call(client, "CreateReceiver", {"ReceiversName": "bench", "Desc": "bulk benchmark"})["ReceiverId"]
        n = args.recipients
        rows = [{"Email": f"u{i}@r{i % 20}.rcpt.bench.test",
                 "TemplateData": json.dumps({"name": f"User {i}", "code": f"C{i:06d}"})} for i in range(n)]
        t0 = time.monotonic()
        calls = []
        for start in range(0, n, MAX_PER_CALL):
            c0 = time.monotonic()
            got = call(client, "CreateReceiverDetailWithData",
                       {"ReceiverId": rid, "Datas": rows[start:start + MAX_PER_CALL]})
            calls.append(time.monotonic() - c0)
            if got.get("ValidCount") != len(rows[start:start + MAX_PER_CALL]):
                raise SystemExit(f"upload refused rows: {got}")
        res["accept_s"] = time.monotonic() - t0
        res["accept_calls_s"] = calls
        res["hwm_after_upload_mb"] = proc_status(pid).get("VmHWM", 0) / 1024
        del rows

        probe_client = sdk_client(srv.api_port, acct["SecretId"], acct["SecretKey"])

        def send_probe(i: int) -> float:
            """One transactional SendEmail; its latency in ms."""
            c0 = time.monotonic()
            call(probe_client, "SendEmail", {
                "FromEmailAddress": sender, "Destination": [f"probe{i}@probe.bench.test"],
                "Subject": "Probe {{name}}", "TriggerType": 1,
                "Template": {"TemplateID": tid, "TemplateData": json.dumps({"name": str(i), "code": "p"})}})
            return (time.monotonic() - c0) * 1000

        # SendEmail on the idle server, then while the task fans out and is delivered.
        res["probe_idle_ms"] = [send_probe(i) for i in range(20)]
        probe_ms: list[float] = []
        probing = threading.Event()
        probing.set()

        def probe_loop() -> None:
            i = 1000
            while probing.is_set():
                probe_ms.append(send_probe(i))
                i += 1
                time.sleep(PROBE_EVERY)

        prober = threading.Thread(target=probe_loop, daemon=True)
        cpu0 = proc_cpu(pid)
        t0 = fan_t0 = time.monotonic()
        prober.start()
        task_id = call(client, "BatchSendEmail", {
            "FromEmailAddress": sender, "ReceiverId": rid, "Subject": "Hello {{name}}", "TaskType": 1,
            "Template": {"TemplateID": tid, "TemplateData": json.dumps({"name": "there", "code": "none"})}})["TaskId"]
        deadline = t0 + args.timeout
        task = {}
        while time.monotonic() < deadline:
            tasks = call(client, "ListSendTasks", {"Offset": 0, "Limit": 10})["Data"]
            task = next(t for t in tasks if t["TaskId"] == task_id)
            if task["SendCount"] >= n or task["TaskStatus"] in (6, 7, 10):
                break
            time.sleep(0.1)
        res["fanout_s"] = time.monotonic() - t0
        res["probe_fanout_ms"] = list(probe_ms)
        res["fanout_cpu_s"] = proc_cpu(pid) - cpu0
        res["task"] = {k: task.get(k) for k in ("TaskStatus", "SendCount", "RequestCount", "CacheCount", "ErrMsg")}
        res["sink_at_fanout_end"] = sink.count
        res["peak_rss_mb"] = proc_status(pid).get("VmHWM", 0) / 1024
        res["sampled_rss_mb"] = sampler.stop() / 1024
        sql = "SELECT COUNT(*) FROM deliveries d JOIN messages m ON m.id = d.message_row WHERE m.trigger_type = 0"
        if pg:
            res["queued_in_db"] = pg.scalar(sql)
        else:
            with sqlite3.connect(str(workdir / "sesame" / "sesame.db"), timeout=30) as db:
                res["queued_in_db"] = db.execute(sql).fetchone()[0]
        if args.wait_delivery:
            d0 = time.monotonic()
            # The probes go on for the first 30 s of the delivery, then the sink must have
            # every recipient and every probe.
            while time.monotonic() < d0 + 30 and sink.count < n:
                time.sleep(0.2)
        probing.clear()
        prober.join(timeout=30)
        res["probe_all_ms"] = list(probe_ms)
        if args.wait_delivery:
            res["all_delivered"] = sink.wait_count(n + len(probe_ms) + len(res["probe_idle_ms"]),
                                                   stall_timeout=60, hard_timeout=args.timeout * 20)
            res["delivered"] = sink.count
            res["delivery_after_fanout_s"] = time.monotonic() - d0
            # Bulk copies are rendered and signed at delivery: the whole task, call to sink.
            res["delivered_total_s"] = time.monotonic() - fan_t0
            res["delivery_cpu_s"] = proc_cpu(pid) - cpu0
        return res
    finally:
        srv.stop()
        sink.stop()
        zone.stop()
        if pg:
            pg.drop()


def report(res: dict) -> None:
    n = res["n"]
    print(f"\nbulk benchmark: {n:,} recipients, {res['profile']} build, {res['storage']}, "
          f"DKIMOption {res['dkim_option']}, [bulk] chunk {res['chunk']}, mail_rate 0")
    print(f"  list accepted (CreateReceiverDetailWithData x{len(res['accept_calls_s'])}): {res['accept_s']:.2f} s "
          f"({', '.join(f'{c:.2f}' for c in res['accept_calls_s'])} s per call)")
    print(f"  fan-out (BatchSendEmail -> SendCount {res['task']['SendCount']:,}): {res['fanout_s']:.2f} s, "
          f"{res['task']['SendCount'] / res['fanout_s']:,.0f} recipients/s, server CPU {res['fanout_cpu_s']:.1f} s")
    print(f"  task: {res['task']}; deliveries queued in the database: {res['queued_in_db']:,}; "
          f"at the sink when the fan-out ended: {res['sink_at_fanout_end']:,}")
    print(f"  server peak memory (VmHWM): {res['peak_rss_mb']:.1f} MB "
          f"(after the upload: {res['hwm_after_upload_mb']:.1f} MB; sampled VmRSS peak {res['sampled_rss_mb']:.1f} MB)")
    if "delivered" in res:
        print(f"  delivered at the sink: {res['delivered']:,} ({res['delivery_after_fanout_s']:.1f} s after the fan-out, "
              f"{res['delivered_total_s']:.1f} s after BatchSendEmail; server CPU {res['delivery_cpu_s']:.1f} s)")
    probes = [("idle server", "probe_idle_ms"), ("server during the fan-out", "probe_fanout_ms")]
    if "delivered" in res:
        probes.append(("server during the fan-out and the first 30 s of delivery", "probe_all_ms"))
    for label, key in probes:
        got = sorted(res.get(key) or [])
        if got:
            pick = lambda q: got[min(len(got) - 1, int(q * len(got)))]  # noqa: E731
            print(f"  SendEmail (transactional) on the {label}: {len(got)} calls, p50 {pick(0.5):.1f} ms, "
                  f"p99 {pick(0.99):.1f} ms, max {got[-1]:.1f} ms")
    ok = res["task"]["SendCount"] == n and res["queued_in_db"] == n
    print(f"  goals: fan-out < 5 s: {'met' if ok and res['fanout_s'] < 5 else 'NOT met'}; "
          f"peak < 200 MB: {'met' if res['peak_rss_mb'] < 200 else 'NOT met'}")
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sesame-bin", default=str(REPO / "target" / "release" / "sesame"))
    ap.add_argument("--workdir", help="kept after the run (default: a new temp dir)")
    ap.add_argument("--recipients", type=int, default=50_000)
    ap.add_argument("--dkim-option", type=int, default=1, choices=(0, 1, 2),
                    help="0: RSA-1024, 1: RSA-2048 (default), 2: both")
    ap.add_argument("--chunk", type=int, default=1000,
                    help="[bulk] chunk (1-1000; the server default is 100, paced by mail_rate)")
    ap.add_argument("--postgres", nargs="?", const=os.environ.get("SESAME_TEST_DATABASE_URL", ""), default=None,
                    help="run on a fresh database of this PostgreSQL server (default: $SESAME_TEST_DATABASE_URL)")
    ap.add_argument("--timeout", type=float, default=300, help="longest wait for the fan-out, s")
    ap.add_argument("--wait-delivery", action="store_true", help="also wait until the sink has every message")
    args = ap.parse_args()
    if args.postgres == "":
        raise SystemExit("--postgres needs a URL or SESAME_TEST_DATABASE_URL")
    report(run(args))


if __name__ == "__main__":
    main()
