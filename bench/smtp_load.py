#!/usr/bin/env python3
"""SMTP submission benchmark, Sesame vs Postfix (issue 4, item 7; driven by `bench/run --phases smtp`).

The same `smtp-source` command (Debian's postfix package) drives, in the same run:

  sesame   Sesame's submission port ([smtp] listen), 127.0.0.1 in [smtp] trusted_networks so it
           submits without AUTH (the account owning the MAIL FROM sender owns the mail); one
           verified sender domain with RSA-2048 DKIM (DKIMOption 1), reputation level 20
           (1 000 000/day) and an account quota of 10^8; [sending] mail_rate = 0, [api] rate_limit
           = 0; [delivery] relay = a local smtp-sink.
  postfix  A plain private Postfix instance (bench/sesame_load.Postfix: own main.cf/master.cf/queue,
           relayhost = the same kind of smtp-sink), no DKIM.

    smtp-source -N -m N -s S -l SIZE -S SUBJECT -M HELO -f SENDER -t rcpt@DOMAIN 127.0.0.1:PORT

-N prepends a sequence number to the recipient's local part (1rcpt@, 2rcpt@, ...), so no
recipient gets more than one message (Sesame's 10-per-hour-per-recipient limit never applies).
With --smtp-rcpt-domains K > 1, K smtp-source processes run at once, each with S/K sessions, N/K
messages and its own recipient domain (Sesame delivers one connection per recipient domain).

Reported per side: end-to-end msg/s (first smtp-source start -> last message counted at the
sink), smtp-source's own submission rate (messages / time until every smtp-source exited), peak
memory of the server process tree (summed RSS and PSS sampled every 0.2 s; Sesame's VmHWM too),
server CPU; the ratio Sesame/Postfix against the goal (>= 2x plain Postfix with RSA-2048 DKIM on);
and, for Sesame, a dkimpy verification of the first message at the sink against the zone.

Everything is on 127.0.0.1; every wait is bounded; every process started here is stopped here
(bench/run also kills whatever names its temp dir on exit).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sesame_load as sl  # noqa: E402  (Sink, Postfix, Sesame, TreeSampler, Signer, api_call, ...)
from helpers import Zone, dkim_signatures, publish  # noqa: E402  (tests/e2e/helpers.py, on sys.path via sesame_load)

log = sl.log
SENDER_DOMAIN = "smtp.sesame.bench"
SENDER = f"noreply@{SENDER_DOMAIN}"
HELO = "source.bench.test"
SUBJECT = "smtp-source benchmark"


# --------------------------------------------------------------------------- smtp-source


def run_source(port: int, args, tag: str, workdir: Path) -> dict:
    """Runs K smtp-source processes at once (K = --smtp-rcpt-domains) and waits for all of them,
    at most --timeout s. Returns start/end times, exit codes, their stderr tails and their CPU."""
    k = max(1, args.smtp_rcpt_domains)
    tool = sl.find_tool("smtp-source")
    procs = []
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    for i in range(k):
        m = args.messages // k + (1 if i < args.messages % k else 0)
        s = max(1, args.concurrency // k + (1 if i < args.concurrency % k else 0))
        if m == 0:
            continue
        rcpt = f"rcpt@r{i}.rcpt.bench.test" if k > 1 else "rcpt@rcpt.bench.test"
        cmd = [tool, "-N", "-m", str(m), "-s", str(s), "-l", str(args.size), "-S", SUBJECT, "-M", HELO,
               "-f", SENDER, "-t", rcpt]
        if args.smtp_reuse:
            cmd.append("-d")
        cmd.append(f"127.0.0.1:{port}")
        err = open(workdir / f"{tag}-smtp-source-{i}.err", "w+b")
        procs.append((cmd, subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err), err))
    log(f"{tag}: {len(procs)} x " + " ".join(procs[0][0][:-1]) + f" 127.0.0.1:{port}")
    deadline = t0 + args.timeout
    ends = []
    out = {"t0": t0, "rc": [], "stderr": [], "cmd": " ".join(procs[0][0][:-1]), "procs": len(procs)}
    try:
        for cmd, p, err in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            ends.append(time.monotonic())
            out["rc"].append(p.returncode)
            err.seek(0)
            tail = err.read()[-600:].decode(errors="replace").strip()
            if tail:
                out["stderr"].append(tail)
    finally:  # interrupted (bench/run's TERM): no smtp-source outlives us
        for _, p, err in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            err.close()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["t1"] = max(ends)
    out["client_cpu"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return out


def probe_latency(port: int, n: int, tag: str) -> dict:
    """After the load: `n` messages one after another over one smtplib connection to the idle
    server (distinct recipients), timing MAIL+RCPT+DATA -> 250 of each: the reply latency a
    client sees, without the load's queueing. Bounded by smtplib's 10 s timeout per step."""
    import smtplib
    body = ("X" * 78 + "\r\n") * 26
    lat, errors = [], {}
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELO, timeout=10) as c:
            c.ehlo()
            for i in range(n):
                rcpt = f"p{i}@probe-{tag}.bench.test"
                msg = (f"From: <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: latency probe {i}\r\n"
                       f"Message-ID: <probe-{tag}-{i}@{HELO}>\r\n\r\n{body}")
                t = time.monotonic()
                try:
                    c.sendmail(SENDER, [rcpt], msg.encode())
                    lat.append(time.monotonic() - t)
                except smtplib.SMTPException as e:
                    k = type(e).__name__ + ": " + str(e)[:120]
                    errors[k] = errors.get(k, 0) + 1
    except (OSError, smtplib.SMTPException) as e:
        errors[type(e).__name__ + ": " + str(e)[:120]] = 1
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, max(0, -(-q * len(lat) // 100) - 1))] * 1000 if lat else None

    return {"n": len(lat), "p50": pct(50), "p99": pct(99), "max": lat[-1] * 1000 if lat else None, "errors": errors}


def tree_cpu(roots) -> float:
    """CPU seconds (user+sys) of the process trees under `roots`: every live process's own time
    plus the time of the children it has reaped (Postfix's master reaps its daemons, which
    otherwise would take their CPU with them)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in {p for r in roots if r for p in sl.descendants(r)}:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / tick
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            pass
    return total


