"""SMTP submission end to end (docs/smtp.md): real clients (Python's smtplib, swaks) send
through `[smtp] listen` (STARTTLS) and `tls_listen` (implicit TLS) with AUTH as a sender address
and the password of UpdateEmailSmtpPassWord; the mail joins the queue of SendEmail and reaches
the SMTP sink DKIM-signed, its MIME body intact. Refusals carry the SMTP codes of
SES-REFERENCE §11; protocol abuse gets a clear reply or a closed connection.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import uuid
from email.message import EmailMessage

import pytest

from helpers import RETURN_PATH_DOMAIN, call, dkim_signatures, ready_sender, sink_domain, statuses, wait_until

PASSWORD = "Sesame2024pw"
QUEUED_RE = re.compile(r"Ok: queued as (qcloudses-30-\d+-date-\d{14}-\S+)")


def tls_context() -> ssl.SSLContext:
    """The server's certificate is self-signed (made at start): the tests trust it blindly."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture(scope="module")
def srv(make_sending_server):
    return make_sending_server(name="smtp")


@pytest.fixture(scope="module")
def ca(srv):
    return srv.client(srv.account("smtp-a"))


@pytest.fixture(scope="module")
def snd(srv, ca):
    """A sender of account A with an SMTP password."""
    sender, _ = ready_sender(srv, ca)
    call(ca, "UpdateEmailSmtpPassWord", {"EmailAddress": sender, "Password": PASSWORD})
    return sender


@pytest.fixture(scope="module")
def rd(dns):
    return sink_domain(dns)


def mail(sender: str, to: str, subject: str = "Report", bcc: str | None = None,
         attachment: bytes | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"Reports <{sender}>"
    m["To"] = to
    if bcc:
        m["Bcc"] = bcc
    m["Subject"] = subject
    m.set_content("Hello over SMTP.\nSecond line.\n")
    m.add_alternative("<p>Hello over <b>SMTP</b>.</p>", subtype="html")
    if attachment is not None:
        m.add_attachment(attachment, maintype="application", subtype="pdf", filename="report.pdf")
    return m


def submit(srv, sender: str, msg: EmailMessage, *, implicit: bool = False, mechanism: str = "LOGIN",
           password: str = PASSWORD) -> str:
    """Sends `msg` with AUTH; returns the MessageId of the 250 reply."""
    if implicit:
        client = smtplib.SMTP_SSL("127.0.0.1", srv.smtps_port, context=tls_context(), timeout=30)
    else:
        client = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30)
    with client as s:
        s.ehlo("client.test")
        if not implicit:
            s.starttls(context=tls_context())
            s.ehlo("client.test")
        if mechanism == "LOGIN":
            s.login(sender, password)
        else:
            s.auth("PLAIN", lambda challenge=None: f"\0{sender}\0{password}")
        refused = {}
        code, text = s.mail(sender)
        assert code == 250, text
        rcpts = [a.strip() for a in (msg.get_all("To") or []) + (msg.get_all("Bcc") or [])]
        for r in rcpts:
            code, text = s.rcpt(r)
            if code != 250:
                refused[r] = (code, text)
        assert not refused, refused
        code, text = s.data(msg.as_bytes())
        text = text.decode()
        assert code == 250, text
    m = QUEUED_RE.search(text)
    assert m, f"250 reply without the MessageId: {text!r}"
    return m.group(1)


# --------------------------------------------------------------------------- the happy paths


def test_starttls_auth_login_with_attachment_arrives_signed_and_intact(srv, ca, snd, rd, sink, dns):
    to, hidden = f"ok-{uuid.uuid4().hex[:6]}@{rd}", f"ok-bcc-{uuid.uuid4().hex[:6]}@{rd}"
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    msg = mail(snd, to, "Quarterly report", bcc=hidden, attachment=pdf)
    message_id = submit(srv, snd, msg)

    got = sink.wait_message(to)
    assert re.match(r"^b-[^@]+@" + re.escape(RETURN_PATH_DOMAIN) + "$", got.mail_from, re.I)
    parsed = got.message
    assert parsed["Subject"] == "Quarterly report"
    assert parsed["Bcc"] is None, "Bcc must never travel"
    assert parsed["Message-ID"], "a Message-ID is added when the client sends none"
    assert parsed["Date"], "a Date is added when the client sends none"
    sigs = dkim_signatures(got.data, dns)
    assert sigs and all(s["ok"] for s in sigs), sigs
    assert sigs[0]["d"] == snd.split("@")[1]
    parts = [p for p in parsed.iter_attachments()]
    assert [p.get_filename() for p in parts] == ["report.pdf"]
    assert parts[0].get_content() == pdf
    assert "Hello over SMTP." in parsed.get_body(("plain",)).get_content()
    # The client's MIME body is kept as sent: the sink's body equals what we sent (smtplib
    # sends LF line endings, taken as CRLF, and adds a CRLF at the end).
    sent_body = msg.as_bytes().replace(b"\n", b"\r\n").split(b"\r\n\r\n", 1)[1]
    assert got.data.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n") == sent_body.rstrip(b"\r\n")

    assert sink.wait_message(hidden), "the Bcc recipient gets the mail"
    wait_until(lambda: len([r for r in statuses(ca, message_id) if r["DeliverStatus"] == 1]) == 2,
               20, what="both recipients delivered")
    rows = statuses(ca, message_id)
    assert {r["ToEmailAddress"] for r in rows} == {to, hidden}
    assert all(r["FromEmailAddress"] == snd for r in rows)


