"""Events end to end (docs/webhooks.md): callback addresses, signed webhook POSTs to a real HTTP
receiver in this process, retries through the durable outbox, and GetStatisticsReport.

Deliveries go to the SMTP sink (see test_send_email.py): ok* 250, bounce* 550 5.1.1, defer* 451.
The server retries webhooks on a short schedule (`[events] retry_schedule = ["1s", "2s"]`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from helpers import (RETURN_PATH_DOMAIN, api_today, call, create_template, ready_sender, send, sink_domain,
                     unique_domain, wait_deliver_status, wait_until)

EVENT_IDS = {"delivered": 1, "dropped": 2, "bounce": 3, "open": 4, "click": 5, "spamreport": 6,
             "unsubscribe": 7, "deferred": 8}
COMMON_FIELDS = {"event", "eventid", "email", "bulkId", "messageId", "timestamp", "sentTimestamp", "username",
                 "from", "fromDomain", "templateId", "subject"}


# --------------------------------------------------------------------------- the receiver


class Receiver:
    """An HTTP server in this process that records every POST. Per path it can fail the first
    N requests (HTTP 500) or answer slowly."""

    def __init__(self):
        self.lock = threading.Lock()
        self.posts: list[dict] = []
        self.fail_first: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path
                with receiver.lock:
                    n_before = sum(1 for p in receiver.posts if p["path"] == path)
                    receiver.posts.append({"path": path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                           "raw": body, "at": time.time()})
                    fail = n_before < receiver.fail_first.get(path, 0)
                    delay = receiver.delay.get(path, 0.0)
                if delay:
                    time.sleep(delay)
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[dict]:
        with self.lock:
            return [p for p in self.posts if p["path"] == path]

    def events(self, path: str, email: str | None = None, event: str | None = None) -> list[dict]:
        out = []
        for p in self.at(path):
            body = json.loads(p["raw"])
            if (email is None or body.get("email", "").lower() == email.lower()) and \
                    (event is None or body.get("event") == event):
                out.append({**p, "body": body})
        return out

    def wait_event(self, path: str, email: str, event: str, timeout: float = 20.0) -> dict:
        return wait_until(lambda: (self.events(path, email, event) or [None])[0], timeout, 0.1,
                          f"a {event} event for {email} at {path}")


@pytest.fixture(scope="module")
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def srv(make_sending_server):
    return make_sending_server({"events": {"retry_schedule": ["1s", "2s"]}}, name="events")


@pytest.fixture(scope="module")
def rd(dns):
    return sink_domain(dns)


def ext(client, action: str, params: dict | None = None) -> dict:
    """An extension action (not in the SDK's models) through the SDK's generic call."""
    return client.call_json(action, params or {})["Response"]


def ext_error(client, action: str, params: dict | None = None) -> TencentCloudSDKException:
    try:
        got = ext(client, action, params)
    except TencentCloudSDKException as e:
        return e
    raise AssertionError(f"{action}({params}) succeeded: {got}")


def new_account(srv, receiver, path: str | None = None):
    """(client, app id, signing secret, callback path) of a fresh account with an account-level
    callback at a fresh path of the receiver."""
    acc = srv.account()
    c = srv.client(acc)
    path = path or f"/cb/{uuid.uuid4().hex[:8]}"
    r = ext(c, "CreateCallbackAddress", {"CallbackUrl": receiver.url(path)})
    secret = r.get("SigningSecret")
    assert secret, f"the first callback shows the signing secret: {r}"
    return c, acc.app_id, secret, path


def rcpt(rd: str, kind: str = "ok") -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}@{rd}"


def check_signature(post: dict, secret: str) -> None:
    h = post["headers"]
    assert h.get("content-type") == "application/json", h
    assert h.get("user-agent", "").startswith("Sesame-Webhook/"), h
    ts = h["x-sesame-timestamp"]
    assert abs(int(ts) - time.time()) < 120, ts
    want = "v1=" + hmac.new(secret.encode(), ts.encode() + b"." + post["raw"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h["x-sesame-signature"], want), (h["x-sesame-signature"], want)
    assert h.get("x-sesame-event-id", "").isdigit(), h


def check_body(body: dict, event: str, *, email: str, mid: str, app_id: int, sender: str, tid: int) -> None:
    assert COMMON_FIELDS <= set(body), f"missing {COMMON_FIELDS - set(body)} in {body}"
    assert body["event"] == event and body["eventid"] == EVENT_IDS[event], body
    assert body["email"].lower() == email.lower(), body
    assert body["bulkId"] == mid, body
    assert body["username"] == str(app_id), body
    assert body["from"] == sender and body["fromDomain"] == sender.split("@")[1], body
    assert body["templateId"] == tid, body
    assert body["subject"] == "Hello Ann", body
    assert body["messageId"] and "<" not in body["messageId"], body
    assert isinstance(body["timestamp"], int) and isinstance(body["sentTimestamp"], int), body
    assert body["timestamp"] >= body["sentTimestamp"] > time.time() - 600, body


def stats(client, start: str, end: str, **filters) -> dict:
    return call(client, "GetStatisticsReport", {"StartDate": start, "EndDate": end, **filters})


# --------------------------------------------------------------------------- callback actions


def test_secret_is_shown_once_and_rotates(srv, receiver):
    c, _, secret, path = new_account(srv, receiver)
    assert secret.startswith("whsec_") and len(secret) >= 40
    again = ext(c, "CreateCallbackAddress", {"CallbackUrl": receiver.url(path + "/v2")})
    assert "SigningSecret" not in again, "the secret is shown only with the account's first callback"
    assert ext(c, "ListCallbackAddresses")["CallbackAddresses"] == [
        {"EmailAddress": "", "CallbackUrl": receiver.url(path + "/v2")}], "a second call replaces"
    rotated = ext(c, "RotateCallbackSecret")["SigningSecret"]
    assert rotated != secret and rotated.startswith("whsec_")


def test_callback_url_validation(srv):
    c = srv.client(srv.account())
    for bad in ["ftp://hooks.test/x", "https://user:pw@hooks.test/x", "https://user@hooks.test/",
                "hooks.test/x", "https:///x", "http://", "javascript:alert(1)", "",
                "https://hooks.test/" + "a" * 1100]:
        e = ext_error(c, "CreateCallbackAddress", {"CallbackUrl": bad})
        assert e.code == "InvalidParameterValue", (bad, e.code, e.message)
        assert "CallbackUrl" in e.message, e.message
    e = ext_error(c, "CreateCallbackAddress", {})
    assert e.code == "MissingParameter", e.code
    assert ext(c, "ListCallbackAddresses")["CallbackAddresses"] == []


def test_sender_level_callback_needs_own_sender_and_tenants_are_apart(srv, receiver):
    ca, cb = srv.client(srv.account()), srv.client(srv.account())
    sender_a, _ = ready_sender(srv, ca)
    e = ext_error(cb, "CreateCallbackAddress", {"CallbackUrl": receiver.url("/b"), "EmailAddress": sender_a})
    assert e.code == "InvalidParameterValue.NoSuchSender", (e.code, e.message)
    e = ext_error(ca, "CreateCallbackAddress", {"CallbackUrl": receiver.url("/a"),
                                                "EmailAddress": f"nobody@{unique_domain()}"})
    assert e.code == "InvalidParameterValue.NoSuchSender", (e.code, e.message)

    ext(ca, "CreateCallbackAddress", {"CallbackUrl": receiver.url("/a-all")})
    ext(ca, "CreateCallbackAddress", {"CallbackUrl": receiver.url("/a-sender"), "EmailAddress": sender_a})
    ext(cb, "CreateCallbackAddress", {"CallbackUrl": receiver.url("/b-all")})
    assert ext(ca, "ListCallbackAddresses")["CallbackAddresses"] == [
        {"EmailAddress": "", "CallbackUrl": receiver.url("/a-all")},
        {"EmailAddress": sender_a, "CallbackUrl": receiver.url("/a-sender")}]
    assert ext(cb, "ListCallbackAddresses")["CallbackAddresses"] == [
        {"EmailAddress": "", "CallbackUrl": receiver.url("/b-all")}]

    # B cannot delete A's callbacks; its own account-level delete leaves A's alone.
    e = ext_error(cb, "DeleteCallbackAddress", {"EmailAddress": sender_a})
    assert e.code == "InvalidParameterValue.NoSuchSender", e.code
    ext(cb, "DeleteCallbackAddress")
    assert ext(cb, "ListCallbackAddresses")["CallbackAddresses"] == []
    assert len(ext(ca, "ListCallbackAddresses")["CallbackAddresses"]) == 2
    ext(ca, "DeleteCallbackAddress", {"EmailAddress": sender_a})
    assert ext(ca, "ListCallbackAddresses")["CallbackAddresses"] == [
        {"EmailAddress": "", "CallbackUrl": receiver.url("/a-all")}]


# --------------------------------------------------------------------------- events


def test_every_delivery_event_arrives_signed(srv, receiver, rd, sink):
    c, app_id, secret, path = new_account(srv, receiver)
    sender, tid = ready_sender(srv, c)
    facts = dict(app_id=app_id, sender=sender, tid=tid)

    ok = rcpt(rd)
    mid = send(c, sender, ok, tid)
    post = receiver.wait_event(path, ok, "delivered")
    check_signature(post, secret)
    check_body(post["body"], "delivered", email=ok, mid=mid, **facts)

    bounced = rcpt(rd, "bounce")
    mid = send(c, sender, bounced, tid)
    post = receiver.wait_event(path, bounced, "bounce")
    check_signature(post, secret)
    check_body(post["body"], "bounce", email=bounced, mid=mid, **facts)
    assert post["body"]["bounceType"] == "hard_bounce", post["body"]
    assert "5.1.1" in post["body"]["reason"], post["body"]

    deferred = rcpt(rd, "defer")
    sink.set_defer(deferred, 1)
    mid = send(c, sender, deferred, tid)
    post = receiver.wait_event(path, deferred, "deferred")
    check_signature(post, secret)
    check_body(post["body"], "deferred", email=deferred, mid=mid, **facts)
    assert "4.3.0" in post["body"]["reason"] or "try again" in post["body"]["reason"], post["body"]
    receiver.wait_event(path, deferred, "delivered")

    # Refused at submit (custom black list) beside an accepted recipient: dropped at once.
    blocked, fine = rcpt(rd), rcpt(rd)
    call(c, "CreateCustomBlacklist", {"Emails": [blocked]})
    mid = send(c, sender, [blocked, fine], tid)
    post = receiver.wait_event(path, blocked, "dropped")
    check_signature(post, secret)
    check_body(post["body"], "dropped", email=blocked, mid=mid, **facts)
    assert post["body"]["reason"], post["body"]
    receiver.wait_event(path, fine, "delivered")

    # Deferred past max_queue_lifetime (6 s): dropped.
    expired = rcpt(rd, "defer")
    sink.set_defer(expired, math.inf)
    mid = send(c, sender, expired, tid)
    post = receiver.wait_event(path, expired, "dropped", timeout=40)
    check_signature(post, secret)
    check_body(post["body"], "dropped", email=expired, mid=mid, **facts)
    assert "gave up" in post["body"]["reason"], post["body"]

    # Each event once (the receiver answered 200 every time).
    ids = [p["headers"]["x-sesame-event-id"] for p in receiver.at(path)]
    assert len(ids) == len(set(ids)), ids


def test_engagement_and_complaint_events_arrive_signed(srv, receiver, rd, sink):
    """open, click and unsubscribe (tracking links fetched by a real HTTP client) and spamreport
    (an ARF report at the inbound listener) reach the callback signed, with link and useragent."""
    import re

    from test_inbound import arf, inbound
    from test_tracking import HTML, TEXT, fetch

    c, app_id, secret, path = new_account(srv, receiver)
    sender, _ = ready_sender(srv, c)
    tid = create_template(c, HTML, TEXT)
    facts = dict(app_id=app_id, sender=sender, tid=tid)
    to = rcpt(rd)
    mid = send(c, sender, to, tid, {"name": "Ann"}, subject="Hello {{name}}", Unsubscribe="2")
    got = sink.wait_message(to)
    html = got.message.get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+\.gif)"', html).group(1)
    click = re.search(r'href="([^"]+/t/c/[^"]+)"', html).group(1).replace("&amp;", "&")
    assert fetch(pixel, ua="Pixel/1.0")[0] == 200
    assert fetch(click, ua="Clicker/2.0")[0] == 302
    assert fetch(got.message["List-Unsubscribe"].strip("<>"), "POST", b"List-Unsubscribe=One-Click")[0] == 200

    post = receiver.wait_event(path, to, "open")
    check_signature(post, secret)
    check_body(post["body"], "open", email=to, mid=mid, **facts)
    assert post["body"]["useragent"] == "Pixel/1.0", post["body"]
    post = receiver.wait_event(path, to, "click")
    check_signature(post, secret)
    check_body(post["body"], "click", email=to, mid=mid, **facts)
    assert post["body"]["link"] == "https://shop.example/offer?id=7&x=1", post["body"]
    assert post["body"]["useragent"] == "Clicker/2.0", post["body"]
    post = receiver.wait_event(path, to, "unsubscribe")
    check_signature(post, secret)
    check_body(post["body"], "unsubscribe", email=to, mid=mid, **facts)

    code, text = inbound(srv, f"fbl@{RETURN_PATH_DOMAIN}", arf(to, sender, got.data),
                         mail_from="feedback@fbl.remote.test")
    assert code == 250, text
    post = receiver.wait_event(path, to, "spamreport")
    check_signature(post, secret)
    check_body(post["body"], "spamreport", email=to, mid=mid, **facts)


def test_failing_receiver_gets_the_event_later(srv, receiver, rd, sink):
    path = f"/flaky/{uuid.uuid4().hex[:8]}"
    receiver.fail_first[path] = 2
    c, _, secret, _ = new_account(srv, receiver, path)
    sender, tid = ready_sender(srv, c)
    to = rcpt(rd)
    send(c, sender, to, tid)
    wait_until(lambda: len(receiver.events(path, to, "delivered")) >= 3, 20, 0.1, "the third try")
    tries = receiver.events(path, to, "delivered")
    assert len({t["headers"]["x-sesame-event-id"] for t in tries}) == 1, "the same event, retried"
    # Steps 1s then 2s; due times are whole Unix seconds, so each wait may be up to 1s shorter.
    assert tries[1]["at"] > tries[0]["at"] and tries[2]["at"] - tries[1]["at"] >= 1.0, tries
    assert tries[2]["at"] - tries[0]["at"] >= 2.0, "retried on the schedule, not at once"
    for t in tries:
        check_signature(t, secret)
    assert [t["raw"] for t in tries] == [tries[0]["raw"]] * 3, "the body is fixed at the event"
    time.sleep(2.5)
    assert len(receiver.events(path, to, "delivered")) == 3, "no more tries after a 2xx"


def test_slow_receiver_does_not_delay_delivery(srv, receiver, rd, sink):
    path = f"/slow/{uuid.uuid4().hex[:8]}"
    receiver.delay[path] = 8.0
    c, _, _, _ = new_account(srv, receiver, path)
    sender, tid = ready_sender(srv, c)
    first = rcpt(rd)
    send(c, sender, first, tid)
    receiver.wait_event(path, first, "delivered")  # the POST is in flight now, for 8 s
    t0 = time.monotonic()
    mids = [(send(c, sender, to, tid), to) for to in (rcpt(rd), rcpt(rd), rcpt(rd))]
    for mid, to in mids:
        wait_deliver_status(c, mid, to, 1, timeout=6)
    assert time.monotonic() - t0 < 6, "mail delivery waited for the webhook receiver"


def test_sender_level_callback_overrides_account_level(srv, receiver, rd, sink):
    c, _, _, account_path = new_account(srv, receiver)
    sender, tid = ready_sender(srv, c)
    other, _ = ready_sender(srv, c)
    sender_path = f"/sender/{uuid.uuid4().hex[:8]}"
    r = ext(c, "CreateCallbackAddress", {"CallbackUrl": receiver.url(sender_path), "EmailAddress": sender})
    assert "SigningSecret" not in r
    a, b = rcpt(rd), rcpt(rd)
    send(c, sender, a, tid)
    send(c, other, b, tid)
    receiver.wait_event(sender_path, a, "delivered")
    receiver.wait_event(account_path, b, "delivered")
    time.sleep(1.5)
    assert receiver.events(account_path, a) == [], "the sender-level callback wins"
    assert receiver.events(sender_path, b) == []


def test_no_callback_no_post(srv, receiver, rd, sink):
    c, _, _, path = new_account(srv, receiver)
    sender, tid = ready_sender(srv, c)
    ext(c, "DeleteCallbackAddress")
    to = rcpt(rd)
    mid = send(c, sender, to, tid)
    wait_deliver_status(c, mid, to, 1)
    time.sleep(1.5)
    assert receiver.at(path) == []


# --------------------------------------------------------------------------- statistics


def test_statistics_match_what_was_sent(srv, receiver, dns, sink):
    c = srv.client(srv.account())
    sender, tid = ready_sender(srv, c)
    other_sender, _ = ready_sender(srv, c)
    domain = sender.split("@")[1]
    rd1, rd2 = sink_domain(dns), sink_domain(dns)
    blocked = rcpt(rd1)
    call(c, "CreateCustomBlacklist", {"Emails": [blocked]})
    sent = [(rcpt(rd1), 1), (rcpt(rd1), 1), (rcpt(rd2), 1), (rcpt(rd1, "bounce"), 3), (rcpt(rd2, "bounce"), 3)]
    mids = [(send(c, sender, to, tid), to, want) for to, want in sent]
    mid = send(c, sender, [blocked, rcpt(rd2)], tid)
    mids.append((mid, blocked, 2))
    send(c, other_sender, rcpt(rd1), tid)  # another sender domain: filtered out below
    for m, to, want in mids:
        if want != 2:
            wait_deliver_status(c, m, to, want)
    wait_until(lambda: stats(c, api_today(), api_today(), Domain=domain)["OverallVolume"]["DeliveredCount"] == 4,
               20, 0.2, "the last delivery counted")

    today = api_today()
    r = stats(c, today, today, Domain=domain)
    assert [v["SendDate"] for v in r["DailyVolumes"]] == [today]
    day = r["DailyVolumes"][0]
    assert (day["RequestCount"], day["AcceptedCount"], day["DeliveredCount"], day["BounceCount"]) == (7, 6, 4, 2), day
    assert (day["OpenedCount"], day["ClickedCount"], day["UnsubscribeCount"]) == (0, 0, 0), day
    assert {k: v for k, v in r["OverallVolume"].items() if k != "SendDate"} == \
        {k: v for k, v in day.items() if k != "SendDate"}

    by_rcpt = stats(c, today, today, Domain=domain, ReceivingMailboxType=rd1)["OverallVolume"]
    assert (by_rcpt["RequestCount"], by_rcpt["AcceptedCount"], by_rcpt["DeliveredCount"],
            by_rcpt["BounceCount"]) == (4, 3, 2, 1), by_rcpt
    everything = stats(c, today, today)["OverallVolume"]
    assert everything["RequestCount"] == 8, everything

    # A range has one entry per day, empty days included.
    r = stats(c, api_today(-2), api_today(1), Domain=domain)
    assert [v["SendDate"] for v in r["DailyVolumes"]] == [api_today(d) for d in (-2, -1, 0, 1)]
    assert r["OverallVolume"]["RequestCount"] == 7
    assert r["DailyVolumes"][0]["RequestCount"] == 0

    # Tenants see only their own figures.
    assert stats(srv.client(srv.account()), today, today)["OverallVolume"]["RequestCount"] == 0


def test_statistics_bad_dates(srv):
    c = srv.client(srv.account())
    for start, end in [("2026-13-01", "2026-12-01"), ("yesterday", api_today()), (api_today(), api_today(-1)),
                       ("2020-01-01", "2026-01-01")]:
        try:
            stats(c, start, end)
        except TencentCloudSDKException as e:
            assert e.code == "InvalidParameterValue.WrongDate", (start, end, e.code)
            continue
        raise AssertionError(f"{start}..{end} accepted")
