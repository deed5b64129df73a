"""Open and click tracking and one-click unsubscribe end to end (docs/tracking.md): a mail
reaches the sink with its open pixel, rewritten links and unsubscribe footer; a real HTTP
client fetches the pixel, follows a link and unsubscribes, and GetSendEmailStatus,
GetStatisticsReport and later sends show it. Forged or altered tokens are refused.
"""

from __future__ import annotations

import email.policy
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from helpers import (api_today, call, create_template, dkim_signatures, expect_error, query_sql, ready_sender, send,
                     sink_domain, status_of, wait_deliver_status, wait_until)

HTML = ('<html><body><p>Hello {{name}}, see <a href="https://shop.example/offer?id=7&amp;x=1">the offer</a> '
        'and <a href="mailto:help@example.com">write to us</a>.</p></body></html>')
TEXT = "Hello {{name}}, see https://shop.example/offer?id=7&x=1"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def fetch(url: str, method: str = "GET", data: bytes | None = None, ua: str = "TestAgent/1.0"):
    """(status, headers, body) without following redirects."""
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, method=method, headers={"User-Agent": ua})
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture(scope="module")
def srv(make_sending_server):
    return make_sending_server(name="tracking")


@pytest.fixture(scope="module")
def acc(srv):
    a = srv.account("tracking")
    return a, srv.client(a)


@pytest.fixture(scope="module")
def snd(srv, acc):
    _, client = acc
    sender, _ = ready_sender(srv, client)
    tid = create_template(client, HTML, TEXT)
    return sender, tid


@pytest.fixture(scope="module")
def rd(dns):
    return sink_domain(dns)


def html_of(received) -> str:
    return received.message.get_body(("html",)).get_content()


def text_of(received) -> str:
    return received.message.get_body(("plain",)).get_content()


def stats(client, domain: str) -> dict:
    r = call(client, "GetStatisticsReport", {"StartDate": api_today(-1), "EndDate": api_today(1),
                                             "ReceivingMailboxType": domain})
    return r["OverallVolume"]


def test_open_pixel_and_click_redirect(srv, acc, snd, rd, sink):
    _, client = acc
    sender, tid = snd
    to = f"ok-{uuid.uuid4().hex[:8]}@{rd}"
    mid = send(client, sender, to, tid, {"name": "Ann"})
    wait_deliver_status(client, mid, to, 1)
    html = html_of(sink.wait_message(to))
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+\.gif)"', html)
    assert pixel, html
    links = re.findall(r'href="([^"]+)"', html)
    tracked = [l for l in links if "/t/c/" in l]
    assert len(tracked) == 1, links
    assert "mailto:help@example.com" in links, "mailto links are left alone"
    assert "shop.example/offer" not in html.replace(urllib.parse.quote("https://shop.example/offer", safe=""), ""), \
        "the original URL only appears inside the tracked link"

    status, headers, body = fetch(pixel.group(1).replace("&amp;", "&"))
    assert status == 200 and headers["Content-Type"] == "image/gif" and body.startswith(b"GIF89a")
    click = tracked[0].replace("&amp;", "&")
    status, headers, _ = fetch(click)
    assert status == 302
    assert headers["Location"] == "https://shop.example/offer?id=7&x=1"
    fetch(click)  # clicks count every time

    row = wait_until(lambda: (lambda r: r if r and r["UserOpened"] and r["UserClicked"] else None)(
        status_of(client, mid, to)), 10, what="UserOpened and UserClicked")
    assert row["UserUnsubscribed"] is False
    volume = stats(client, rd)
    assert volume["OpenedCount"] >= 1 and volume["ClickedCount"] >= 2

    # Forged and altered links.
    token = click.split("/t/c/", 1)[1].split("?", 1)[0]
    base = click.split("/t/c/", 1)[0]
    evil = f"{base}/t/c/{token}?u=" + urllib.parse.quote("https://evil.example/", safe="")
    assert fetch(evil)[0] == 404, "the redirector only goes to URLs that were in the mail"
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert fetch(click.replace(token, flipped))[0] == 404
    assert fetch(pixel.group(1).replace("/t/o/", "/t/o/x"))[0] == 404
    assert fetch(f"{base}/t/o/garbage.gif")[0] == 404