def test_implicit_tls_and_auth_plain(srv, snd, rd, sink):
    to = f"ok-{uuid.uuid4().hex[:6]}@{rd}"
    custom_id = f"<{uuid.uuid4().hex}@{snd.split('@')[1]}>"
    msg = mail(snd, to, "Über TLS ✓")
    msg["Message-ID"] = custom_id
    submit(srv, snd, msg, implicit=True, mechanism="PLAIN")
    got = sink.wait_message(to).message
    assert got["Subject"] == "Über TLS ✓"
    assert got["Message-ID"] == custom_id, "a client's own Message-ID is kept"


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed (scripts/test installs it)")
def test_swaks_starttls_auth_with_attachment(srv, snd, rd, sink, dns, tmp_path):
    to = f"ok-{uuid.uuid4().hex[:6]}@{rd}"
    attachment = tmp_path / "notes.txt"
    attachment.write_bytes(b"line one\nline two\n")
    for mechanism in ("LOGIN", "PLAIN"):
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(srv.smtp_port), "--tls",
             "--auth", mechanism, "--auth-user", snd, "--auth-password", PASSWORD,
             "--from", snd, "--to", to, "--header", f"Subject: swaks {mechanism}",
             "--attach", f"@{attachment}", "--timeout", "30"],
            capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "queued as qcloudses-30-" in r.stdout, r.stdout
    got = sink.wait_for(lambda _: sink.messages_to(to) if len(sink.messages_to(to)) >= 2 else None,
                        what="both swaks messages")
    for m in got:
        assert all(s["ok"] for s in dkim_signatures(m.data, dns))
        files = {p.get_filename(): p.get_content() for p in m.message.iter_attachments()}
        assert list(files.values()) == ["line one\nline two\n"] or list(files.values()) == [b"line one\nline two\n"]


def test_trusted_network_submits_without_auth(make_sending_server, dns, sink):
    trusted = make_sending_server({"smtp": {"trusted_networks": ["127.0.0.1/32"]}}, name="trusted")
    client = trusted.client(trusted.account("trusted"))
    sender, _ = ready_sender(trusted, client)
    to = f"ok-{uuid.uuid4().hex[:6]}@{sink_domain(dns)}"
    with smtplib.SMTP("127.0.0.1", trusted.smtp_port, timeout=30) as s:
        s.ehlo("app.test")
        refused = s.sendmail(sender, [to], mail(sender, to).as_bytes())
        assert refused == {}
        code, text = s.mail("nobody@unknown-sender.test")
        assert code == 553, text
    assert sink.wait_message(to)


# --------------------------------------------------------------------------- refusals


def raw_session(port: int, tls: bool = False) -> smtplib.SMTP:
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.ehlo("client.test")
    if tls:
        s.starttls(context=tls_context())
        s.ehlo("client.test")
    return s


def test_wrong_password_is_535_and_throttled(make_sending_server):
    # Its own server: the throttle blocks 127.0.0.1 for ten minutes.
    srv = make_sending_server(name="smtp-throttle")
    client = srv.client(srv.account("throttle"))
    snd, _ = ready_sender(srv, client)
    call(client, "UpdateEmailSmtpPassWord", {"EmailAddress": snd, "Password": PASSWORD})
    with raw_session(srv.smtp_port, tls=True) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(snd, "Wrong1234pw")
        assert e.value.smtp_code == 535
    # Keep failing from this client: after five failures even the right password is refused.
    codes = []
    for _ in range(6):
        try:
            with raw_session(srv.smtp_port, tls=True) as s:
                s.login(snd, "Wrong1234pw")
        except smtplib.SMTPAuthenticationError as e:
            codes.append(e.smtp_code)
        except smtplib.SMTPServerDisconnected:
            codes.append("closed")
    assert 454 in codes, codes
    try:
        with raw_session(srv.smtp_port, tls=True) as s:
            s.login(snd, PASSWORD)
        throttled = False
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPServerDisconnected):
        throttled = True
    assert throttled, "a throttled client must not get in even with the right password"


