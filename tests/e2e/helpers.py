"""Shared helpers for the Sesame end-to-end suite.

Everything here talks to 127.0.0.1 only. Nothing in this module starts the server;
see conftest.py for the fixtures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.parse
import uuid
import email
from datetime import datetime, timedelta, timezone

from dnslib import AAAA, MX, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSServer

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
VERSION = "2020-10-02"


def free_port(udp_too: bool = False) -> int:
    """A port that is free on 127.0.0.1 for TCP (and UDP when asked)."""
    for _ in range(200):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            if udp_too:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
                finally:
                    u.close()
            return port
        finally:
            t.close()
    raise RuntimeError("no free port found")


def unique_domain(prefix: str = "d") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}.example.test"


def b64(text: str | bytes) -> str:
    if isinstance(text, str):
        text = text.encode("utf-8")
    return base64.b64encode(text).decode("ascii")


def unb64(text: str) -> str:
    return base64.b64decode(text).decode("utf-8")


# --------------------------------------------------------------------------- DNS


class _QuietLogger:
    def __getattr__(self, name):
        return lambda *a, **k: None


class Zone(BaseResolver):
    """An editable authoritative zone served by dnslib on 127.0.0.1.

    Names are stored lower-case without the trailing dot. Every answer is
    authoritative with TTL 0; unknown names get NXDOMAIN (with an SOA of
    minimum TTL 0 in the authority section, so nothing caches the negative
    answer); known names without the asked type get NOERROR/NODATA.
    Names in `servfail` answer SERVFAIL.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.records: dict[str, list[tuple[str, object]]] = {}
        self.servfail: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self.port = 0
        self._servers: list[DNSServer] = []

    # -- editing
    @staticmethod
    def _norm(name: str) -> str:
        return name.strip().rstrip(".").lower()

    def add_txt(self, name: str, value: str) -> None:
        with self.lock:
            self.records.setdefault(self._norm(name), []).append(("TXT", value))

    def set_txt(self, name: str, *values: str) -> None:
        with self.lock:
            n = self._norm(name)
            keep = [r for r in self.records.get(n, []) if r[0] != "TXT"]
            self.records[n] = keep + [("TXT", v) for v in values]

    def add_mx(self, name: str, host: str, preference: int = 10) -> None:
        with self.lock:
            self.records.setdefault(self._norm(name), []).append(("MX", (preference, host)))

    def add_a(self, name: str, ip: str) -> None:
        with self.lock:
            self.records.setdefault(self._norm(name), []).append(("A", ip))

    def add_aaaa(self, name: str, ip: str) -> None:
        with self.lock:
            self.records.setdefault(self._norm(name), []).append(("AAAA", ip))

    def remove(self, name: str, rtype: str | None = None) -> None:
        with self.lock:
            n = self._norm(name)
            if rtype is None:
                self.records.pop(n, None)
            else:
                left = [r for r in self.records.get(n, []) if r[0] != rtype]
                if left:
                    self.records[n] = left
                else:
                    self.records.pop(n, None)

    def remove_domain(self, domain: str) -> None:
        """Remove every record at or below `domain`."""
        d = self._norm(domain)
        with self.lock:
            for n in list(self.records):
                if n == d or n.endswith("." + d):
                    del self.records[n]

    def get(self, name: str) -> list:
        with self.lock:
            return list(self.records.get(self._norm(name), []))

    # -- serving
    def _exists(self, n: str) -> bool:
        return any(k == n or k.endswith("." + n) for k in self.records)

    def resolve(self, request, handler):
        reply = request.reply()
        reply.header.aa = 1
        qname = request.q.qname
        n = self._norm(str(qname))
        qtype = QTYPE.get(request.q.qtype)
        with self.lock:
            self.queries.append((n, qtype))
            if n in self.servfail:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            recs = list(self.records.get(n, []))
            exists = self._exists(n)
        for rtype, value in recs:
            if rtype != qtype and qtype != "ANY":
                continue
            if rtype == "TXT":
                raw = value.encode("utf-8")
                chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
                reply.add_answer(RR(qname, QTYPE.TXT, ttl=0, rdata=TXT(chunks)))
            elif rtype == "MX":
                pref, host = value
                reply.add_answer(RR(qname, QTYPE.MX, ttl=0, rdata=MX(host, pref)))
            elif rtype == "A":
                reply.add_answer(RR(qname, QTYPE.A, ttl=0, rdata=A(value)))
            elif rtype == "AAAA":
                reply.add_answer(RR(qname, QTYPE.AAAA, ttl=0, rdata=AAAA(value)))
        if not reply.rr:
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            apex = n.split(".")[-1] if n else "test"
            reply.add_auth(RR(DNSLabel(apex + "."), QTYPE.SOA, ttl=0,
                              rdata=SOA("ns." + apex + ".", "hostmaster." + apex + ".",
                                        (1, 3600, 600, 86400, 0))))
        return reply

    def start(self) -> None:
        for _ in range(20):
            port = free_port(udp_too=True)
            try:
                udp = DNSServer(self, address="127.0.0.1", port=port, tcp=False, logger=_QuietLogger())
                tcp = DNSServer(self, address="127.0.0.1", port=port, tcp=True, logger=_QuietLogger())
            except OSError:
                continue
            udp.start_thread()
            tcp.start_thread()
            self._servers = [udp, tcp]
            self.port = port
            return
        raise RuntimeError("could not start DNS server")

    def stop(self) -> None:
        for s in self._servers:
            s.stop()
            s.server.server_close()
        self._servers = []


