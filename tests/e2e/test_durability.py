"""Crash safety of the sending pipeline (docs/sending.md: SendEmail answers "only after the message
and one delivery row per recipient are committed").

A sending server gets ~300 SendEmail calls from several threads; while deliveries to the SMTP sink
are in flight it is SIGKILLed, then started again on the same storage. Every message whose
SendEmail returned a MessageId must reach the sink at least once (duplicates are allowed), and
end with DeliverStatus 1. On SQLite it runs with each `[storage] sqlite_synchronous` (the
default "normal", and "full": every commit fsync'd).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
import time
import uuid

import pytest

from helpers import api_today, call, ready_sender, send, sink_domain, wait_until

N_MESSAGES = 300
THREADS = 6
SEND_PHASE = 25.0      # seconds at most before the kill
DELIVER_AFTER = 40.0   # seconds at most for the restarted server to deliver the rest


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_sigkill_loses_no_accepted_message(make_sending_server, sink, dns, sync):
    if sync != "normal" and os.environ.get("SESAME_TEST_DATABASE_URL"):
        pytest.skip("sqlite_synchronous applies to SQLite only")
    sink.delay = 0.02  # each DATA takes a moment, so deliveries are in flight at the kill
    srv = make_sending_server({"storage": {"sqlite_synchronous": sync}}, name=f"crash-{sync}",
                              retry_schedule=["1s"], max_queue_lifetime="10m")
    acc = srv.account("crash")
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    rd = sink_domain(dns, f"crash-{sync}")

    lock = threading.Lock()
    accepted: dict[str, tuple[str, str]] = {}  # recipient -> (MessageId, subject)
    errors: list[tuple[float, str]] = []
    counter = itertools.count()
    killed = threading.Event()

    def worker():
        client = srv.client(acc)
        while not killed.is_set():
            i = next(counter)
            if i >= N_MESSAGES:
                return
            to = f"ok-{i:04d}-{uuid.uuid4().hex[:6]}@{rd}"
            subject = f"crash test {i}"
            try:
                mid = send(client, sender, to, tid, subject=subject)
            except Exception as e:  # connection refused/reset once the server is gone
                with lock:
                    errors.append((time.monotonic(), repr(e)[:300]))
                if killed.is_set():
                    return
                continue
            with lock:
                accepted[to] = (mid, subject)

    def arrived() -> set[str]:
        return {r.lower() for m in sink.all() for r in m.rcpt_tos if r.lower().endswith("@" + rd)}

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()

    # Kill once some deliveries are done and more are accepted than delivered.
    deadline = time.monotonic() + SEND_PHASE
    while time.monotonic() < deadline and any(t.is_alive() for t in threads):
        with lock:
            n_acc = len(accepted)
        n_arr = len(arrived())
        if n_arr >= 10 and n_acc - n_arr >= 10 and n_acc >= N_MESSAGES // 3:
            break
        time.sleep(0.01)
    with lock:
        n_acc_at_kill = len(accepted)
    n_arr_at_kill = len(arrived())
    kill_time = time.monotonic()
    killed.set()
    srv.kill()
    for t in threads:
        t.join(40)
    assert not any(t.is_alive() for t in threads), "sender threads hang after the kill"

    before_kill = [e for at, e in errors if at < kill_time]
    assert not before_kill, f"SendEmail failed while the server was up: {before_kill[:5]}"
    assert accepted, "no SendEmail call was accepted"

    srv.start()
    with lock:
        want = dict(accepted)

    def missing():
        return sorted(set(want) - arrived())

    try:
        wait_until(lambda: not missing(), DELIVER_AFTER, 0.2, "every accepted message at the sink")
    except AssertionError:
        miss = missing()
        raise AssertionError(
            f"{len(miss)} of {len(want)} accepted messages never arrived after the restart "
            f"(at the kill: {n_acc_at_kill} accepted, {n_arr_at_kill} delivered); e.g. "
            f"{[(a, want[a][0]) for a in miss[:5]]}\n{srv.log()[-3000:]}") from None

    # Every copy is the message that was accepted for that recipient.
    for m in sink.all():
        for r in m.rcpt_tos:
            if r.lower() in want:
                assert m.message["Subject"] == want[r.lower()][1], (r, m.message["Subject"])

    # ... and the statuses agree: DeliverStatus 1 for every accepted recipient.
    by_mid = {mid: to for to, (mid, _) in want.items()}

    def undelivered():
        seen = {}
        for day in (api_today(-1), api_today()):  # the day may turn during the test
            offset = 0
            while True:
                rows = call(c, "GetSendEmailStatus", {"RequestDate": day, "Offset": offset, "Limit": 100}) \
                    .get("EmailStatusList") or []
                for r in rows:
                    seen[(r["MessageId"], r["ToEmailAddress"].lower())] = r["DeliverStatus"]
                if len(rows) < 100:
                    break
                offset += 100
        return [(mid, to) for mid, to in by_mid.items() if seen.get((mid, to)) != 1]

    try:
        wait_until(lambda: not undelivered(), 20, 0.5, "DeliverStatus 1 for every accepted message")
    except AssertionError:
        bad = undelivered()
        raise AssertionError(f"{len(bad)} accepted messages do not show DeliverStatus 1: {bad[:5]}") from None


def test_another_process_closing_the_database_splits_nothing(sesame_factory):
    """SQLite's locks belong to the process, and closing any descriptor of the database drops
    them all. The server syncs the database file after each background copy of the log; it
    once did so through a descriptor it opened and closed, and lost its shared lock: the next
    process to close its last connection (here Python's sqlite3, then a `sesame` command)
    took the exclusive lock and deleted the log and its index under the server, which went on
    alone with unlinked copies and never saw another process's commits again."""
    if os.environ.get("SESAME_TEST_DATABASE_URL"):
        pytest.skip("SQLite's locks only")
    srv = sesame_factory(name="locks")
    path = srv.db.url.removeprefix("sqlite://")
    for _ in range(3):
        time.sleep(1.2)  # a round of the server's log keeper (every second) syncs the file
        con = sqlite3.connect(path, timeout=10)
        assert con.execute("SELECT count(*) FROM accounts").fetchone()[0] >= 0
        con.close()
    fds = [os.readlink(f"/proc/{srv.proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{srv.proc.pid}/fd")]
    assert not [f for f in fds if "sesame.db" in f and f.endswith("(deleted)")], fds
    assert os.path.exists(path + "-wal") and os.path.exists(path + "-shm")
    # A commit of another process is seen at once.
    acc = srv.account("locks")
    assert call(srv.client(acc), "ListEmailIdentities", {})["EmailIdentities"] == []