def _measure(args, sink: sl.Sink, port: int, roots, tag: str, workdir: Path, settle=None) -> dict:
    """smtp-source into `port` until the sink has every message (or stalls); then `settle(t0)`
    (figures to take before anything else is sent), then the latency probe."""
    sampler = sl.TreeSampler(roots).start()
    cpu0 = tree_cpu(roots())
    try:
        src = run_source(port, args, tag, workdir)
        cpu_src = tree_cpu(roots()) - cpu0
        # smtp-source gave up (a refused command): what was accepted still drains, but sooner
        stall = args.stall if not any(src["rc"]) else min(args.stall, 10)
        done = sink.wait_count(args.messages, stall_timeout=stall, hard_timeout=args.timeout)
    finally:
        sampler.stop()
    t0 = src["t0"]
    wall = (sink.last_at or time.monotonic()) - t0
    dump_bytes = sink.dump.stat().st_size if sink.dump.exists() else 0
    delivered = sink.count
    cpu_all = tree_cpu(roots()) - cpu0
    settled = settle(t0) if settle else {}
    probe = probe_latency(port, args.smtp_probe, tag) if args.smtp_probe > 0 else None
    res = {
        "t0": t0, "delivered": delivered, "all_delivered": done and delivered >= args.messages,
        "e2e_wall": wall, "e2e_per_s": delivered / wall if wall > 0 else 0.0,
        "submit_wall": src["t1"] - t0, "submit_per_s": args.messages / max(src["t1"] - t0, 1e-9),
        "source_rc": src["rc"], "source_stderr": src["stderr"], "source_cmd": src["cmd"], "source_procs": src["procs"],
        "client_cpu": src["client_cpu"], "probe": probe,
        "peak_rss_mb": sampler.peak_rss / 1024, "peak_pss_mb": sampler.peak_pss / 1024, "peak_procs": sampler.peak_procs,
        "avg_msg_bytes": dump_bytes / delivered if delivered else 0,
    }
    res.update(settled)
    res["cpu_submit"] = cpu_src
    res["cpu_all"] = cpu_all
    res["cpu_ms_per_msg"] = cpu_all * 1000 / delivered if delivered else None
    return res


