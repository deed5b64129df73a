"""SendEmail end to end (docs/sending.md): API → durable queue → SMTP delivery to a real SMTP
sink → GetSendEmailStatus, black lists, quotas, tenancy.

Recipient domains have an MX pointing at helpers.SINK_HOST (A 127.0.0.1) and the server's
`[delivery] port` is the sink's, so every delivery lands in the `sink` fixture.
The sink answers by local part: ok* 250, bounce* 550 5.1.1, policy* 550 5.7.1, full* 552 5.2.2,
defer* 451 (N times).
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import time
import uuid

import pytest

from helpers import (HELO_NAME, RETURN_PATH_DOMAIN, api_today, b64, call, create_template, dkim_signatures,
                     error_code, expect_error, ready_sender, send, send_params, sink_domain, status_of,
                     statuses, unique_domain, wait_deliver_status, wait_until)

MAIL_FROM_RE = re.compile(r"^b-[^@\s]+-[^@\s]+@" + re.escape(RETURN_PATH_DOMAIN) + r"$", re.I)
MSGID_RE = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")
BLACK_LIST_DATES = {"StartDate": api_today(-1), "EndDate": api_today(1)}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def srv(sending_server):
    return sending_server


@pytest.fixture(scope="module")
def acct_a(srv):
    return srv.account("sender-a")


@pytest.fixture(scope="module")
def ca(srv, acct_a):
    """SDK client of account A."""
    return srv.client(acct_a)


@pytest.fixture(scope="module")
def snd(srv, ca):
    """(sender address, approved template id) of account A."""
    return ready_sender(srv, ca)


@pytest.fixture(scope="module")
def rd(dns):
    """A recipient domain served by the sink."""
    return sink_domain(dns)


@pytest.fixture(scope="module")
def custom(srv, dns):
    """(client, sender, template id) of an account allowed to send Simple content."""
    acc = srv.account("custom-content")
    srv.cli("account", "update", "--app-id", str(acc.app_id), "--custom-content", "true")
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    return c, sender, tid


def new_rcpt(rd: str, kind: str = "ok") -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}@{rd}"


def domain_of(addr: str) -> str:
    return addr.rsplit("@", 1)[1].rstrip(">")


def bodies(msg):
    html = msg.get_body(("html",))
    text = msg.get_body(("plain",))
    return (html.get_content() if html is not None else None, text.get_content() if text is not None else None)


def addrs(msg, header: str) -> list[str]:
    h = msg[header]
    if h is None:
        return []
    return [a.addr_spec.lower() for a in h.addresses]


def black_list(client, addr: str | None = None) -> dict:
    p = {**BLACK_LIST_DATES, "Limit": 100, "Offset": 0}
    if addr:
        p["EmailAddress"] = addr
    return call(client, "ListBlackEmailAddress", p)


def black_listed(client, addr: str) -> list[dict]:
    return [b for b in (black_list(client, addr).get("BlackList") or []) if b["EmailAddress"].lower() == addr.lower()]


def assert_dkim_ok(raw: bytes, zone, domain: str, selectors: set[str]) -> list[dict]:
    sigs = dkim_signatures(raw, zone)
    assert {s["s"] for s in sigs} == selectors, f"expected DKIM selectors {selectors}, got {sigs}"
    for s in sigs:
        assert s["d"] == domain, f"DKIM d= should be the sender domain {domain}: {s}"
        assert s["ok"], f"DKIM signature {s['s']} does not verify: {s}"
        assert "from" in (s["h"] or "").lower().split(":"), f"From not signed: {s}"
    return sigs


# --------------------------------------------------------------------------- the message on the wire


def test_template_mail_arrives_signed_and_rendered(srv, ca, snd, rd, sink, dns):
    sender, tid = snd
    to = new_rcpt(rd)
    t0 = time.time()
    mid = send(ca, sender, to, tid, {"name": "Ann <b> & Co", "code": "4711"}, subject="Hello {{name}}")
    m = sink.wait_message(to)
    msg = m.message

    assert [r.lower() for r in m.rcpt_tos] == [to], m.rcpt_tos
    assert MAIL_FROM_RE.match(m.mail_from), f"MAIL FROM {m.mail_from!r} is not b-<id>-<tag>@{RETURN_PATH_DOMAIN}"
    assert m.helo == HELO_NAME, f"EHLO name {m.helo!r}, configured {HELO_NAME!r}"
    assert m.peer[0] == "127.0.0.1"
    assert addrs(msg, "From") == [sender]
    assert addrs(msg, "To") == [to]
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Hello Ann <b> & Co"  # the subject is not HTML-escaped
    assert msg["Date"] is not None
    assert MSGID_RE.match(str(msg["Message-ID"]).strip()), msg["Message-ID"]
    html, text = bodies(msg)
    assert html is not None and text is not None, msg.as_string()[:2000]
    assert "Hello Ann &lt;b&gt; &amp; Co, your code is 4711." in html, html
    assert "<p>" in html, "template markup itself must not be escaped"
    assert "Hello Ann <b> & Co, your code is 4711." in text, text
    assert "{{" not in html + text

    assert_dkim_ok(m.data, dns, domain_of(sender), {"sesame"})
    # The verifier is not vacuous: a changed body breaks the signature.
    tampered = m.data.rstrip(b"\r\n") + b"\r\nappended by a forwarder\r\n"
    assert not any(s["ok"] for s in dkim_signatures(tampered, dns))

    row = wait_deliver_status(ca, mid, to, 1)
    assert row["MessageId"] == mid
    assert row["FromEmailAddress"].lower().endswith(sender), row
    assert row["SendStatus"] == 0, row
    assert t0 - 5 <= row["RequestTime"] <= time.time() + 5, row
    assert t0 - 5 <= row["DeliverTime"] <= time.time() + 5, row
    for flag in ("UserOpened", "UserClicked", "UserUnsubscribed"):
        assert row[flag] is False, row


def test_dkim_option_2_signs_twice(srv, ca, rd, sink, dns):
    sender, tid = ready_sender(srv, ca, dkim_option=2)
    to = new_rcpt(rd)
    send(ca, sender, to, tid)
    m = sink.wait_message(to)
    sigs = assert_dkim_ok(m.data, dns, domain_of(sender), {"sesame", "sesame1024"})
    assert len(sigs) == 2


def test_recipients_headers_and_bcc(ca, snd, rd, sink):
    sender, tid = snd
    to1, to2, cc, bcc = new_rcpt(rd), new_rcpt(rd), new_rcpt(rd), new_rcpt(rd)
    mid = send(ca, sender, [to1, to2], tid, Cc=[cc], Bcc=[bcc])
    got = {a: sink.wait_message(a) for a in (to1, to2, cc, bcc)}
    for a, m in got.items():
        assert [r.lower() for r in m.rcpt_tos] == [a], f"each recipient is its own transaction: {m.rcpt_tos}"
        msg = m.message
        assert sorted(addrs(msg, "To")) == sorted([to1, to2]), (a, msg["To"])
        assert addrs(msg, "Cc") == [cc], (a, msg["Cc"])
        assert msg["Bcc"] is None, f"Bcc header in the copy for {a}"
        head = m.data.split(b"\r\n\r\n", 1)[0].lower()
        assert bcc.encode() not in head, f"the Bcc address shows in the headers of the copy for {a}"
        assert MAIL_FROM_RE.match(m.mail_from), m.mail_from
    assert len({m.mail_from.lower() for m in got.values()}) == 4, \
        f"the envelope sender must differ per recipient: {[m.mail_from for m in got.values()]}"
    rows = wait_until(lambda: (lambda rs: rs if len(rs) == 4 and all(r["DeliverStatus"] == 1 for r in rs) else None)(
        statuses(ca, mid)), 20, what="4 delivered rows")
    assert sorted(r["ToEmailAddress"].lower() for r in rows) == sorted([to1, to2, cc, bcc])


def test_repeated_addresses_delivered_once(ca, snd, rd, sink):
    sender, tid = snd
    to = new_rcpt(rd)
    mid = send(ca, sender, [to, to], tid, Cc=[to])
    sink.wait_message(to)
    later = new_rcpt(rd)
    send(ca, sender, later, tid)
    sink.wait_message(later)
    time.sleep(1.0)
    assert len(sink.messages_to(to)) == 1, [m.rcpt_tos for m in sink.messages_to(to)]
    assert len([r for r in statuses(ca, mid) if r["ToEmailAddress"].lower() == to]) == 1, statuses(ca, mid)


def test_chinese_subject_alias_and_values(ca, snd, rd, sink):
    sender, tid = snd
    to = new_rcpt(rd)
    send(ca, f"客服 Team <{sender}>", to, tid, {"name": "张三", "code": "验证码"}, subject="你好，{{name}}！欢迎")
    msg = sink.wait_message(to).message
    assert msg["Subject"] == "你好，张三！欢迎"
    frm = msg["From"].addresses
    assert len(frm) == 1 and frm[0].addr_spec.lower() == sender and frm[0].display_name == "客服 Team", msg["From"]
    html, text = bodies(msg)
    assert "Hello 张三, your code is 验证码." in text
    assert "Hello 张三, your code is 验证码." in html


def test_subject_of_998_characters(ca, snd, rd, sink):
    sender, tid = snd
    to = new_rcpt(rd)
    subject = "é" + "s" * 997
    send(ca, sender, to, tid, subject=subject)
    assert sink.wait_message(to).message["Subject"] == subject


def test_attachments_arrive_intact(ca, snd, rd, sink):
    sender, tid = snd
    to = new_rcpt(rd)
    blob = os.urandom(150_000)
    notes = "line one\r\nzeile zwei ü\r\n第三行\r\n".encode("utf-8")
    send(ca, sender, to, tid, Attachments=[
        {"FileName": "report.pdf", "Content": base64.b64encode(blob).decode()},
        {"FileName": "报告.txt", "Content": base64.b64encode(notes).decode()},
    ])
    msg = sink.wait_message(to).message
    files = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    assert set(files) == {"report.pdf", "报告.txt"}, list(files)
    assert files["report.pdf"] == blob
    assert files["报告.txt"] == notes
    _, text = bodies(msg)
    assert "Hello Ann, your code is 1234." in text


def test_optional_headers(ca, snd, rd, sink, dns):
    sender, tid = snd
    dom = domain_of(sender)
    to = new_rcpt(rd)
    custom_id = f"<order-{uuid.uuid4().hex}@{dom}>"
    send(ca, sender, to, tid, SmtpMessageId=custom_id, ReplyToAddresses="replies@elsewhere.test",
         HeaderFrom=f"boss@{dom}", SmtpHeaders=json.dumps({"X-Campaign": "spring-sale"}),
         Unsubscribe="0", TriggerType=1)
    m = sink.wait_message(to)
    msg = m.message
    assert str(msg["Message-ID"]).strip() == custom_id
    assert addrs(msg, "Reply-To") == ["replies@elsewhere.test"]
    assert addrs(msg, "From") == [f"boss@{dom}"]
    assert msg["X-Campaign"] == "spring-sale"
    assert len(msg.get_all("Message-ID")) == 1
    assert_dkim_ok(m.data, dns, dom, {"sesame"})

    # SmtpMessageId without angle brackets, and generated ids are unique.
    to2, to3, to4 = new_rcpt(rd), new_rcpt(rd), new_rcpt(rd)
    bare = f"bare-{uuid.uuid4().hex}@{dom}"
    send(ca, sender, to2, tid, SmtpMessageId=bare)
    assert str(sink.wait_message(to2).message["Message-ID"]).strip() == f"<{bare}>"
    send(ca, sender, to3, tid)
    send(ca, sender, to4, tid)
    ids = {str(sink.wait_message(a).message["Message-ID"]).strip() for a in (to3, to4)}
    assert len(ids) == 2, ids


def test_simple_content_with_permission(custom, rd, sink):
    c, sender, _ = custom
    to = new_rcpt(rd)
    send_simple = {"FromEmailAddress": sender, "Destination": [to], "Subject": "plain content",
                   "Simple": {"Html": b64("<h1>Raw & ready</h1>"), "Text": b64("Raw text body")}}
    mid = call(c, "SendEmail", send_simple)["MessageId"]
    msg = sink.wait_message(to).message
    html, text = bodies(msg)
    assert "<h1>Raw & ready</h1>" in html  # Simple content is sent as given
    assert "Raw text body" in text
    wait_deliver_status(c, mid, to, 1)


# --------------------------------------------------------------------------- delivery outcomes


def test_several_messages_share_a_connection(ca, snd, rd, sink):
    """docs/sending.md: each recipient is a separate SMTP transaction, several per connection."""
    sender, tid = snd
    rcpts = [new_rcpt(rd) for _ in range(5)]
    send(ca, sender, rcpts, tid)
    msgs = [sink.wait_message(a) for a in rcpts]
    assert all(len(m.rcpt_tos) == 1 for m in msgs)
    assert len({m.mail_from.lower() for m in msgs}) == 5
    conns = [m.conn_id for m in msgs]
    assert len(set(conns)) < len(conns), f"every one of 5 messages to one domain used its own connection: {conns}"


def test_hard_bounce_black_lists(srv, ca, snd, rd, sink):
    sender, tid = snd
    to = new_rcpt(rd, "bounce")
    mid = send(ca, sender, to, tid)
    row = wait_deliver_status(ca, mid, to, 3)
    assert "user unknown" in row["DeliverMessage"], row
    assert row["DeliverTime"] == 0, row
    assert sink.messages_to(to) == []

    entries = wait_until(lambda: black_listed(ca, to), 10, what=f"{to} on the black list")
    assert len(entries) == 1, entries
    e = entries[0]
    assert "550" in e["IspDesc"] and "5.1.1" in e["IspDesc"] and "user unknown" in e["IspDesc"], e
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", e["BounceTime"]), e
    assert e["BounceTime"][:10] in (api_today(), api_today(-1)), e
    assert black_list(ca, to)["TotalCount"] == 1

    # The whole request is refused when every recipient is black-listed ...
    expect_error(ca, "SendEmail", "FailedOperation.EmailAddrInBlacklist", send_params(sender, to, tid))
    # ... and a mixed request goes through, the black-listed recipient dropped with 1007.
    ok = new_rcpt(rd)
    mid2 = send(ca, sender, [to, ok], tid)
    sink.wait_message(ok)
    dropped = wait_until(lambda: status_of(ca, mid2, to), 10, what="the dropped row")
    assert dropped["SendStatus"] == 1007 and dropped["DeliverStatus"] == 2, dropped
    wait_deliver_status(ca, mid2, ok, 1)
    assert len(sink.attempts_for(to)) == 1, "a black-listed address must not be tried again"

    # DeleteBlackList lifts it.
    call(ca, "DeleteBlackList", {"EmailAddressList": [to]})
    assert black_listed(ca, to) == []
    send(ca, sender, to, tid)


def test_delete_black_list_needs_an_address(ca):
    code = error_code(ca, "DeleteBlackList", {"EmailAddressList": []})
    assert code and code.split(".")[0] in ("InvalidParameterValue", "MissingParameter", "InvalidParameter"), code


@pytest.mark.parametrize("kind,reply_part", [("policy", "5.7.1"), ("full", "5.2.2")])
def test_other_5xx_bounce_without_black_listing(ca, snd, rd, sink, kind, reply_part):
    sender, tid = snd
    to = new_rcpt(rd, kind)
    mid = send(ca, sender, to, tid)
    row = wait_deliver_status(ca, mid, to, 3)
    assert reply_part in row["DeliverMessage"], row
    time.sleep(0.5)
    assert black_listed(ca, to) == [], "only hard bounces (address/domain does not exist) are black-listed"
    send(ca, sender, to, tid)  # not refused


def test_deferred_then_delivered(ca, snd, rd, sink):
    sender, tid = snd
    to = new_rcpt(rd, "defer")
    sink.set_defer(to, 2)
    mid = send(ca, sender, to, tid)
    row = wait_deliver_status(ca, mid, to, 8, timeout=10)
    assert "4.3.0" in row["DeliverMessage"] or "try again" in row["DeliverMessage"], row
    assert row["DeliverTime"] == 0, row
    row = wait_deliver_status(ca, mid, to, 1, timeout=20)
    assert row["DeliverTime"] > 0
    assert len(sink.messages_to(to)) == 1
    assert [a.code for a in sink.attempts_for(to)] == [451, 451, 250]
    assert black_listed(ca, to) == []


def test_deferred_past_queue_lifetime_bounces(ca, snd, rd, sink):
    """max_queue_lifetime is 6s on this server: a destination that always defers ends as 3."""
    sender, tid = snd
    to = new_rcpt(rd, "defer")
    sink.set_defer(to, math.inf)
    t0 = time.monotonic()
    mid = send(ca, sender, to, tid)
    wait_deliver_status(ca, mid, to, 8, timeout=10)
    row = wait_deliver_status(ca, mid, to, 3, timeout=30)
    assert time.monotonic() - t0 >= 5, "gave up before max_queue_lifetime"
    assert row["DeliverMessage"], row
    assert sink.messages_to(to) == []
    assert len(sink.attempts_for(to)) >= 3, "retried along retry_schedule (1s, 2s, 2s ...)"
    assert black_listed(ca, to) == []


# --------------------------------------------------------------------------- refused requests

REFUSED: list[str] = []


def _many(rd, n):
    return [new_rcpt(rd) for _ in range(n)]


# (id, expected code, field named in the message or None, how to change the good request)
BAD = [
    ("from-malformed", "FailedOperation.IncorrectSender", None, lambda p, x: p.update(FromEmailAddress="not an address")),
    ("from-alias-malformed", "FailedOperation.IncorrectSender", None,
     lambda p, x: p.update(FromEmailAddress="Alias <broken>")),
    ("from-unknown-sender", "FailedOperation.NotAuthenticatedSender", None,
     lambda p, x: p.update(FromEmailAddress=f"nobody@{x['dom']}")),
    ("from-foreign-domain", "FailedOperation.NotAuthenticatedSender", None,
     lambda p, x: p.update(FromEmailAddress="someone@gmail.com")),
    ("to-51", "FailedOperation.TooManyRecipients", None, lambda p, x: p.update(Destination=_many(x["rd"], 51))),
    ("cc-21", "FailedOperation.TooManyRecipients", None, lambda p, x: p.update(Cc=_many(x["rd"], 21))),
    ("bcc-21", "FailedOperation.TooManyRecipients", None, lambda p, x: p.update(Bcc=_many(x["rd"], 21))),
    ("no-recipient", "InvalidParameterValue.EmailAddressIsNULL", None, lambda p, x: p.update(Destination=[])),
    ("to-malformed", "FailedOperation.IncorrectEmail", None, lambda p, x: p["Destination"].append("not-an-address")),
    ("cc-malformed", "FailedOperation.IncorrectEmail", None, lambda p, x: p.update(Cc=["a@@b.test"])),
    ("bcc-also-to", "InvalidParameterValue", "Bcc", lambda p, x: p.update(Bcc=list(p["Destination"]))),
    ("subject-empty", "InvalidParameterValue.SubjectLengthError", None, lambda p, x: p.update(Subject="")),
    ("subject-999", "InvalidParameterValue.SubjectLengthError", None, lambda p, x: p.update(Subject="s" * 999)),
    ("subject-newline", "InvalidParameterValue.SubjectLengthError", None,
     lambda p, x: p.update(Subject="Hi\r\nBcc: victim@example.test")),
    ("subject-lf", "InvalidParameterValue.SubjectLengthError", None, lambda p, x: p.update(Subject="Hi\nthere")),
    ("no-content", "FailedOperation.MissingEmailContent", None, lambda p, x: p.pop("Template")),
    ("both-contents", "InvalidParameterValue", None, lambda p, x: p.update(Simple={"Text": b64("hi")})),
    ("unknown-template", "FailedOperation.InvalidTemplateID", None,
     lambda p, x: p["Template"].update(TemplateID=987654321)),
    ("data-not-json", "FailedOperation.WrongContentJson", None,
     lambda p, x: p["Template"].update(TemplateData="{name: Ann")),
    ("data-array", "FailedOperation.WrongContentJson", None, lambda p, x: p["Template"].update(TemplateData="[1, 2]")),
    ("data-nested", "FailedOperation.WrongContentJson", None,
     lambda p, x: p["Template"].update(TemplateData=json.dumps({"name": {"first": "Ann"}, "code": "1"}))),
    ("data-missing-variable", "InvalidParameterValue.InValidTemplateData", None,
     lambda p, x: p["Template"].update(TemplateData=json.dumps({"name": "Ann"}))),
    ("subject-variable-missing", "InvalidParameterValue.InValidTemplateData", None,
     lambda p, x: p.update(Subject="Hi {{nickname}}")),
    ("simple-without-permission", "FailedOperation.WithOutPermission", None,
     lambda p, x: (p.pop("Template"), p.update(Simple={"Html": b64("<p>hi</p>")}))),
    ("simple-bad-base64", "InvalidParameterValue.EmailContentIsWrong", None, "custom"),
    ("attachments-11", "FailedOperation.TooManyAttachments", None,
     lambda p, x: p.update(Attachments=[{"FileName": f"f{i}.txt", "Content": b64("x")} for i in range(11)])),
    ("attach-name-space", "FailedOperation.InvalidAttachName", None,
     lambda p, x: p.update(Attachments=[{"FileName": "my report.pdf", "Content": b64("x")}])),
    ("attach-name-slash", "FailedOperation.InvalidAttachName", None,
     lambda p, x: p.update(Attachments=[{"FileName": "a/b.pdf", "Content": b64("x")}])),
    ("attach-name-quote", "FailedOperation.InvalidAttachName", None,
     lambda p, x: p.update(Attachments=[{"FileName": 'a"b.pdf', "Content": b64("x")}])),
    ("attach-exe", "FailedOperation.InvalidAttachName", None,
     lambda p, x: p.update(Attachments=[{"FileName": "setup.exe", "Content": b64("MZ")}])),
    ("attach-name-256", "FailedOperation.InvalidAttachName", None,
     lambda p, x: p.update(Attachments=[{"FileName": "a" * 252 + ".pdf", "Content": b64("x")}])),
    ("attach-bad-base64", "InvalidParameterValue.AttachContentIsWrong", None,
     lambda p, x: p.update(Attachments=[{"FileName": "a.pdf", "Content": "%%% not base64 %%%"}])),
    ("attach-over-4mib", "FailedOperation.AttachContentToolarge", None,
     lambda p, x: p.update(Attachments=[
         {"FileName": "a.pdf", "Content": base64.b64encode(b"\0" * (2 * 1024 * 1024)).decode()},
         {"FileName": "b.pdf", "Content": base64.b64encode(b"\1" * (2 * 1024 * 1024 + 1)).decode()}])),
    ("message-over-5mib", "FailedOperation.EmailContentToolarge", None,
     lambda p, x: p.update(Attachments=[
         {"FileName": "big.pdf", "Content": base64.b64encode(os.urandom(4 * 1024 * 1024 - 64 * 1024)).decode()}])),
    ("reply-to-malformed", "InvalidParameterValue", "ReplyToAddresses",
     lambda p, x: p.update(ReplyToAddresses="not-an-address")),
    ("reply-to-two", "InvalidParameterValue", "ReplyToAddresses",
     lambda p, x: p.update(ReplyToAddresses="a@x.test,b@y.test")),
    ("header-from-other-domain", "InvalidParameterValue", "HeaderFrom",
     lambda p, x: p.update(HeaderFrom="boss@elsewhere.test")),
    ("header-from-malformed", "InvalidParameterValue", "HeaderFrom", lambda p, x: p.update(HeaderFrom="boss")),
    ("smtp-message-id-no-at", "InvalidParameterValue", "SmtpMessageId",
     lambda p, x: p.update(SmtpMessageId="<no-at-sign>")),
    ("smtp-message-id-unclosed", "InvalidParameterValue", "SmtpMessageId",
     lambda p, x: p.update(SmtpMessageId="<a@b.test")),
    ("smtp-headers-not-json", "InvalidParameterValue", "SmtpHeaders",
     lambda p, x: p.update(SmtpHeaders="X-A: b")),
    ("smtp-headers-from", "InvalidParameterValue", "SmtpHeaders",
     lambda p, x: p.update(SmtpHeaders=json.dumps({"From": "evil@example.test"}))),
    ("smtp-headers-dkim", "InvalidParameterValue", "SmtpHeaders",
     lambda p, x: p.update(SmtpHeaders=json.dumps({"DKIM-Signature": "v=1; d=example.test"}))),
    ("smtp-headers-bcc", "InvalidParameterValue", "SmtpHeaders",
     lambda p, x: p.update(SmtpHeaders=json.dumps({"Bcc": "spy@example.test"}))),
    ("unsubscribe-13", "InvalidParameterValue", "Unsubscribe", lambda p, x: p.update(Unsubscribe="13")),
    ("unsubscribe-word", "InvalidParameterValue", "Unsubscribe", lambda p, x: p.update(Unsubscribe="yes")),
    ("trigger-type-2", "InvalidParameterValue", "TriggerType", lambda p, x: p.update(TriggerType=2)),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_send_email(ca, snd, custom, rd, case):
    name, code, field, change = case
    to = new_rcpt(rd)
    if change == "custom":
        client, sender, _ = custom
        params = {"FromEmailAddress": sender, "Destination": [to], "Subject": "hi",
                  "Simple": {"Html": "!!! not base64 !!!"}}
    else:
        client = ca
        sender, tid = snd
        params = send_params(sender, to, tid)
        change(params, {"rd": rd, "dom": domain_of(sender)})
    everyone = list(params.get("Destination", [])) + list(params.get("Cc", [])) + list(params.get("Bcc", []))
    REFUSED.extend(a for a in everyone if "@" in a)
    e = expect_error(client, "SendEmail", code, params)
    if field:
        assert field.lower() in e.message.lower(), f"the message should name {field}: {e.message!r}"
    assert [r for r in statuses(client, to=to) if r["ToEmailAddress"].lower() == to] == [], \
        "a refused request must not leave status rows"


def test_unverified_sender_domain_is_refused(srv, ca, rd, dns):
    sender, tid = ready_sender(srv, ca)
    dom = domain_of(sender)
    dns.remove_domain(dom)
    u = call(ca, "UpdateEmailIdentity", {"EmailIdentity": dom})
    assert u["VerifiedForSendingStatus"] is False
    to = new_rcpt(rd)
    REFUSED.append(to)
    expect_error(ca, "SendEmail", "FailedOperation.NotAuthenticatedSender", send_params(sender, to, tid))


def test_pending_and_rejected_templates_are_refused(srv, rd, sink):
    acc = srv.account("reviewed")
    srv.cli("account", "update", "--app-id", str(acc.app_id), "--template-review", "true")
    c = srv.client(acc)
    dom = unique_domain("rev")
    srv.verify_domain(c, dom)
    sender = f"noreply@{dom}"
    call(c, "CreateEmailAddress", {"EmailAddress": sender})
    pending = create_template(c)
    rejected = create_template(c)
    srv.cli("template", "reject", str(rejected), "--reason", "no")
    for tid in (pending, rejected):
        to = new_rcpt(rd)
        REFUSED.append(to)
        expect_error(c, "SendEmail", "FailedOperation.InvalidTemplateID", send_params(sender, to, tid))
    srv.cli("template", "approve", str(pending))
    to = new_rcpt(rd)
    send(c, sender, to, pending)
    sink.wait_message(to)


def test_frequency_limit_per_recipient(ca, snd, rd, sink):
    sender, tid = snd
    to = new_rcpt(rd)
    for _ in range(10):
        send(ca, sender, to, tid)
    expect_error(ca, "SendEmail", "FailedOperation.FrequencyLimit", send_params(sender, to, tid))
    other = new_rcpt(rd)
    mid = send(ca, sender, [to, other], tid)
    row = wait_until(lambda: status_of(ca, mid, to), 10, what="the dropped row")
    assert row["SendStatus"] == 1006 and row["DeliverStatus"] == 2, row
    wait_deliver_status(ca, mid, other, 1)
    sink.wait_for(lambda ms: len([m for m in ms if to in m.rcpt_tos]) >= 10, 20, what="10 deliveries")
    time.sleep(0.5)
    assert len(sink.messages_to(to)) == 10


def test_daily_quota(srv, rd, sink):
    acc = srv.account("quota")
    srv.cli("account", "update", "--app-id", str(acc.app_id), "--daily-quota", "2")
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    three = [new_rcpt(rd) for _ in range(3)]
    REFUSED.extend(three)
    expect_error(c, "SendEmail", "FailedOperation.ExceedSendLimit", send_params(sender, three, tid))
    a, b = new_rcpt(rd), new_rcpt(rd)
    send(c, sender, [a, b], tid)
    third = new_rcpt(rd)
    REFUSED.append(third)
    expect_error(c, "SendEmail", "FailedOperation.ExceedSendLimit", send_params(sender, third, tid))
    sink.wait_message(a)
    sink.wait_message(b)


def test_daily_quota_holds_under_concurrent_sends(srv, rd, sink):
    """The quota is taken in the enqueue transaction: 12 concurrent sends against a quota of 5
    give exactly 5 messages, whatever the interleaving."""
    from concurrent.futures import ThreadPoolExecutor

    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    acc = srv.account("quota-race")
    srv.cli("account", "update", "--app-id", str(acc.app_id), "--daily-quota", "5")
    sender, tid = ready_sender(srv, srv.client(acc))
    rcpts = [new_rcpt(rd) for _ in range(12)]

    def one(to):
        try:
            send(srv.client(acc), sender, to, tid)
            return "ok"
        except TencentCloudSDKException as e:
            return e.code

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(one, rcpts))
    assert results.count("ok") == 5, results
    assert set(results) == {"ok", "FailedOperation.ExceedSendLimit"}, results
    REFUSED.extend(to for to, r in zip(rcpts, results) if r != "ok")
    for to, r in zip(rcpts, results):
        if r == "ok":
            sink.wait_message(to)


def test_mail_rate_limit(make_sending_server, rd, sink):
    """`[sending] mail_rate` counts recipients per second per account (bursts up to 120)."""
    srv = make_sending_server({"sending": {"mail_rate": 5}}, name="rate")
    acc = srv.account("rate")
    c = srv.client(acc)
    sender, tid = ready_sender(srv, c)
    batches = [[new_rcpt(rd) for _ in range(50)] for _ in range(3)]
    send(c, sender, batches[0], tid)
    send(c, sender, batches[1], tid)
    REFUSED.extend(batches[2])
    expect_error(c, "SendEmail", "RequestLimitExceeded", send_params(sender, batches[2], tid))


# --------------------------------------------------------------------------- status queries


def test_get_send_email_status_inputs(ca, snd, rd, sink):
    sender, tid = snd
    to, other = new_rcpt(rd), new_rcpt(rd)
    mid = send(ca, sender, [to, other], tid)
    wait_deliver_status(ca, mid, to, 1)
    rows = statuses(ca, to=to)
    assert [r["ToEmailAddress"].lower() for r in rows] == [to], rows
    assert {r["ToEmailAddress"].lower() for r in statuses(ca, mid)} == {to, other}
    page = call(ca, "GetSendEmailStatus", {"RequestDate": api_today(), "Offset": 0, "Limit": 1, "MessageId": mid})
    assert len(page["EmailStatusList"]) == 1
    for limit in (0, 101):
        expect_error(ca, "GetSendEmailStatus", "FailedOperation.InvalidLimit",
                     {"RequestDate": api_today(), "Offset": 0, "Limit": limit})
    expect_error(ca, "GetSendEmailStatus", "FailedOperation.NotSupportDate",
                 {"RequestDate": api_today(-40), "Offset": 0, "Limit": 10})


# --------------------------------------------------------------------------- custom black list


def _custom_list(c, email=None, status=2):
    p = {"Offset": 0, "Limit": 100, "Status": status}
    if email:
        p["Email"] = email
    r = call(c, "ListCustomBlacklist", p)
    r["Data"] = r.get("Data") or []
    return r


def test_custom_black_list(ca, snd, rd, sink):
    sender, tid = snd
    a, b = new_rcpt(rd), new_rcpt(rd)
    too_long = "x" * 60 + "@" + "y" * 60 + "." + "z" * 60 + ".test"
    r = call(ca, "CreateCustomBlacklist", {"Emails": [a, b, a, "not-an-address", too_long]})
    assert (r["TotalCount"], r["ValidCount"], r["RepeatCount"], r["InvalidCount"], r["TooLongCount"]) == (5, 2, 1, 1, 1), r

    lst = _custom_list(ca, a)
    assert lst["TotalCount"] == 1 and len(lst["Data"]) == 1, lst
    entry = lst["Data"][0]
    assert entry["Email"].lower() == a and entry["Status"] == 1 and entry["Id"], entry
    assert any(d["Email"].lower() == a for d in _custom_list(ca, a, status=1)["Data"])
    assert not any(d["Email"].lower() == a for d in _custom_list(ca, a, status=0)["Data"])
    all_emails = {d["Email"].lower() for d in _custom_list(ca)["Data"]}
    assert {a, b} <= all_emails

    # A send to a custom-black-listed address is refused; a mixed one drops it with 1007.
    expect_error(ca, "SendEmail", "FailedOperation.EmailAddrInBlacklist", send_params(sender, a, tid))
    ok = new_rcpt(rd)
    mid = send(ca, sender, [a, ok], tid)
    row = wait_until(lambda: status_of(ca, mid, a), 10, what="the dropped row")
    assert row["SendStatus"] == 1007 and row["DeliverStatus"] == 2, row
    sink.wait_message(ok)

    # Update moves the entry to another address (with an expiry date in the future).
    c2 = new_rcpt(rd)
    call(ca, "UpdateCustomBlackList", {"Id": entry["Id"], "Email": c2, "ExpireDate": api_today(30)})
    moved = _custom_list(ca, c2)["Data"]
    assert len(moved) == 1 and moved[0]["Id"] == entry["Id"] and moved[0]["ExpireDate"].startswith(api_today(30)), moved
    assert _custom_list(ca, a)["Data"] == []
    send(ca, sender, a, tid)
    REFUSED.append(c2)
    expect_error(ca, "SendEmail", "FailedOperation.EmailAddrInBlacklist", send_params(sender, c2, tid))

    # Delete.
    call(ca, "DeleteCustomBlackList", {"Emails": [b, c2]})
    assert _custom_list(ca, b)["Data"] == []
    assert _custom_list(ca, c2)["Data"] == []
    send(ca, sender, b, tid)
    sink.wait_message(b)

    # With an expiry date.
    d = new_rcpt(rd)
    r = call(ca, "CreateCustomBlacklist", {"Emails": [d], "ExpireDate": api_today(10)})
    assert r["ValidCount"] == 1
    got = _custom_list(ca, d)["Data"]
    assert got and got[0]["ExpireDate"].startswith(api_today(10)), got


def test_custom_black_list_bad_input(ca):
    expect_error(ca, "CreateCustomBlacklist", "MissingParameter.EmailsNecessary", {"Emails": []})
    expect_error(ca, "CreateCustomBlacklist", "InvalidParameterValue.WrongDate",
                 {"Emails": ["x@example.test"], "ExpireDate": "2030/01/01"})


# --------------------------------------------------------------------------- tenancy


def test_tenancy(srv, ca, snd, rd, sink):
    sender_a, tid_a = snd
    b = srv.account("sender-b")
    cb = srv.client(b)
    sender_b, tid_b = ready_sender(srv, cb)

    to = new_rcpt(rd)
    REFUSED.append(to)
    expect_error(cb, "SendEmail", "FailedOperation.NotAuthenticatedSender", send_params(sender_a, to, tid_b))
    expect_error(cb, "SendEmail", "FailedOperation.InvalidTemplateID", send_params(sender_b, to, tid_a))

    # A's statuses are A's.
    bounced = new_rcpt(rd, "bounce")
    mid = send(ca, sender_a, bounced, tid_a)
    wait_deliver_status(ca, mid, bounced, 3)
    wait_until(lambda: black_listed(ca, bounced), 10, what="A's black list entry")
    assert statuses(cb, mid) == []
    assert statuses(cb, to=bounced) == []

    # A's black lists are A's.
    assert black_listed(cb, bounced) == []
    blocked = new_rcpt(rd)
    call(ca, "CreateCustomBlacklist", {"Emails": [blocked]})
    assert _custom_list(cb, blocked)["Data"] == []
    error_code(cb, "DeleteCustomBlackList", {"Emails": [blocked]})  # B cannot lift A's entry
    assert len(_custom_list(ca, blocked)["Data"]) == 1
    error_code(cb, "DeleteBlackList", {"EmailAddressList": [bounced]})
    assert len(black_listed(ca, bounced)) == 1
    expect_error(ca, "SendEmail", "FailedOperation.EmailAddrInBlacklist", send_params(sender_a, blocked, tid_a))
    mid_b = send(cb, sender_b, blocked, tid_b)
    sink.wait_message(blocked)
    wait_deliver_status(cb, mid_b, blocked, 1)
    send(cb, sender_b, bounced, tid_b)  # not on B's black list


# --------------------------------------------------------------------------- last: nothing refused went out


def test_refused_requests_delivered_nothing(ca, snd, rd, sink):
    sender, tid = snd
    sentinel = new_rcpt(rd)
    send(ca, sender, sentinel, tid)
    sink.wait_message(sentinel)
    time.sleep(1.0)
    leaked = [a for a in REFUSED if sink.attempts_for(a)]
    assert not leaked, f"refused requests reached the sink: {leaked[:10]}"