def test_one_click_unsubscribe(srv, acc, snd, rd, sink, dns):
    _, client = acc
    sender, tid = snd
    to = f"ok-{uuid.uuid4().hex[:8]}@{rd}"
    other = f"ok-{uuid.uuid4().hex[:8]}@{rd}"
    mid = send(client, sender, to, tid, {"name": "Bo"}, Unsubscribe="2")
    wait_deliver_status(client, mid, to, 1)
    got = sink.wait_message(to)
    msg = got.message
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in unsubscribe
    assert unsubscribe in html_of(got) and "unsubscribe" in html_of(got)
    assert unsubscribe in text_of(got)
    sigs = dkim_signatures(got.data, dns)
    assert sigs and all(s["ok"] for s in sigs)
    assert all("list-unsubscribe" in s["h"].lower() for s in sigs), "the one-click headers are signed"

    # The page asks first: a GET (a link scanner, a preview) unsubscribes nobody.
    status, headers, body = fetch(unsubscribe)
    assert status == 200 and b"<form" in body and headers["Content-Type"].startswith("text/html")
    assert status_of(client, mid, to)["UserUnsubscribed"] is False
    # RFC 8058 one-click POST.
    status, _, body = fetch(unsubscribe, "POST", b"List-Unsubscribe=One-Click")
    assert status == 200 and to.encode() in body
    wait_until(lambda: status_of(client, mid, to)["UserUnsubscribed"] is True, 10, what="UserUnsubscribed")
    assert stats(client, rd)["UnsubscribeCount"] >= 1

    # Later mail from this sender domain to that recipient is refused (1013).
    expect_error(client, "SendEmail", "FailedOperation.ReceiverHasUnsubscribed",
                 {"FromEmailAddress": sender, "Destination": [to], "Subject": "again",
                  "Template": {"TemplateID": tid, "TemplateData": json.dumps({"name": "Bo"})}})
    mid2 = send(client, sender, [to, other], tid, {"name": "Cy"})
    assert status_of(client, mid2, to)["SendStatus"] == 1013
    wait_deliver_status(client, mid2, other, 1)
    # A second POST changes nothing and still answers.
    assert fetch(unsubscribe, "POST", b"List-Unsubscribe=One-Click")[0] == 200


def test_each_recipient_gets_own_links(srv, acc, snd, rd, sink):
    _, client = acc
    sender, tid = snd
    a, b = (f"ok-{uuid.uuid4().hex[:8]}@{rd}" for _ in range(2))
    mid = send(client, sender, [a, b], tid, {"name": "Di"})
    wait_deliver_status(client, mid, b, 1)
    pa = re.search(r'/t/o/([^"]+)\.gif', html_of(sink.wait_message(a))).group(1)
    pb = re.search(r'/t/o/([^"]+)\.gif', html_of(sink.wait_message(b))).group(1)
    assert pa != pb
    assert sink.wait_message(a).message["To"] == sink.wait_message(b).message["To"]