# --------------------------------------------------------------------------- Sesame


def setup_sender(srv: sl.Sesame, zone: Zone) -> dict:
    """One account (quota 10^8), one verified RSA-2048 domain at reputation level 20, one sender."""
    acct = json.loads(srv.cli("account", "create", "--name", "bench-smtp"))
    srv.cli("account", "update", "--app-id", str(acct["AppId"]), "--daily-quota", "100000000")
    signer = sl.Signer(acct["SecretId"], acct["SecretKey"], f"127.0.0.1:{srv.api_port}")
    created = sl.api_call(srv.api_port, signer, "CreateEmailIdentity", {"EmailIdentity": SENDER_DOMAIN, "DKIMOption": 1})
    zone.remove_domain(SENDER_DOMAIN)  # an earlier round's records (each round has a fresh store and keys)
    publish(zone, created["Attributes"])
    upd = sl.api_call(srv.api_port, signer, "UpdateEmailIdentity", {"EmailIdentity": SENDER_DOMAIN})
    if upd.get("VerifiedForSendingStatus") is not True:
        raise SystemExit(f"{SENDER_DOMAIN} not verified: {upd}")
    sl.api_call(srv.api_port, signer, "CreateEmailAddress", {"EmailAddress": SENDER})
    level = json.loads(srv.cli("domain", "update", "--domain", SENDER_DOMAIN, "--reputation-level", "20"))
    return {"app_id": acct["AppId"], "daily_quota": level.get("DailyQuota")}


def first_dumped_message(dump: Path) -> bytes:
    """The first message of an smtp-sink dump, without smtp-sink's own X-* and Received headers,
    with CRLF line ends (what the sink received, as far as DKIM is concerned)."""
    try:
        with open(dump, "rb") as f:
            data = f.read(400_000)
    except FileNotFoundError:
        return b""
    parts = re.split(rb"(?m)^(?=X-Client-Addr: )", data)
    msg = next((p for p in parts if p.strip()), b"")
    lines = msg.split(b"\n")
    i = 0
    while i < len(lines) and re.match(rb"X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): ", lines[i]):
        i += 1
    if i < len(lines) and lines[i].startswith(b"Received: from"):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\r\n".join(lines[i:]).rstrip(b"\r\n") + b"\r\n"


def count_signed(dump: Path) -> int:
    try:
        return len(re.findall(rb"(?m)^DKIM-Signature:", dump.read_bytes()))
    except FileNotFoundError:
        return 0


def log_counts(path: Path) -> dict:
    """How many of each interesting line Sesame logged (refusals, deferrals, errors)."""
    out = {"queued": 0, "refused": 0, "deferred": 0, "WARN": 0, "ERROR": 0}
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return out
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # tracing's colours
    out["queued"] = text.count("SMTP message queued")
    out["refused"] = text.count("SMTP message refused")
    out["deferred"] = text.count("SMTP message deferred")
    out["WARN"] = len(re.findall(r"(?m)^\S+\s+WARN\b", text))
    out["ERROR"] = len(re.findall(r"(?m)^\S+\s+ERROR\b", text))
    errs = [ln for ln in text.splitlines()
            if re.match(r"\S+\s+(WARN|ERROR)\b", ln) or "SMTP message refused" in ln or "SMTP message deferred" in ln]
    out["first_problem"] = errs[0][-400:] if errs else ""
    return out


