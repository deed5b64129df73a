"""Inbound bounces and complaints end to end (docs/smtp.md): a message is delivered to the sink,
then a DSN (RFC 3464) or an ARF report (RFC 5965) about it arrives over SMTP at `[inbound] listen`
— the MX of the return-path domain — and Sesame records it: the delivery turns bounced, a hard
bounce or a complaint black-lists the address, a complaint shows in GetAbuseReport and as
UserComplainted. Anything else is refused with 550.
"""

from __future__ import annotations

import json
import smtplib
import uuid
from email.utils import formatdate

import pytest

from helpers import (RETURN_PATH_DOMAIN, api_today, call, expect_error, ready_sender, send, sink_domain,
                     status_of, wait_deliver_status, wait_until)


@pytest.fixture(scope="module")
def srv(make_sending_server):
    return make_sending_server(name="inbound")


@pytest.fixture(scope="module")
def ca(srv):
    return srv.client(srv.account("inbound-a"))


@pytest.fixture(scope="module")
def snd(srv, ca):
    return ready_sender(srv, ca)


@pytest.fixture(scope="module")
def rd(dns):
    return sink_domain(dns)


def delivered(ca, snd, sink, rd, local: str = "ok"):
    """Sends one mail through the API and waits for it at the sink; returns
    (recipient, MessageId, the Received at the sink)."""
    sender, tid = snd
    to = f"{local}-{uuid.uuid4().hex[:8]}@{rd}"
    mid = send(ca, sender, to, tid)
    wait_deliver_status(ca, mid, to, 1)
    return to, mid, sink.wait_message(to)


def inbound(srv, rcpt: str, data: bytes, mail_from: str = "") -> tuple[int, str]:
    """One message to the inbound listener; returns the DATA reply (or the RCPT refusal)."""
    with smtplib.SMTP("127.0.0.1", srv.inbound_port, timeout=30) as s:
        s.ehlo("mx.remote.test")
        code, text = s.mail(mail_from)
        assert code == 250, text
        code, text = s.rcpt(rcpt)
        if code != 250:
            return code, text.decode()
        code, text = s.data(data)
        return code, text.decode()


def original_headers(received) -> str:
    head = received.data.split(b"\r\n\r\n", 1)[0].decode()
    return head + "\r\n"


def dsn(recipient: str, status: str, diagnostic: str, original: str, action: str = "failed") -> bytes:
    boundary = "dsn-" + uuid.uuid4().hex
    return (
        f"From: MAILER-DAEMON@mx.remote.test\r\n"
        f"To: whoever@{RETURN_PATH_DOMAIN}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {formatdate()}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.remote.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}"
        f"\r\n--{boundary}--\r\n"
    ).encode()


def arf(recipient: str, sender: str, original: bytes) -> bytes:
    boundary = "arf-" + uuid.uuid4().hex
    return (
        f"From: feedback@fbl.remote.test\r\n"
        f"To: fbl@{RETURN_PATH_DOMAIN}\r\n"
        f"Subject: FW: complaint\r\n"
        f"Date: {formatdate()}\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=feedback-report; boundary=\"{boundary}\"\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: RemoteFBL/1.0\r\nVersion: 1\r\n"
        f"Original-Mail-From: <{sender}>\r\nOriginal-Rcpt-To: <{recipient}>\r\n"
        f"Arrival-Date: {formatdate()}\r\nSource-IP: 192.0.2.25\r\n"
        f"\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
    ).encode() + original + f"\r\n--{boundary}--\r\n".encode()


def black_listed(ca, address: str) -> list[dict]:
    r = call(ca, "ListBlackEmailAddress", {"StartDate": api_today(-1), "EndDate": api_today(1),
                                           "Limit": 100, "Offset": 0, "EmailAddress": address})
    return r.get("BlackList") or []


def test_hard_dsn_marks_bounced_and_black_lists(srv, ca, snd, sink, rd):
    to, mid, got = delivered(ca, snd, sink, rd)
    code, text = inbound(srv, got.mail_from,
                         dsn(to, "5.1.1", "550 5.1.1 <%s>: Recipient address rejected: User unknown" % to,
                             original_headers(got)))
    assert code == 250, text
    row = wait_deliver_status(ca, mid, to, 3)
    assert "5.1.1" in row["DeliverMessage"], row
    listed = black_listed(ca, to)
    assert [b["EmailAddress"] for b in listed] == [to]
    assert "User unknown" in listed[0]["IspDesc"]
    expect_error(ca, "SendEmail", "FailedOperation.EmailAddrInBlacklist",
                 {"FromEmailAddress": snd[0], "Destination": [to], "Subject": "again",
                  "Template": {"TemplateID": snd[1], "TemplateData": json.dumps({"name": "A", "code": "1"})}})


def test_soft_dsn_marks_bounced_without_black_listing(srv, ca, snd, sink, rd):
    to, mid, got = delivered(ca, snd, sink, rd)
    code, text = inbound(srv, got.mail_from,
                         dsn(to, "5.2.2", "552 5.2.2 Mailbox full", original_headers(got)))
    assert code == 250, text
    row = wait_deliver_status(ca, mid, to, 3)
    assert "5.2.2" in row["DeliverMessage"]
    assert black_listed(ca, to) == []


