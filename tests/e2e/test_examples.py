"""The examples under examples/ (docs/examples.md), each run as a user would run it, against the
real server: the official SDKs (Python, Node.js) and tccli send a template mail and read its
status; SMTP clients (smtplib, nodemailer, Jakarta Mail, Go's net/smtp, PHPMailer, swaks) send a
mail with an attachment over STARTTLS with AUTH; the webhook receivers (Python, Node.js) take a
real signed callback and refuse tampered ones. Every mail is checked at the SMTP sink: subject,
body, attachment bytes, DKIM signature.

A missing toolchain skips its example here, but fails under CI=true (scripts/test installs them).
These tests exercise clients, not storage: they run on the SQLite pass only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import (call, call_json, dkim_signatures, free_port, ready_sender, send, sink_domain, statuses,
                     unique_domain, wait_until)

pytestmark = [
    pytest.mark.skipif(bool(os.environ.get("SESAME_TEST_DATABASE_URL")),
                       reason="the examples exercise clients, not storage: run on the SQLite pass only"),
    pytest.mark.timeout(300),
]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "Examples2024pw"
MESSAGE_ID_RE = re.compile(r"qcloudses-30-\d+-date-\d{14}-[0-9A-Za-z-]+")
JAKARTA_CP = ["/usr/share/java/jakarta-mail.jar", "/usr/share/java/jakarta-activation.jar"]
PHPMAILER = "/usr/share/php/libphp-phpmailer/autoload.php"


def need(ok: bool, what: str) -> None:
    """Skip (locally) or fail (CI=true) when a toolchain is missing."""
    if ok:
        return
    msg = f"missing {what} (scripts/test installs it)"
    if IN_CI:
        pytest.fail(msg + ": under CI every example must run")
    pytest.skip(msg)


def need_node_modules(*packages: str) -> str:
    node = shutil.which("node")
    need(node is not None, "node (Debian nodejs)")
    missing = [p for p in packages if not (EXAMPLES / "node" / "node_modules" / p / "package.json").exists()]
    need(not missing, f"npm packages {missing} (run npm ci in examples/node)")
    return node


def run(cmd: list[str], env: dict, cwd: Path = EXAMPLES, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run an example with the user's environment plus `env`; assert it exits 0."""
    full = dict(os.environ)
    full = {k: v for k, v in full.items() if not k.startswith("SESAME_")}
    # tccli and the Python SDK live in the suite's venv.
    full["PATH"] = str(Path(sys.executable).parent) + os.pathsep + full.get("PATH", "")
    full.update(env)
    r = subprocess.run(cmd, env=full, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (f"{' '.join(map(str, cmd))} exited {r.returncode}\n"
                               f"--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}")
    return r


def assert_signed(raw: bytes, dns, domain: str) -> None:
    sigs = dkim_signatures(raw, dns)
    assert sigs and all(s["ok"] for s in sigs), f"DKIM signatures do not verify: {sigs}"
    assert {s["d"] for s in sigs} == {domain}, sigs


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def srv(make_sending_server):
    return make_sending_server(name="examples")


@pytest.fixture(scope="module")
def rd(dns):
    return sink_domain(dns, "examples")


def rcpt(rd: str, name: str) -> str:
    return f"ok-{name}-{uuid.uuid4().hex[:6]}@{rd}"


# --------------------------------------------------------------------------- SDKs and tccli


def sdk_python():
    return [sys.executable, str(EXAMPLES / "python" / "sdk_send.py")]


def sdk_node():
    return [need_node_modules("tencentcloud-sdk-nodejs"), str(EXAMPLES / "node" / "sdk_send.js")]


def sdk_tccli():
    need(shutil.which("tccli", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
         is not None, "tccli (tests/e2e/requirements.txt)")
    return ["sh", str(EXAMPLES / "tccli" / "send.sh")]


@pytest.mark.parametrize("example", [sdk_python, sdk_node, sdk_tccli], ids=["python", "node", "tccli"])
def test_sdk_example_sends_a_template_mail_and_reads_its_status(example, srv, rd, sink, dns):
    cmd = example()
    acct = srv.account(f"sdk-{example.__name__}")
    client = srv.client(acct)
    domain = unique_domain("sdk")
    srv.verify_domain(client, domain)
    sender = f"noreply@{domain}"  # the example creates it
    env = {"SESAME_ENDPOINT": f"http://127.0.0.1:{srv.api_port}", "SESAME_SECRET_ID": acct.secret_id,
           "SESAME_SECRET_KEY": acct.secret_key, "SESAME_FROM": sender}

    # First run: it creates the sender and the template.
    to = rcpt(rd, "sdk")
    r = run(cmd, dict(env, SESAME_TO=to))
    created = re.search(r"created template (\d+)", r.stdout)
    assert created, f"the example says which template it created:\n{r.stdout}"
    template_id = int(created.group(1))
    mids = MESSAGE_ID_RE.findall(r.stdout)
    assert mids, f"the example prints the MessageId:\n{r.stdout}"
    message_id = mids[0]
    assert '"DeliverStatus": 1' in r.stdout.replace('"DeliverStatus":1', '"DeliverStatus": 1'), \
        f"the example prints the delivered status:\n{r.stdout}"

    got = sink.wait_message(to)
    msg = got.message
    assert msg["Subject"] == "Your code, Ann"
    assert "Hello Ann, your code is 424242." in msg.get_body(("plain",)).get_content()
    assert "424242" in msg.get_body(("html",)).get_content()
    assert_signed(got.data, dns, domain)
    rows = statuses(client, message_id)
    assert [(x["ToEmailAddress"], x["DeliverStatus"]) for x in rows] == [(to, 1)], rows
    senders = call(client, "ListEmailAddress")["EmailSenders"]
    assert [s["EmailAddress"] for s in senders] == [sender]

    # Second run: the sender exists and the template is given.
    to2 = rcpt(rd, "sdk")
    r = run(cmd, dict(env, SESAME_TO=to2, SESAME_TEMPLATE_ID=str(template_id)))
    assert "created template" not in r.stdout, r.stdout
    got = sink.wait_message(to2)
    assert got.message["Subject"] == "Your code, Ann"
    assert_signed(got.data, dns, domain)
    assert len(call(client, "ListEmailTemplates", {"Limit": 100, "Offset": 0})["TemplatesMetadata"]) == 1


# --------------------------------------------------------------------------- SMTP


@pytest.fixture(scope="module")
def smtp_sender(srv):
    client = srv.client(srv.account("smtp-examples"))
    sender, _ = ready_sender(srv, client, local="reports")
    call(client, "UpdateEmailSmtpPassWord", {"EmailAddress": sender, "Password": PASSWORD})
    return client, sender


@pytest.fixture(scope="module")
def attachment(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("attachment") / "report.pdf"
    p.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n")
    return p


def smtp_python(tmp):
    return [sys.executable, str(EXAMPLES / "python" / "smtp_send.py")], EXAMPLES


def smtp_node(tmp):
    return [need_node_modules("nodemailer"), str(EXAMPLES / "node" / "smtp_send.js")], EXAMPLES


def smtp_java(tmp):
    javac, java = shutil.which("javac"), shutil.which("java")
    need(javac is not None and java is not None, "a JDK (javac; Debian default-jdk-headless)")
    need(all(Path(j).exists() for j in JAKARTA_CP), "Jakarta Mail (Debian libjakarta-mail-java)")
    cp = os.pathsep.join(JAKARTA_CP)
    build = tmp / "java-build"
    run([javac, "-cp", cp, "-d", str(build), str(EXAMPLES / "java" / "SendMail.java")], {})
    return [java, "-cp", str(build) + os.pathsep + cp, "SendMail"], EXAMPLES


def smtp_go(tmp):
    go = shutil.which("go")
    need(go is not None, "Go (Debian golang-go)")
    return [go, "run", "."], EXAMPLES / "go"


def smtp_php(tmp):
    php = shutil.which("php")
    need(php is not None, "PHP (Debian php-cli)")
    need(Path(PHPMAILER).exists(), "PHPMailer (Debian libphp-phpmailer)")
    return [php, str(EXAMPLES / "php" / "smtp_send.php")], EXAMPLES


def smtp_swaks(tmp):
    need(shutil.which("swaks") is not None, "swaks")
    return ["sh", str(EXAMPLES / "swaks" / "send.sh")], EXAMPLES


@pytest.mark.parametrize("example", [smtp_python, smtp_node, smtp_java, smtp_go, smtp_php, smtp_swaks],
                         ids=["python", "node", "java", "go", "php", "swaks"])
def test_smtp_example_sends_an_attachment(example, srv, smtp_sender, attachment, rd, sink, dns, tmp_path):
    client, sender = smtp_sender
    cmd, cwd = example(tmp_path)
    to = rcpt(rd, "smtp")
    env = {"SESAME_SMTP_HOST": "127.0.0.1", "SESAME_SMTP_PORT": str(srv.smtp_port),
           "SESAME_SMTP_USER": sender, "SESAME_SMTP_PASSWORD": PASSWORD, "SESAME_FROM": sender,
           "SESAME_TO": to, "SESAME_ATTACHMENT": str(attachment), "SESAME_SMTP_INSECURE": "1"}
    if example is smtp_go and not os.environ.get("HOME") and not os.environ.get("GOCACHE"):
        env["GOCACHE"] = str(tmp_path / "gocache")
    run(cmd, env, cwd=cwd)

    got = sink.wait_message(to, timeout=30)
    msg = got.message
    assert msg["Subject"] == "Monthly report"
    assert msg["From"].addresses[0].addr_spec == sender
    assert "the monthly report is attached" in msg.get_body(("plain",)).get_content()
    parts = list(msg.iter_attachments())
    assert [p.get_filename() for p in parts] == ["report.pdf"], [p.get("Content-Type") for p in parts]
    assert parts[0].get("Content-Transfer-Encoding", "").lower() == "base64"
    assert parts[0].get_payload(decode=True) == attachment.read_bytes(), "attachment bytes changed"
    assert_signed(got.data, dns, sender.split("@")[1])
    wait_until(lambda: [x["DeliverStatus"] for x in statuses(client, to=to)] == [1], 20,
               what=f"GetSendEmailStatus of {to} delivered")


# --------------------------------------------------------------------------- webhook receivers


class Recorder:
    """A relay between Sesame and the receiver under test: it records each callback exactly as
    Sesame sent it (headers, raw body) and forwards it, answering with the receiver's status."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.posts: list[tuple[dict, bytes, int]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items()}
                status = rec.forward(self.path, headers, body)
                rec.posts.append((headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def forward(self, path: str, headers: dict, body: bytes) -> int:
        keep = {k: v for k, v in headers.items() if k.lower().startswith("x-sesame-") or k.lower() == "content-type"}
        return post(self.target_port, path, keep, body)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def post(port: int, path: str, headers: dict, body: bytes) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 502


class Receiver:
    """The example receiver as a subprocess; its stdout lines are collected."""

    def __init__(self, cmd: list[str], secret: str, port: int):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
        env.update({"SESAME_WEBHOOK_SECRET": secret, "SESAME_WEBHOOK_HOST": "127.0.0.1",
                    "SESAME_WEBHOOK_PORT": str(port)})
        self.port = port
        self.lines: list[str] = []
        self.proc = subprocess.Popen(cmd, env=env, cwd=EXAMPLES, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.errors: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True).start()

        def listening():
            assert self.proc.poll() is None, f"the receiver exited {self.proc.returncode}: {self.errors}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(listening, 20, 0.1, "the receiver to listen")

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    def events(self) -> list[dict]:
        return [json.loads(x) for x in list(self.lines) if x.startswith("{")]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def webhook_python():
    return [sys.executable, str(EXAMPLES / "python" / "webhook_receiver.py")]


def webhook_node():
    node = shutil.which("node")
    need(node is not None, "node (Debian nodejs)")
    return [node, str(EXAMPLES / "node" / "webhook_receiver.js")]


@pytest.mark.parametrize("example", [webhook_python, webhook_node], ids=["python", "node"])
def test_webhook_receiver_verifies_real_callbacks_and_refuses_tampered_ones(example, srv, rd, sink):
    cmd = example()
    client = srv.client(srv.account(f"hooks-{example.__name__}"))
    sender, tid = ready_sender(srv, client)
    recv_port = free_port()
    relay = Recorder(recv_port)
    receiver = None
    try:
        secret = call_json(client, "CreateCallbackAddress",
                           {"CallbackUrl": f"http://127.0.0.1:{relay.port}/sesame/events"})["SigningSecret"]
        receiver = Receiver(cmd, secret, recv_port)

        to = rcpt(rd, "hook")
        mid = send(client, sender, to, tid)
        sink.wait_message(to)
        event = wait_until(lambda: next((e for e in receiver.events() if e.get("bulkId") == mid
                                         and e.get("event") == "delivered"), None),
                           30, 0.1, f"the receiver to print the delivered event of {mid}")
        assert event["email"] == to and event["from"] == sender and event["templateId"] == tid, event
        assert event["_eventId"], "the receiver keeps X-Sesame-Event-Id for de-duplication"
        # The relay records a POST once the receiver has answered it (after the receiver printed).
        headers, body, status = wait_until(
            lambda: next((p for p in reversed(relay.posts) if json.loads(p[1]).get("bulkId") == mid), None),
            10, 0.05, "the relay to record the callback")
        assert status == 204, (body, status)
        # Sesame sends lower-case header names (HTTP/1.1 names are case-insensitive).
        headers = {k.title(): v for k, v in headers.items()
                   if k.lower().startswith("x-sesame-") or k.lower() == "content-type"}
        ts = headers["X-Sesame-Timestamp"]
        printed = len(receiver.lines)

        # The very callback again is accepted (it is within the time tolerance) ...
        assert post(recv_port, "/sesame/events", headers, body) == 204
        # ... but not once tampered with.
        tampered = body.replace(b'"delivered"', b'"bounce"', 1)
        assert tampered != body
        assert post(recv_port, "/sesame/events", headers, tampered) == 401, "a changed body must be refused"
        assert post(recv_port, "/sesame/events", dict(headers, **{"X-Sesame-Timestamp": str(int(ts) + 1)}),
                    body) == 401, "a changed timestamp must be refused"
        no_sig = {k: v for k, v in headers.items() if k != "X-Sesame-Signature"}
        assert post(recv_port, "/sesame/events", no_sig, body) == 401, "an unsigned callback must be refused"
        wrong = "v1=" + hmac.new(b"not the secret", ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert post(recv_port, "/sesame/events", dict(headers, **{"X-Sesame-Signature": wrong}), body) == 401
        # A correct signature over a stale timestamp is a replay: refused.
        old = str(int(time.time()) - 3600)
        stale = "v1=" + hmac.new(secret.encode(), old.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert post(recv_port, "/sesame/events",
                    dict(headers, **{"X-Sesame-Timestamp": old, "X-Sesame-Signature": stale}), body) == 401
        # Control: the same construction with the current time is accepted, so the refusals above
        # are the receiver's checks, not a broken request.
        now = str(int(time.time()))
        fresh = "v1=" + hmac.new(secret.encode(), now.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert post(recv_port, "/sesame/events",
                    dict(headers, **{"X-Sesame-Timestamp": now, "X-Sesame-Signature": fresh}), body) == 204
        wait_until(lambda: len(receiver.lines) >= printed + 2, 10, 0.05, "the receiver to print both good ones")
        time.sleep(0.3)
        assert len(receiver.lines) == printed + 2, receiver.lines[printed:]
        assert all(json.loads(x)["event"] == "delivered" for x in receiver.lines[printed:])
    finally:
        if receiver:
            receiver.stop()
        relay.stop()
