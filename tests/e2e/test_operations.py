"""Operations (docs/operations.md): /healthz, /readyz and /metrics on the API listener, JSON logs
that follow a message by its MessageId, the retention job, `sesame backup` / `sesame restore`
under load, one server per SQLite store, and an upgraded binary starting on an older store.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from helpers import call, ready_sender, send, sink_domain, statuses, wait_deliver_status, wait_until

ON_PG = bool(os.environ.get("SESAME_TEST_DATABASE_URL"))


def http_get(port: int, path: str, headers: dict | None = None) -> tuple[int, str, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), {k.lower(): v for k, v in e.headers.items()}


def scrape(srv, token: str | None = None) -> dict[str, float]:
    """`/metrics` as {series: value}, e.g. {'sesame_queue_depth': 0.0, ...}."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, body, hdrs = http_get(srv.api_port, "/metrics", headers)
    assert status == 200, body
    assert hdrs["content-type"].startswith("text/plain"), hdrs
    out = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        out[series] = float(value)
    return out


def metric(m: dict[str, float], series: str) -> float:
    return m.get(series, 0.0)


def db_query(srv, sql: str) -> list[tuple]:
    """Runs a read query on the server's store (SQLite file or PostgreSQL database)."""
    if srv.db.name is None:
        path = srv.db.url.removeprefix("sqlite://")
        con = sqlite3.connect(path, timeout=10)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    r = subprocess.run(["psql", srv.db.url, "-AtF", "\t", "-c", sql], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [tuple(line.split("\t")) for line in r.stdout.splitlines() if line]


# --------------------------------------------------------------------------- health and metrics


def test_health_ready_and_metrics_move_with_traffic(make_sending_server, dns):
    srv = make_sending_server(name="metrics")
    status, body, _ = http_get(srv.api_port, "/healthz")
    assert (status, body.strip()) == (200, "ok")
    status, body, hdrs = http_get(srv.api_port, "/readyz")
    ready = json.loads(body)
    assert status == 200 and ready == {"ready": True, "storage": "ok", "listeners": "ok", "queue": "ok"}, body

    acc = srv.account()
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    rd = sink_domain(dns, "metrics")
    before = scrape(srv)
    to = f"m-{uuid.uuid4().hex[:6]}@{rd}"
    mid = send(c, sender, to, tid)
    wait_deliver_status(c, mid, to, 1)
    # An error answer is counted under its code; an unknown action name never becomes a label.
    with pytest.raises(Exception):
        call(c, "SendEmail", {"FromEmailAddress": sender})
    # An SMTP session and a failed AUTH.
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as s:
        s.ehlo("metrics.test")
        s.starttls()
        s.ehlo("metrics.test")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(sender, "not-the-password")

    def moved():
        after = scrape(srv)
        d = lambda series: metric(after, series) - metric(before, series)  # noqa: E731
        checks = {
            "send ok": d('sesame_api_requests_total{action="SendEmail",code="OK"}') == 1,
            "send error": any(k.startswith('sesame_api_requests_total{action="SendEmail",code="')
                              and 'code="OK"' not in k and d(k) >= 1 for k in after),
            "accepted": d('sesame_messages_accepted_total{source="api"}') == 1,
            "recipients": d('sesame_recipients_accepted_total{source="api"}') == 1,
            "delivered": d('sesame_deliveries_total{result="delivered"}') >= 1,
            "session": d('sesame_delivery_sessions_total{result="ok"}') >= 1,
            "latency": d('sesame_api_request_duration_seconds_count{action="SendEmail"}') == 2,
            "smtp": d('sesame_smtp_sessions_total{role="submission"}') >= 1,
            "auth": d("sesame_smtp_auth_failures_total") >= 1,
            "storage": metric(after, 'sesame_storage_operation_duration_seconds_count{operation="lease"}') > 0,
        }
        failing[:] = [k for k, ok in checks.items() if not ok]
        return after if not failing else None

    failing: list[str] = []
    try:
        after = wait_until(moved, 10, 0.2, "metrics to move")
    except AssertionError:
        raise AssertionError(f"metrics that did not move: {failing}") from None
    assert "sesame_queue_depth" in after and "sesame_queue_oldest_age_seconds" in after
    assert not any('action="' in k and "NoSuchAction" in k for k in after)


def test_queue_depth_per_domain_while_mail_waits(make_sending_server, sink, dns):
    srv = make_sending_server(name="depth", retry_schedule=["1h"], max_queue_lifetime="5d")
    acc = srv.account()
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    rd = sink_domain(dns, "depth")
    to = f"defer-later@{rd}"
    sink.set_defer(to, 1)  # the first try is deferred (451): the retry waits an hour
    mid = send(c, sender, to, tid)
    wait_deliver_status(c, mid, to, 8)
    m = scrape(srv)
    assert metric(m, "sesame_queue_depth") >= 1
    assert metric(m, f'sesame_queue_depth_by_domain{{domain="{rd}"}}') == 1
    assert metric(m, 'sesame_deliveries_total{result="deferred"}') >= 1


def test_metrics_token_and_switch(sesame_factory):
    srv = sesame_factory({"metrics": {"token": "scrape-me"}}, name="token")
    status, _, hdrs = http_get(srv.api_port, "/metrics")
    assert status == 401 and hdrs.get("www-authenticate") == "Bearer"
    assert http_get(srv.api_port, "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
    assert "sesame_queue_depth 0" in http_get(srv.api_port, "/metrics",
                                              {"Authorization": "Bearer scrape-me"})[1]
    assert "scrape-me" not in srv.log()
    off = sesame_factory({"metrics": {"enabled": False}}, name="nometrics")
    assert http_get(off.api_port, "/metrics")[0] == 404
    assert http_get(off.api_port, "/healthz")[0] == 200


@pytest.mark.skipif(not ON_PG, reason="an SQLite file cannot vanish under an open server; PostgreSQL can")
def test_readyz_fails_when_the_database_is_gone(sesame_factory):
    srv = sesame_factory(name="gone")
    assert http_get(srv.api_port, "/readyz")[0] == 200
    srv.db.drop()  # DROP DATABASE ... WITH (FORCE): the server's connections are cut
    status, body, _ = http_get(srv.api_port, "/readyz")
    assert status == 503, body
    ready = json.loads(body)
    assert ready["ready"] is False and ready["storage"].startswith("failed"), ready
    assert http_get(srv.api_port, "/healthz")[0] == 200  # alive, just not ready


# --------------------------------------------------------------------------- logs


def test_json_logs_follow_a_message_and_hold_no_secrets(make_sending_server, dns):
    srv = make_sending_server({"log": {"format": "json"}}, name="jsonlog")
    acc = srv.account()
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    call(c, "UpdateEmailSmtpPassWord", {"EmailAddress": sender, "Password": "Sm7pPassw0rdX"})
    rd = sink_domain(dns, "jsonlog")
    to = f"j-{uuid.uuid4().hex[:6]}@{rd}"
    mid = send(c, sender, to, tid)
    wait_deliver_status(c, mid, to, 1)

    def lines():
        out = []
        for line in srv.log().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))  # every log line is one JSON object
        return out

    def followed():
        mine = [rec for rec in lines() if rec.get("message_id") == mid]
        msgs = {rec.get("message") for rec in mine}
        return mine if {"message accepted", "delivery"} <= msgs else None

    mine = wait_until(followed, 10, 0.2, "log lines of the message")
    delivery = next(rec for rec in mine if rec["message"] == "delivery")
    assert delivery["result"] == "delivered" and delivery["recipient"] == to
    assert delivery["level"] == "INFO" and "timestamp" in delivery
    api = [rec for rec in lines() if rec.get("message") == "api request" and rec.get("action") == "SendEmail"]
    assert api and all(rec.get("request_id") for rec in api)
    log = srv.log()
    for secret in (acc.secret_key, "Sm7pPassw0rdX"):
        assert secret not in log