@pytest.fixture(scope="module")
def other(srv):
    """A second server-local account B with its own sender (and SMTP password)."""
    cb = srv.client(srv.account("smtp-b"))
    sender, _ = ready_sender(srv, cb)
    call(cb, "UpdateEmailSmtpPassWord", {"EmailAddress": sender, "Password": PASSWORD})
    return cb, sender


def test_auth_needs_tls_and_mail_needs_auth(srv, snd, other):
    sender = snd
    with raw_session(srv.smtp_port) as s:
        assert not s.has_extn("auth"), "AUTH is offered only after STARTTLS"
        assert s.has_extn("starttls") and s.has_extn("pipelining") and s.has_extn("size")
        assert s.has_extn("8bitmime") and s.has_extn("smtputf8") and s.has_extn("enhancedstatuscodes")
        code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{sender}\0{PASSWORD}".encode()).decode())
        assert code == 538, text
        code, text = s.mail(sender)
        assert code == 530, text
    with raw_session(srv.smtp_port, tls=True) as s:
        assert "PLAIN" in s.esmtp_features.get("auth", "").upper()
        s.login(sender, PASSWORD)
        # Another account's sender, and an address that is nobody's sender.
        code, text = s.mail(other[1])
        assert code == 553, text
        code, text = s.mail(f"ghost@{sender.split('@')[1]}")
        assert code == 553, text
        code, _ = s.mail(sender)
        assert code == 250


def test_business_refusal_carries_the_api_error(srv, ca, snd, rd):
    blocked = f"blocked-{uuid.uuid4().hex[:6]}@{rd}"
    call(ca, "CreateCustomBlacklist", {"Emails": [blocked]})
    with raw_session(srv.smtp_port, tls=True) as s:
        s.login(snd, PASSWORD)
        s.mail(snd)
        s.rcpt(blocked)
        code, text = s.data(mail(snd, blocked).as_bytes())
    text = text.decode()
    assert code == 554, text
    assert text.startswith("5.0.0 Error: transaction failed"), text
    body = json.loads(text.split("##SES-response-json: ", 1)[1])
    assert body["Response"]["QcloudError"]["Error"]["Code"] == "FailedOperation.EmailAddrInBlacklist"


def test_message_rules(srv, snd, rd):
    to = f"ok-{uuid.uuid4().hex[:6]}@{rd}"
    with raw_session(srv.smtp_port, tls=True) as s:
        s.login(snd, PASSWORD)
        # No Subject.
        s.mail(snd)
        s.rcpt(to)
        code, text = s.data(f"From: {snd}\r\nTo: {to}\r\n\r\nbody\r\n".encode())
        assert code == 554 and b"msg.Subject is null" in text, text
        # A From header of another domain.
        s.mail(snd)
        s.rcpt(to)
        code, text = s.data(f"From: someone@else.example\r\nTo: {to}\r\nSubject: x\r\n\r\nbody\r\n".encode())
        assert code == 554 and b"NotAuthenticatedSender" in text, text
        # An executable attachment.
        m = mail(snd, to)
        m.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="setup.exe")
        s.mail(snd)
        s.rcpt(to)
        code, text = s.data(m.as_bytes())
        assert code == 554 and b"InvalidAttachName" in text, text
        # Declared too big.
        code, text = s.docmd("MAIL", f"FROM:<{snd}> SIZE=900000000")
        assert code == 552, text


# --------------------------------------------------------------------------- protocol abuse


@pytest.fixture(scope="module")
def strict(make_sending_server):
    """A server with a 2 s idle timeout, so the stalling tests end quickly."""
    s = make_sending_server({"smtp": {"timeout": "2s", "trusted_networks": ["127.0.0.1/32"]}}, name="strict")
    client = s.client(s.account("strict"))
    sender, _ = ready_sender(s, client)
    return s, sender


def line_session(port: int) -> tuple[socket.socket, "LineReader"]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    reader = LineReader(sock)
    assert reader.reply().startswith("220")
    return sock, reader