def sesame_smtp(args, zone: Zone, workdir: Path, rnd: int) -> dict:
    sink = sl.Sink(workdir, f"smtp-sesame-sink-{rnd}")
    srv = sl.Sesame(args.sesame_bin, workdir / f"smtp-sesame-{rnd}", zone, sink.port, ["5s", "30s"])
    srv.cfg["smtp"]["trusted_networks"] = ["127.0.0.1/32"]
    smtp_port = int(srv.cfg["smtp"]["listen"].rsplit(":", 1)[1])
    srv.config.write_text(sl.toml(srv.cfg))
    try:
        srv.start()
        acct = setup_sender(srv, zone)
        if not sl._wait_port(smtp_port, 10, srv.proc):
            raise SystemExit(f"sesame's submission port {smtp_port} is not listening")
        time.sleep(0.5)

        def settle(t0):
            # the sink counts a message before Sesame records it delivered (per delivery, after
            # its batch): how long until the store says so too (bounded)
            deadline = time.monotonic() + 30
            states = srv.delivery_states()
            while states.get(1, 0) < sink.count and time.monotonic() < deadline:
                time.sleep(0.1)
                states = srv.delivery_states()
            st = sl.proc_status(srv.proc.pid)
            return {"states": states, "signed_at_sink": count_signed(sink.dump), "log": log_counts(srv.log_path),
                    "recorded_wall": time.monotonic() - t0 if states.get(1, 0) >= sink.count else None,
                    "vmhwm_mb": st.get("VmHWM", 0) / 1024, "rss_end_mb": st.get("VmRSS", 0) / 1024}

        res = _measure(args, sink, smtp_port, lambda: [srv.proc.pid], f"sesame{rnd}", workdir, settle)
        res["account"] = acct
        raw = first_dumped_message(sink.dump)
        sigs = dkim_signatures(raw, zone) if raw else []
        res["dkim"] = sigs
        res["dkim_summary"] = sl._check_dkim(raw)
        res["dkim_ok"] = bool(sigs) and all(s["ok"] for s in sigs) and "2048 bits" in res["dkim_summary"]
        return res
    finally:
        srv.stop()
        sink.stop()


# --------------------------------------------------------------------------- Postfix


def postfix_smtp(args, workdir: Path, rnd: int) -> dict:
    sink = sl.Sink(workdir, f"smtp-postfix-sink-{rnd}")
    pfx = None
    try:
        pfx = sl.Postfix(workdir / f"smtp-postfix-{rnd}", sink.port, args.concurrency)
        pfx.start()
        time.sleep(0.5)
        res = _measure(args, sink, pfx.port, lambda: [pfx.master_pid], f"postfix{rnd}", workdir,
                       settle=lambda t0: {"left_in_queue": pfx.queue_count()})
        if not res["all_delivered"]:
            res["maillog_tail"] = pfx.maillog()[-1500:]
        return res
    finally:
        if pfx:
            pfx.stop()
        sink.stop()


# --------------------------------------------------------------------------- report