def test_a_client_cannot_forge_log_lines(sesame_factory):
    srv = sesame_factory(name="forge")
    body = urllib.parse.urlencode({"Action": "Nope\nFORGED sesame ready", "Version": "2020-10-02",
                                   "SecretId": "AKIDx", "Nonce": "1", "Timestamp": "1",
                                   "Signature": "x"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{srv.api_port}/", data=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert "Error" in json.loads(r.read())["Response"]
    wait_until(lambda: "api request" in srv.log().split("sesame ready", 1)[1], 5, 0.1, "the request's line")
    assert not any(line.startswith("FORGED") for line in srv.log().splitlines())
    assert 'action="unknown"' in srv.log() and r'requested="Nope\nFORGED sesame ready"' in srv.log()


# --------------------------------------------------------------------------- retention


def test_retention_purges_what_is_old_and_keeps_what_is_not(make_sending_server, dns):
    srv = make_sending_server({"retention": {"bodies": "2s", "messages": "6s", "interval": "1s"}},
                              name="retention")
    acc = srv.account()
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    rd = sink_domain(dns, "retention")
    old = f"old@{rd}"
    mid_old = send(c, sender, old, tid)
    wait_deliver_status(c, mid_old, old, 1)
    wait_until(lambda: not statuses(c, mid_old), 20, 0.5, "the old message's status to be purged")
    assert not db_query(srv, f"SELECT id FROM messages WHERE message_id = '{mid_old}'")

    new = f"new@{rd}"
    mid_new = send(c, sender, new, tid)
    wait_deliver_status(c, mid_new, new, 1)

    def body_emptied():
        rows = db_query(srv, f"SELECT length(body) FROM messages WHERE message_id = '{mid_new}'")
        return rows and int(rows[0][0]) == 0

    wait_until(body_emptied, 15, 0.2, "the new message's body to be emptied")
    # The body went, the status stays until `messages` is up.
    row = statuses(c, mid_new)
    assert row and row[0]["DeliverStatus"] == 1, row
    m = scrape(srv)
    assert metric(m, 'sesame_retention_purged_total{result="bodies"}') >= 2
    assert metric(m, 'sesame_retention_purged_total{result="messages"}') >= 1


def test_retention_settings_are_checked(sesame_factory):
    srv = sesame_factory({"retention": {"bodies": "40d", "messages": "30d"}}, name="badret", start=False)
    r = subprocess.run([str(srv_bin()), "serve", "--config", str(srv.config_path)], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "retention.bodies" in r.stderr, r.stderr


def srv_bin():
    from conftest import SESAME_BIN
    return SESAME_BIN


# --------------------------------------------------------------------------- backup and restore


@pytest.mark.skipif(ON_PG, reason="sesame backup copies SQLite stores; PostgreSQL uses pg_dump")
def test_backup_under_load_restores_the_same_statuses(make_sending_server, dns, tmp_path):
    srv = make_sending_server(name="backup")
    acc = srv.account()
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    rd = sink_domain(dns, "backup")

    sent: list[tuple[str, str, float]] = []  # (MessageId, recipient, acknowledged at)
    stop = threading.Event()

    def load():
        client = srv.client(acc)
        i = 0
        while not stop.is_set() and i < 400:
            to = f"b{i:04d}@{rd}"
            sent.append((send(client, sender, to, tid), to, time.monotonic()))
            i += 1

    t = threading.Thread(target=load)
    t.start()
    wait_until(lambda: len(sent) >= 20, 20, 0.05, "some load")
    backup = tmp_path / "sesame-backup.db"
    started = time.monotonic()
    out = json.loads(srv.cli("backup", "--to", str(backup)).stdout)
    stop.set()
    t.join(30)
    assert out["backup"] == str(backup) and out["bytes"] > 0
    assert (tmp_path / "sesame-backup.db.key").read_text() == (srv.dir / "sesame.key").read_text()
    assert srv.cli("backup", "--to", str(backup), check=False).returncode != 0  # never overwrites
    before_backup = [(mid, to) for mid, to, at in sent if at < started]
    assert len(before_backup) >= 20
    for mid, to in before_backup:
        wait_deliver_status(c, mid, to, 1)

    # The server holds the store: neither a restore nor a second server may touch it.
    r = srv.cli("restore", "--from", str(backup), check=False)
    assert r.returncode != 0 and "lock" in r.stderr and "stop" in r.stderr, r.stderr
    second = subprocess.run([str(srv_bin()), "serve", "--config", str(srv.config_path)], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert second.returncode != 0 and "another sesame serve" in second.stderr, second.stderr

    assert srv.stop() == 0
    out = json.loads(srv.cli("restore", "--from", str(backup)).stdout)
    assert out["previous"] and out["previous"].endswith(".before-restore")
    srv.start()
    # Everything acknowledged before the backup began is in the restored store, and ends
    # delivered (a message still queued in the snapshot is delivered again: at-least-once).
    for mid, to in before_backup:
        wait_deliver_status(c, mid, to, 1, timeout=30)
    # The API key and the DKIM key (sealed with the server key) still work after the restore.
    mid = send(c, sender, f"after@{rd}", tid)
    wait_deliver_status(c, mid, f"after@{rd}", 1)


@pytest.mark.skipif(not ON_PG, reason="the PostgreSQL answer of sesame backup")
def test_backup_on_postgres_points_to_pg_dump(sesame_factory, tmp_path):
    srv = sesame_factory(name="pgbackup")
    r = srv.cli("backup", "--to", str(tmp_path / "x.db"), check=False)
    assert r.returncode != 0 and "pg_dump" in r.stderr, r.stderr


@pytest.mark.skipif(ON_PG, reason="edits the SQLite file by hand to make it look older")
def test_upgraded_binary_starts_on_an_older_store(make_sending_server, dns):
    srv = make_sending_server(name="upgrade")
    acc = srv.account()
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    rd = sink_domain(dns, "upgrade")
    mid = send(c, sender, f"u@{rd}", tid)
    wait_deliver_status(c, mid, f"u@{rd}", 1)
    assert srv.stop() == 0
    # Make the store look as a binary before migration 0010 left it.
    path = srv.db.url.removeprefix("sqlite://")
    con = sqlite3.connect(path)
    newest = con.execute("SELECT MAX(version) FROM _sqlx_migrations").fetchone()[0]
    assert newest >= 10
    for index in ("messages_created", "messages_body_kept", "complaints_time", "daily_stats_day",
                  "event_outbox_created"):
        con.execute(f"DROP INDEX {index}")
    con.execute("DELETE FROM _sqlx_migrations WHERE version = 10")
    con.commit()
    con.close()
    srv.start()
    assert statuses(c, mid)[0]["DeliverStatus"] == 1
    con = sqlite3.connect(path)
    assert con.execute("SELECT MAX(version) FROM _sqlx_migrations").fetchone()[0] == newest
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    con.close()
    assert "messages_body_kept" in names
    assert re.search(r"sesame ready", srv.log())