class LineReader:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def reply(self) -> str:
        """One whole reply (all lines of a multi-line one)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed: " + " | ".join(lines))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def cmd(self, text: str | bytes) -> str:
        self.sock.sendall(text if isinstance(text, bytes) else (text + "\r\n").encode())
        return self.reply()


def test_overlong_command_line_and_garbage(strict):
    srv, _ = strict
    sock, r = line_session(srv.smtp_port)
    with sock:
        assert r.cmd("EHLO x").startswith("250")
        assert r.cmd("NOOP " + "a" * 10_000).startswith("500 5.5.2")
        assert r.cmd("NOOP").startswith("250"), "the session survives an over-long line"
        replies = []
        try:
            for _ in range(20):
                replies.append(r.cmd("GARBAGE \x00\x01 not smtp"))
        except ConnectionError:
            pass
        assert replies[0].startswith("500"), replies
        assert any(x.startswith("421") or "421" in x for x in replies), f"too many errors must close: {replies}"


def test_thousand_recipients_get_452_after_fifty(strict, dns):
    srv, sender = strict
    rd = sink_domain(dns)
    sock, r = line_session(srv.smtp_port)
    with sock:
        r.cmd("EHLO x")
        assert r.cmd(f"MAIL FROM:<{sender}>").startswith("250")
        # Pipelined: all 1000 RCPTs in one write, then read the 1000 replies.
        sock.sendall("".join(f"RCPT TO:<ok-{i}@{rd}>\r\n" for i in range(1000)).encode())
        replies = [r.reply() for _ in range(1000)]
        assert all(x.startswith("250") for x in replies[:50]), replies[:50]
        assert all(x.startswith("452 4.5.3") for x in replies[50:]), set(x[:9] for x in replies[50:])
        assert r.cmd("RSET").startswith("250")
        assert r.cmd("QUIT").startswith("221")


def test_bare_lf_long_lines_and_dot_stuffing(strict, dns, sink):
    srv, sender = strict
    rd = sink_domain(dns)
    to = f"ok-{uuid.uuid4().hex[:6]}@{rd}"
    sock, r = line_session(srv.smtp_port)
    with sock:
        r.cmd("EHLO x")
        head = f"From: {sender}\r\nTo: {to}\r\nSubject: abuse\r\n\r\n"
        # Bare LFs are taken as CRLF, but ".<LF>" and a "." line after a bare LF do not end
        # the data (no smuggling): only <CR><LF>.<CR><LF> does.
        r.cmd(f"MAIL FROM:<{sender}>"), r.cmd(f"RCPT TO:<{to}>")
        assert r.cmd("DATA").startswith("354")
        reply = r.cmd((head + "bare one\n.\nMAIL FROM:<x@y>\n.\r\nsmuggled\r\n.\r\n").encode())
        assert reply.startswith("250 2.0.0 Ok: queued as"), reply
        # A line of 3000 characters.
        r.cmd(f"MAIL FROM:<{sender}>"), r.cmd(f"RCPT TO:<{to}>")
        assert r.cmd("DATA").startswith("354")
        assert r.cmd((head + "x" * 3000 + "\r\n.\r\n").encode()).startswith("554 5.0.0")
        # Dot-stuffed lines come out unstuffed; ".\n" is not the end of data.
        r.cmd(f"MAIL FROM:<{sender}>"), r.cmd(f"RCPT TO:<{to}>")
        assert r.cmd("DATA").startswith("354")
        reply = r.cmd((head + "..leading dot\r\n.\r\n").encode())
        assert reply.startswith("250 2.0.0 Ok: queued as"), reply
    got = sink.wait_for(lambda _: sink.messages_to(to) if len(sink.messages_to(to)) >= 2 else None,
                        what="both messages")
    # (a lone "." line is content; dot-unstuffing leaves it empty)
    assert any(b"\r\nbare one\r\n\r\nMAIL FROM:<x@y>\r\n\r\nsmuggled\r\n" in m.data for m in got), \
        [m.data[-200:] for m in got]
    assert any(b"\r\n.leading dot\r\n" in m.data for m in got)


def test_stalled_client_and_endless_tls_handshake_are_closed(strict):
    srv, _ = strict
    # A client that says nothing after the greeting.
    sock, r = line_session(srv.smtp_port)
    with sock:
        start = time.monotonic()
        reply = r.reply()
        assert reply.startswith("421"), reply
        assert time.monotonic() - start < 8
    # A TLS handshake that never ends (implicit TLS port, no ClientHello).
    with socket.create_connection(("127.0.0.1", srv.smtps_port), timeout=10) as tls:
        start = time.monotonic()
        assert tls.recv(100) == b"", "the server closes a handshake that never finishes"
        assert time.monotonic() - start < 8
    # Meanwhile and afterwards the server serves others.
    sock, r = line_session(srv.smtp_port)
    with sock:
        assert r.cmd("EHLO x").startswith("250")


def test_many_stalled_clients_do_not_block_a_real_one(strict):
    srv, _ = strict
    idle = [socket.create_connection(("127.0.0.1", srv.smtp_port), timeout=10) for _ in range(30)]
    try:
        sock, r = line_session(srv.smtp_port)
        with sock:
            assert r.cmd("EHLO x").startswith("250")
    finally:
        for s in idle:
            s.close()