def report(args, rounds: list[tuple[dict | None, dict | None]], notes: list[str]) -> None:
    print()
    print("=" * 96)
    print(f"SMTP submission: Sesame vs Postfix, {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs")
    for n in notes:
        print(f"  {n}")
    src = next((c["source_cmd"] for r in rounds for c in r if c), "")
    print(f"  smtp-source: {src} 127.0.0.1:<port>"
          + (f"  (x{args.smtp_rcpt_domains} processes, one recipient domain each)" if args.smtp_rcpt_domains > 1 else ""))
    print(f"  {args.messages} messages, {args.concurrency} sessions, payload {args.size} B, "
          f"{'one connection per session (-d)' if args.smtp_reuse else 'one connection per message'}; "
          f"sink: Postfix smtp-sink; {len(rounds)} round(s), Postfix then Sesame in each")
    print("-" * 96)

    def f(v, fmt="{:,.0f}"):
        return "-" if v is None else fmt.format(v)

    rows = [("", "Sesame (DKIM 2048)", "Postfix (no DKIM)")]
    for i, (pfx, ses) in enumerate(rounds):
        tag = f"[{i + 1}] " if len(rounds) > 1 else ""
        for label, key, fmt in (("end-to-end msg/s", "e2e_per_s", "{:,.0f}"),
                                ("smtp-source submissions/s", "submit_per_s", "{:,.0f}"),
                                ("end-to-end wall s", "e2e_wall", "{:.2f}"),
                                ("delivered to sink", "delivered", "{:,}"),
                                ("peak RSS MB (sum over the process tree)", "peak_rss_mb", "{:.1f}"),
                                ("peak PSS MB", "peak_pss_mb", "{:.1f}")):
            rows.append((tag + label, f(ses and ses.get(key), fmt), f(pfx and pfx.get(key), fmt)))
        if len(rounds) == 1 or i == len(rounds) - 1:
            rows.append((tag + "processes (peak)", f(ses and ses["peak_procs"], "{}"), f(pfx and pfx["peak_procs"], "{}")))
            rows.append((tag + "Sesame VmHWM MB", f(ses and ses.get("vmhwm_mb"), "{:.1f}"), "-"))
            rows.append((tag + "server CPU s (until submitted / delivered)",
                         f"{ses['cpu_submit']:.1f} / {ses['cpu_all']:.1f}" if ses else "-",
                         f"{pfx['cpu_submit']:.1f} / {pfx['cpu_all']:.1f}" if pfx else "-"))
            rows.append((tag + "server CPU ms per message", f(ses and ses["cpu_ms_per_msg"], "{:.2f}"),
                         f(pfx and pfx["cpu_ms_per_msg"], "{:.2f}")))
            rows.append((tag + "smtp-source CPU s", f(ses and ses["client_cpu"], "{:.1f}"), f(pfx and pfx["client_cpu"], "{:.1f}")))
            for q in ("p50", "p99", "max"):
                rows.append((tag + f"idle reply latency {q} ms (MAIL..250 after DATA)",
                             f((ses or {}).get("probe") and ses["probe"][q], "{:.1f}"),
                             f((pfx or {}).get("probe") and pfx["probe"][q], "{:.1f}")))
            rows.append((tag + "avg bytes/msg in sink dump", f(ses and ses["avg_msg_bytes"]), f(pfx and pfx["avg_msg_bytes"])))
    w = [max(len(str(r[i])) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}")
    for i, (pfx, ses) in enumerate(rounds):
        tag = f"[{i + 1}] " if len(rounds) > 1 else ""
        for name, c in (("Sesame", ses), ("Postfix", pfx)):
            if not c:
                continue
            if any(c["source_rc"]) or c["source_stderr"]:
                print(f"{tag}{name}: smtp-source exit codes {c['source_rc']}; stderr: {' | '.join(c['source_stderr'])[-800:]}")
            if not c["all_delivered"]:
                print(f"{tag}{name}: only {c['delivered']} of {args.messages} reached the sink before giving up")
            if c.get("probe") and c["probe"]["errors"]:
                print(f"{tag}{name}: latency probe errors {c['probe']['errors']}")
            if "maillog_tail" in c:
                print(f"{tag}{name} maillog tail:\n{c['maillog_tail']}")
        if ses:
            lg = ses["log"]
            print(f"{tag}Sesame: log says {lg['queued']} queued, {lg['refused']} refused, {lg['deferred']} deferred, "
                  f"{lg['WARN']} WARN, {lg['ERROR']} ERROR" + (f"; first: {lg['first_problem']}" if lg["first_problem"] else ""))
            rec = ses.get("recorded_wall")
            print(f"{tag}Sesame: deliveries by DeliverStatus {ses['states']} (1 = delivered; all recorded "
                  + (f"{rec:.2f} s after the start" if rec else "NOT within 30 s") + "); "
                  f"{ses['signed_at_sink']} DKIM-Signature "
                  f"headers at the sink; first message: {ses['dkim_summary']}; dkimpy: "
                  + (", ".join(f"d={s['d']} s={s['s']} a={s['a']} {'valid' if s['ok'] else 'INVALID ' + str(s['error'])}"
                               for s in ses["dkim"]) or "no signature"))
        if pfx:
            print(f"{tag}Postfix: left in queue {pfx['left_in_queue']}")
    print("-" * 96)
    ses_rates = [s["e2e_per_s"] for _, s in rounds if s]
    pfx_rates = [p["e2e_per_s"] for p, _ in rounds if p]
    if ses_rates and pfx_rates:
        s, p = statistics.median(ses_rates), statistics.median(pfx_rates)
        ok = s >= 2 * p and all(x["all_delivered"] for r in rounds for x in r if x) and all(
            x["dkim_ok"] for _, x in rounds if x)
        how = "median of rounds: " if len(rounds) > 1 else ""
        print(f"Goal: [{'MET' if ok else 'NOT MET'}] Sesame end-to-end (RSA-2048 DKIM) >= 2x plain Postfix: "
              f"{how}{s:,.0f} vs 2 x {p:,.0f} = {2 * p:,.0f} msg/s -> Sesame/Postfix = {s / max(p, 1e-9):.2f}x")
        if len(rounds) > 1:
            ratios = [a["e2e_per_s"] / max(b["e2e_per_s"], 1e-9) for b, a in rounds if a and b]
            print("  per round: " + ", ".join(f"{r:.2f}x" for r in ratios) + f" (median {statistics.median(ratios):.2f}x)")
    print("=" * 96)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sesame-bin", default=str(sl.REPO / "target" / "release" / "sesame"))
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=20, help="smtp-source sessions in parallel (-s)")
    ap.add_argument("--size", type=int, default=2048, help="smtp-source payload bytes (-l)")
    ap.add_argument("--stall", type=float, default=30, help="give up when no message arrives for this long")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--smtp-rcpt-domains", type=int, default=1,
                    help="K smtp-source processes at once, each to its own recipient domain (default 1)")
    ap.add_argument("--smtp-rounds", type=int, default=1, help="repeat Postfix-then-Sesame; the goal uses the medians")
    ap.add_argument("--smtp-reuse", action="store_true", help="smtp-source -d: several messages per connection")
    ap.add_argument("--smtp-probe", type=int, default=100,
                    help="after the load, time this many sequential smtplib submissions (reply latency); 0 = none")
    ap.add_argument("--phases", default="smtp", help="runs only when it names smtp (bench/run passes it on)")
    args, rest = ap.parse_known_args()
    # bench/run stops us with TERM: unwind through the finally blocks that stop what we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if "smtp" not in args.phases.split(","):
        return
    if rest:
        log(f"smtp_load: ignoring options of the other phases: {' '.join(rest)}")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    notes = [f"before: {sl.load_note()}"]
    zone = Zone()
    zone.start()
    rounds = []
    try:
        for rnd in range(1, max(1, args.smtp_rounds) + 1):
            pfx = postfix_smtp(args, workdir, rnd)
            log(f"postfix: {pfx['e2e_per_s']:.0f} msg/s end to end, {pfx['submit_per_s']:.0f} submitted/s")
            ses = sesame_smtp(args, zone, workdir, rnd)
            log(f"sesame: {ses['e2e_per_s']:.0f} msg/s end to end, {ses['submit_per_s']:.0f} submitted/s")
            rounds.append((pfx, ses))
    finally:
        zone.stop()
    notes.append(f"after:  {sl.load_note()}")
    report(args, rounds, notes)


if __name__ == "__main__":
    main()