# --------------------------------------------------------------------------- signing


def _hmac256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def tc3_signature(secret_key: str, method: str, query: str, content_type: str, host: str,
                  payload: bytes, timestamp: int, service: str = "ses") -> tuple[str, str]:
    """Return (date, signature) for a TC3-HMAC-SHA256 request."""
    date = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    canonical = "\n".join([
        method, "/", query,
        f"content-type:{content_type}\nhost:{host}\n",
        "content-type;host",
        hashlib.sha256(payload).hexdigest(),
    ])
    string_to_sign = "\n".join([
        "TC3-HMAC-SHA256", str(timestamp), f"{date}/{service}/tc3_request",
        hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    ])
    k = _hmac256(("TC3" + secret_key).encode("utf-8"), date)
    k = _hmac256(k, service)
    k = _hmac256(k, "tc3_request")
    return date, hmac.new(k, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def error_code(self):
        return self.json.get("Response", {}).get("Error", {}).get("Code")

    def __repr__(self):
        return f"<RawResponse {self.status} {self.headers.get('content-type')!r} {self.body[:500]!r}>"


def send_raw(port: int, method: str, target: str, headers: dict[str, str], body: bytes = b"",
             timeout: float = 30.0) -> RawResponse:
    """Send one HTTP/1.1 request over a plain socket and read the whole answer.

    A server may answer and close before reading a huge body: write errors are
    ignored and the answer is read anyway.
    """
    lines = [f"{method} {target} HTTP/1.1"]
    hdrs = dict(headers)
    hdrs.setdefault("Host", f"127.0.0.1:{port}")
    if body or method in ("POST", "PUT"):
        hdrs["Content-Length"] = str(len(body))
    hdrs["Connection"] = "close"
    for k, v in hdrs.items():
        lines.append(f"{k}: {v}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if _complete(data):
                break
    finally:
        s.close()
    return _parse_http(data)


def _complete(data: bytes) -> bool:
    if b"\r\n\r\n" not in data:
        return False
    head, rest = data.split(b"\r\n\r\n", 1)
    h = head.decode("latin-1").lower()
    m = re.search(r"\r\ncontent-length:\s*(\d+)", h)
    if m:
        return len(rest) >= int(m.group(1))
    if "transfer-encoding: chunked" in h:
        return rest.endswith(b"0\r\n\r\n")
    return False


def _parse_http(data: bytes) -> RawResponse:
    if b"\r\n\r\n" not in data:
        raise AssertionError(f"incomplete HTTP response: {data[:300]!r}")
    head, rest = data.split(b"\r\n\r\n", 1)
    hl = head.decode("latin-1").split("\r\n")
    status = int(hl[0].split()[1])
    headers = {}
    for line in hl[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2:]
    elif "content-length" in headers:
        body = rest[: int(headers["content-length"])]
    else:
        body = rest
    return RawResponse(status, headers, body)


def tc3_call(port: int, secret_id: str, secret_key: str, action: str, params=None, *,
             method: str = "POST", version: str = VERSION, region: str | None = "ap-guangzhou",
             timestamp: int | None = None, body: bytes | None = None, sign_body: bytes | None = None,
             authorization: str | None = None, host: str | None = None,
             sign_host: str | None = None, service: str = "ses", sign_method: str | None = None,
             extra_headers: dict | None = None) -> RawResponse:
    """A TC3-signed request built by hand.

    `body` overrides the JSON body sent; `sign_body` overrides what is signed
    (to tamper with a body after signing). For GET, params are urlencoded in the query.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    host = host or f"127.0.0.1:{port}"
    params = {} if params is None else params
    if method == "GET":
        ctype = "application/x-www-form-urlencoded"
        query = urllib.parse.urlencode(params)
        payload = b""
    else:
        ctype = "application/json"
        query = ""
        payload = json.dumps(params).encode("utf-8") if body is None else body
    signed = payload if sign_body is None else sign_body
    if extra_headers and extra_headers.get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD":
        signed = b"UNSIGNED-PAYLOAD"
    date, sig = tc3_signature(secret_key, sign_method or method, query, ctype, sign_host or host,
                              signed, ts, service)
    headers = {
        "Host": host,
        "Content-Type": ctype,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(ts),
        "Authorization": authorization or (
            f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={sig}"),
    }
    if region is not None:
        headers["X-TC-Region"] = region
    if extra_headers:
        headers.update(extra_headers)
    target = "/?" + query if query else "/"
    return send_raw(port, method, target, headers, payload)


def legacy_params(port: int, secret_id: str, secret_key: str, action: str, params: dict, *,
                  method: str = "POST", sign_method: str = "HmacSHA1", nonce: int | None = None,
                  timestamp: int | None = None, region: str = "ap-guangzhou") -> dict:
    """All parameters of a v1-signed request, Signature included."""
    p = {str(k): str(v) for k, v in params.items()}
    p.update({
        "Action": action, "Version": VERSION, "Region": region,
        "Timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "Nonce": str(nonce if nonce is not None else random.randint(1, 2**62)),
        "SecretId": secret_id, "SignatureMethod": sign_method,
    })
    s = "&".join(f"{k}={p[k]}" for k in sorted(p))
    msg = f"{method}127.0.0.1:{port}/?{s}"
    digest = hashlib.sha1 if sign_method == "HmacSHA1" else hashlib.sha256
    p["Signature"] = base64.b64encode(hmac.new(secret_key.encode(), msg.encode("utf-8"), digest).digest()).decode()
    return p


def legacy_call(port: int, p: dict, method: str = "POST") -> RawResponse:
    enc = urllib.parse.urlencode(p)
    if method == "GET":
        return send_raw(port, "GET", "/?" + enc, {})
    return send_raw(port, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, enc.encode())


# --------------------------------------------------------------------------- DER


def _der_read(buf: bytes, pos: int) -> tuple[int, bytes, int]:
    tag = buf[pos]
    ln = buf[pos + 1]
    pos += 2
    if ln & 0x80:
        n = ln & 0x7F
        assert 1 <= n <= 4, "bad DER length"
        ln = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    val = buf[pos:pos + ln]
    assert len(val) == ln, "truncated DER"
    return tag, val, pos + ln


def rsa_public_key_bits(b64key: str) -> int:
    """Modulus size in bits of a base64 DER RSA public key (SubjectPublicKeyInfo or PKCS#1)."""
    der = base64.b64decode(b64key, validate=True)
    tag, body, end = _der_read(der, 0)
    assert tag == 0x30 and end == len(der), "not a DER SEQUENCE"
    t1, v1, p = _der_read(body, 0)
    if t1 == 0x30:  # SubjectPublicKeyInfo
        assert b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01" in v1, "algorithm is not rsaEncryption"
        t2, bits, _ = _der_read(body, p)
        assert t2 == 0x03 and bits[0] == 0, "bad BIT STRING"
        tag, body, _ = _der_read(bits[1:], 0)
        assert tag == 0x30
        t1, v1, p = _der_read(body, 0)
    assert t1 == 0x02, "modulus is not an INTEGER"
    te, e, _ = _der_read(body, p)
    assert te == 0x02
    n = int.from_bytes(v1, "big")
    e = int.from_bytes(e, "big")
    assert e >= 3 and e % 2 == 1, "bad public exponent"
    assert n % 2 == 1, "modulus is even"
    return n.bit_length()


# --------------------------------------------------------------------------- SDK calls

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException  # noqa: E402
from tencentcloud.ses.v20201002 import models as ses_models  # noqa: E402


def call(client, action: str, params: dict | None = None) -> dict:
    """Call `action` through the SDK's typed method; return the response as a dict."""
    req = getattr(ses_models, action + "Request")()
    req.from_json_string(json.dumps(params or {}))
    resp = getattr(client, action)(req)
    return json.loads(resp.to_json_string())


def call_json(client, action: str, params: dict | None = None) -> dict:
    """Call through the SDK's generic call_json (no model filtering); returns the inner Response."""
    return client.call_json(action, params or {})["Response"]


def expect_error(client, action: str, code: str, params: dict | None = None) -> TencentCloudSDKException:
    try:
        got = call(client, action, params)
    except TencentCloudSDKException as e:
        assert e.code == code, f"{action}: expected {code}, got {e.code}: {e.message}"
        assert e.requestId and UUID_RE.match(e.requestId), f"error without uuid RequestId: {e.requestId!r}"
        return e
    raise AssertionError(f"{action}({params}) succeeded, expected {code}: {got}")


def error_code(client, action: str, params: dict | None = None) -> str | None:
    """The error code of a call, or None when it succeeds."""
    try:
        call(client, action, params)
    except TencentCloudSDKException as e:
        return e.code
    return None


def publish(zone: Zone, attributes: list[dict]) -> None:
    for a in attributes:
        publish_one(zone, a)


def publish_one(zone: Zone, a: dict) -> None:
    if a["Type"] == "TXT":
        zone.add_txt(a["SendDomain"], a["ExpectedValue"])
    elif a["Type"] == "MX":
        zone.add_mx(a["SendDomain"], a["ExpectedValue"])
    else:
        raise AssertionError(f"unexpected record type {a}")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# --------------------------------------------------------------------------- sending

SINK_HOST = "sink.mx.sesame.test"          # A 127.0.0.1: the MX host of every recipient domain
RETURN_PATH_DOMAIN = "bounces.sesame.test"  # [sending] return_path_domain of sending servers
HELO_NAME = "out.sesame.test"               # [delivery] helo_name of sending servers
API_TZ = timezone(timedelta(hours=8))       # the default [api] time_zone (Asia/Shanghai)
TEMPLATE_HTML = "<p>Hello {{name}}, your code is {{code}}.</p>"
TEMPLATE_TEXT = "Hello {{name}}, your code is {{code}}."


def api_today(days: int = 0) -> str:
    """Today's date (plus `days`) in the API's time zone, YYYY-MM-DD."""
    return (datetime.now(API_TZ) + timedelta(days=days)).strftime("%Y-%m-%d")


def sink_domain(zone: Zone, prefix: str = "rcpt") -> str:
    """A fresh recipient domain whose MX is SINK_HOST (A 127.0.0.1): mail to it reaches the
    SMTP sink (the server's `[delivery] port` is the sink's)."""
    if not any(r[0] == "A" for r in zone.get(SINK_HOST)):
        zone.add_a(SINK_HOST, "127.0.0.1")
    d = unique_domain(prefix)
    zone.add_mx(d, SINK_HOST)
    return d


def create_template(client, html: str | None = TEMPLATE_HTML, text: str | None = TEMPLATE_TEXT,
                    name: str | None = None) -> int:
    content = {}
    if html is not None:
        content["Html"] = b64(html)
    if text is not None:
        content["Text"] = b64(text)
    return call(client, "CreateEmailTemplate",
                {"TemplateName": name or f"t-{uuid.uuid4().hex[:8]}", "TemplateContent": content})["TemplateID"]


def ready_sender(server, client, dkim_option: int | None = None, local: str = "noreply",
                 html: str | None = TEMPLATE_HTML, text: str | None = TEMPLATE_TEXT) -> tuple[str, int]:
    """Verify a fresh domain for `client`, create the sender `<local>@<domain>` and an approved
    template (variables `name` and `code` by default); return (sender address, template id)."""
    domain = unique_domain("from")
    server.verify_domain(client, domain, dkim_option=dkim_option)
    sender = f"{local}@{domain}"
    call(client, "CreateEmailAddress", {"EmailAddress": sender})
    tid = create_template(client, html, text)
    got = call(client, "GetEmailTemplate", {"TemplateID": tid})
    assert got["TemplateStatus"] == 0, f"template {tid} not approved: {got}"
    return sender, tid


def send_params(sender: str, to, template_id: int, data: dict | None = None, subject: str = "Hello {{name}}",
                **extra) -> dict:
    """SendEmail parameters for a template mail (`to` a string or a list)."""
    p = {"FromEmailAddress": sender, "Destination": [to] if isinstance(to, str) else list(to),
         "Subject": subject,
         "Template": {"TemplateID": template_id,
                      "TemplateData": json.dumps(data if data is not None else {"name": "Ann", "code": "1234"})}}
    p.update(extra)
    return p


def send(client, sender: str, to, template_id: int, data: dict | None = None, subject: str = "Hello {{name}}",
         **extra) -> str:
    """SendEmail; returns the MessageId (asserting its form)."""
    r = call(client, "SendEmail", send_params(sender, to, template_id, data, subject, **extra))
    mid = r["MessageId"]
    assert re.match(r"^qcloudses-30-\d+-date-\d{14}-\S+$", mid), f"bad MessageId {mid!r}"
    return mid


def statuses(client, message_id: str | None = None, to: str | None = None, date: str | None = None,
             limit: int = 100) -> list[dict]:
    """GetSendEmailStatus rows (today in the API's time zone unless `date`)."""
    p = {"RequestDate": date or api_today(), "Offset": 0, "Limit": limit}
    if message_id:
        p["MessageId"] = message_id
    if to:
        p["ToEmailAddress"] = to
    rows = call(client, "GetSendEmailStatus", p).get("EmailStatusList") or []
    if not rows and date is None:  # the day may have turned since the send
        p["RequestDate"] = api_today(-1)
        rows = call(client, "GetSendEmailStatus", p).get("EmailStatusList") or []
    return rows


def status_of(client, message_id: str, to: str) -> dict | None:
    for r in statuses(client, message_id):
        if r["ToEmailAddress"].lower() == to.lower():
            return r
    return None


def wait_deliver_status(client, message_id: str, to: str, want, timeout: float = 20.0) -> dict:
    """Poll until the row of (`message_id`, `to`) has DeliverStatus in `want` (an int or a set)."""
    want = {want} if isinstance(want, int) else set(want)
    last = [None]

    def check():
        last[0] = status_of(client, message_id, to)
        return last[0] if last[0] and last[0]["DeliverStatus"] in want else None

    try:
        return wait_until(check, timeout, 0.1, "a status row")
    except AssertionError:
        raise AssertionError(f"timed out after {timeout}s waiting for DeliverStatus in {want} for {to} "
                             f"of {message_id}; last row: {last[0]}") from None


def dkim_dnsfunc(zone: Zone):
    """A dkimpy `dnsfunc` answering TXT look-ups from `zone` (what the DNS server serves)."""
    def get_txt(name, timeout=5):
        n = name.decode("ascii") if isinstance(name, bytes) else name
        vals = [v for t, v in zone.get(n) if t == "TXT"]
        return vals[0].encode("utf-8") if vals else None
    return get_txt


def dkim_signatures(raw: bytes, zone: Zone) -> list[dict]:
    """Every DKIM-Signature of `raw`, verified with dkimpy against `zone`:
    [{"d": domain, "s": selector, "a": algorithm, "ok": bool}] in header order."""
    import dkim  # dkimpy

    d = dkim.DKIM(raw, minkey=1024)
    out = []
    msg = email.message_from_bytes(raw)
    sigs = msg.get_all("DKIM-Signature") or []
    for i, sig in enumerate(sigs):
        tags = dict((k.strip(), v.strip()) for k, _, v in
                    (t.partition("=") for t in re.sub(r"\s+", "", sig).split(";") if "=" in t))
        try:
            ok = bool(d.verify(idx=i, dnsfunc=dkim_dnsfunc(zone)))
        except dkim.DKIMException as e:
            ok = False
            tags["error"] = str(e)
        out.append({"d": tags.get("d"), "s": tags.get("s"), "a": tags.get("a"), "h": tags.get("h"),
                    "ok": ok, "error": tags.get("error")})
    return out


def run_sql(srv, statement: str) -> None:
    """Runs one statement on the server's database (SQLite file or PostgreSQL)."""
    if srv.db.name:
        r = subprocess.run(["psql", srv.db.url, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    else:
        with sqlite3.connect(srv.db.url.removeprefix("sqlite://"), timeout=10) as db:
            db.execute(statement)


def query_sql(srv, statement: str) -> list[tuple]:
    """Rows of one query on the server's database (SQLite file or PostgreSQL), as strings."""
    if srv.db.name:
        r = subprocess.run(["psql", srv.db.url, "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", statement],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return [tuple(line.split("\t")) for line in r.stdout.splitlines() if line]
    with sqlite3.connect(srv.db.url.removeprefix("sqlite://"), timeout=10) as db:
        return [tuple(str(v) for v in row) for row in db.execute(statement)]