def test_one_recipient_copy_is_stored_once(srv, acc, snd, rd, sink):
    """A tracked mail to one recipient is written once: its own copy (pixel and links) is the
    message's body, and the delivery keeps no second copy; two recipients keep one each."""
    _, client = acc
    sender, tid = snd
    one = f"ok-{uuid.uuid4().hex[:8]}@{rd}"
    mid = send(client, sender, [one], tid, {"name": "Ed"})
    wait_deliver_status(client, mid, one, 1)
    pixel = re.search(r'/t/o/([^"]+)\.gif', html_of(sink.wait_message(one))).group(1)
    body_hex = "encode(m.body, 'hex')" if srv.db.name else "hex(m.body)"
    rows = query_sql(srv, f"SELECT d.body IS NULL, {body_hex} FROM deliveries d JOIN messages m "
                          f"ON m.id = d.message_row WHERE m.message_id = '{mid}'")
    assert len(rows) == 1
    own_body_missing, body = rows[0]
    assert own_body_missing in ("1", "t"), "the delivery keeps no copy of its own"
    stored = email.message_from_bytes(bytes.fromhex(body), policy=email.policy.default)
    assert pixel in stored.get_body(("html",)).get_content(), "the message's body is the recipient's copy"
    a, b = (f"ok-{uuid.uuid4().hex[:8]}@{rd}" for _ in range(2))
    mid = send(client, sender, [a, b], tid, {"name": "Fi"})
    wait_deliver_status(client, mid, b, 1)
    rows = query_sql(srv, "SELECT d.body IS NOT NULL FROM deliveries d JOIN messages m ON m.id = d.message_row "
                          f"WHERE m.message_id = '{mid}'")
    assert sorted(r[0] for r in rows) in (["1", "1"], ["t", "t"])


def test_unsubscribe_config_actions_and_default_footer(srv, acc, snd, rd, sink):
    _, client = acc
    sender, tid = snd
    expect_error(client, "CreateAddressUnsubscribeConfig", "InvalidParameterValue.NoSuchSender",
                 {"Address": f"nobody@{sender.split('@')[1]}", "UnsubscribeConfig": "2", "Status": 1})
    expect_error(client, "CreateAddressUnsubscribeConfig", "InvalidParameterValue",
                 {"Address": sender, "UnsubscribeConfig": "99", "Status": 1})
    expect_error(client, "UpdateAddressUnsubscribeConfig", "InvalidParameterValue",
                 {"Address": sender, "UnsubscribeConfig": "2", "Status": 1})
    call(client, "CreateAddressUnsubscribeConfig", {"Address": sender, "UnsubscribeConfig": "6", "Status": 1})
    listed = call(client, "ListAddressUnsubscribeConfig", {"Offset": 0, "Limit": "10"})
    assert listed["Total"] == 1
    assert listed["AddressUnsubscribeConfigList"] == [{"Address": sender, "UnsubscribeConfig": "6", "Status": 1}]
    # Without Unsubscribe in the request, the sender's default (German) applies.
    to = f"ok-{uuid.uuid4().hex[:8]}@{rd}"
    mid = send(client, sender, to, tid, {"name": "Ed"})
    wait_deliver_status(client, mid, to, 1)
    got = sink.wait_message(to)
    assert "abmelden" in html_of(got) and got.message["List-Unsubscribe"]
    call(client, "UpdateAddressUnsubscribeConfig", {"Address": sender, "UnsubscribeConfig": "6", "Status": 0})
    to2 = f"ok-{uuid.uuid4().hex[:8]}@{rd}"
    mid2 = send(client, sender, to2, tid, {"name": "Fa"})
    wait_deliver_status(client, mid2, to2, 1)
    assert sink.wait_message(to2).message["List-Unsubscribe"] is None, "status 0 turns the default off"
    call(client, "DeleteAddressUnsubscribeConfig", {"Address": sender})
    assert call(client, "ListAddressUnsubscribeConfig", {})["Total"] == 0
    # Another account sees none of it.
    other = srv.client(srv.account("tracking-other"))
    assert call(other, "ListAddressUnsubscribeConfig", {})["Total"] == 0


def test_tracking_can_be_switched_off(srv, acc, snd, rd, sink):
    account, client = acc
    sender, tid = snd
    srv.cli("account", "update", "--app-id", str(account.app_id), "--tracking", "false")
    try:
        to = f"ok-{uuid.uuid4().hex[:8]}@{rd}"
        mid = send(client, sender, to, tid, {"name": "Gus"})
        wait_deliver_status(client, mid, to, 1)
        html = html_of(sink.wait_message(to))
        assert "/t/o/" not in html and "/t/c/" not in html
        assert 'href="https://shop.example/offer?id=7&amp;x=1"' in html
    finally:
        srv.cli("account", "update", "--app-id", str(account.app_id), "--tracking", "true")