def test_arf_complaint_shows_in_abuse_report_and_stops_mail(srv, ca, snd, sink, rd):
    sender, tid = snd
    to, mid, got = delivered(ca, snd, sink, rd)
    # Sent to the feedback-loop address, not a return path: matched by the original's
    # Message-ID and recipient.
    code, text = inbound(srv, f"fbl@{RETURN_PATH_DOMAIN}", arf(to, sender, got.data),
                         mail_from="feedback@fbl.remote.test")
    assert code == 250, text
    report = call(ca, "GetAbuseReport", {"StartTime": api_today(-1), "EndTime": api_today(1)})
    rows = [r for r in report["Data"] if r["OriginalRcptTo"] == to]
    assert len(rows) == 1, report
    row = rows[0]
    assert row["BulkId"] == mid
    assert row["OriginalMailFrom"] == sender
    assert row["FromDomain"] == sender.split("@")[1]
    assert row["Mta"] == rd
    assert row["SourceIp"] == "192.0.2.25"
    assert row["Subject"]
    assert row["MessageId"] == got.message["Message-ID"].strip("<>")
    assert report["TotalCount"] >= 1
    # Filters.
    only = call(ca, "GetAbuseReport", {"StartTime": api_today(-1), "EndTime": api_today(1), "ToAddress": to})
    assert [r["OriginalRcptTo"] for r in only["Data"]] == [to] and only["TotalCount"] == 1
    none = call(ca, "GetAbuseReport", {"StartTime": api_today(-1), "EndTime": api_today(1),
                                       "FromDomain": "nobody.example"})
    assert none["Data"] == [] and none["TotalCount"] == 0
    # The status row says so, and the account no longer mails that address.
    wait_until(lambda: (status_of(ca, mid, to) or {}).get("UserComplainted") is True, 10,
               what="UserComplainted")
    assert status_of(ca, mid, to)["UserComplained"] is True
    assert black_listed(ca, to), "a complaint black-lists the address for the account"
    # The same report again is not counted twice.
    inbound(srv, f"fbl@{RETURN_PATH_DOMAIN}", arf(to, sender, got.data), mail_from="feedback@fbl.remote.test")
    again = call(ca, "GetAbuseReport", {"StartTime": api_today(-1), "EndTime": api_today(1), "ToAddress": to})
    assert again["TotalCount"] == 1


def test_abuse_report_is_per_account_and_validates(srv, ca):
    other = srv.client(srv.account("inbound-b"))
    r = call(other, "GetAbuseReport", {"StartTime": api_today(-1), "EndTime": api_today(1)})
    assert r["Data"] == [] and r["TotalCount"] == 0
    expect_error(ca, "GetAbuseReport", "InvalidParameter.InvalidStartTimeFormat",
                 {"StartTime": "yesterday", "EndTime": api_today()})
    expect_error(ca, "GetAbuseReport", "InvalidParameter.InvalidEndTimeFormat",
                 {"StartTime": api_today(), "EndTime": "2026-13-40"})
    expect_error(ca, "GetAbuseReport", "FailedOperation.InvalidLimit",
                 {"StartTime": api_today(), "EndTime": api_today(), "Limit": 5000})


def test_everything_else_is_refused(srv, ca, snd, sink, rd):
    to, mid, got = delivered(ca, snd, sink, rd)
    vacation = (f"From: {to}\r\nTo: {got.mail_from}\r\nSubject: Out of office\r\n"
                f"Auto-Submitted: auto-replied\r\nDate: {formatdate()}\r\n\r\n"
                f"I am away until Monday.\r\n").encode()
    code, text = inbound(srv, got.mail_from, vacation)
    assert code == 550, text
    assert status_of(ca, mid, to)["DeliverStatus"] == 1, "an auto-reply is not a bounce"
    # Addresses that are not ours.
    code, _ = inbound(srv, f"someone@{rd}", b"Subject: x\r\n\r\nx\r\n")
    assert code == 550
    local, domain = got.mail_from.split("@")
    forged = local[:-1] + ("0" if local[-1] != "0" else "1") + "@" + domain
    code, _ = inbound(srv, forged, b"Subject: x\r\n\r\nx\r\n")
    assert code == 550, "a return path with a wrong MAC is refused"


def test_bounce_parse_command(srv, tmp_path):
    f = tmp_path / "bounce.eml"
    f.write_bytes(dsn("gone@example.org", "5.1.1", "550 5.1.1 user unknown", "Subject: hi\r\n"))
    r = srv.cli("bounce", "parse", str(f))
    out = json.loads(r.stdout)
    assert out["file"] == str(f) and out["kind"] == "hard"
    assert out["recipients"][0]["address"] == "gone@example.org"
    assert out["recipients"][0]["status"] == "5.1.1"
    assert out["recipients"][0]["kind"] == "hard"
