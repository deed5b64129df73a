"""A real SMTP receiver for the sending tests (aiosmtpd, 127.0.0.1 only).

It plays every recipient MX at once: the tests point the MX records of recipient domains
at a host name whose A record is 127.0.0.1, and Sesame's `[delivery] port` at `sink.port`.

Answers per recipient, by the local part of the RCPT TO address (case-insensitive):

    ok*       250
    bounce*   550 5.1.1 <addr>: user unknown        (hard bounce)
    policy*   550 5.7.1 message refused as spam     (5xx, not a hard bounce)
    full*     552 5.2.2 mailbox full                (5xx, not a hard bounce)
    defer*    451 4.3.0 try again later, the first N times this address is tried
              (N = `defer_times`, default 1; `set_defer(addr, n)` overrides per address,
              n = math.inf defers forever), then 250
    anything else  250

Every accepted message is recorded (`Received`: envelope MAIL FROM, RCPT TOs, raw bytes,
peer, a connection id, the time) in a thread-safe list; every RCPT answer is recorded too
(`attempts`). `wait_for(predicate, timeout)` polls with a bound.

    sink = SmtpSink(); sink.start(); ...; sink.stop()
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from helpers import free_port

BOUNCE_REPLY = "550 5.1.1 <{addr}>: user unknown"
POLICY_REPLY = "550 5.7.1 message refused as spam"
FULL_REPLY = "552 5.2.2 mailbox full"
DEFER_REPLY = "451 4.3.0 try again later"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple
    conn_id: int
    helo: str | None
    at: float = field(default_factory=time.time)

    @property
    def message(self) -> email.message.EmailMessage:
        """The message parsed with policy=default (headers decoded, get_body() etc.)."""
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def header(self, name: str) -> str | None:
        v = self.message[name]
        return None if v is None else str(v)


@dataclass
class Attempt:
    conn_id: int
    mail_from: str
    rcpt: str
    code: int
    reply: str
    at: float = field(default_factory=time.time)


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    def _conn(self, session) -> int:
        cid = getattr(session, "sesame_conn_id", None)
        if cid is None:
            cid = next(self.sink._conn_ids)
            session.sesame_conn_id = cid
        return cid

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self._conn(session)
        session.host_name = hostname
        with self.sink.lock:
            self.sink.helos.append(hostname)
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        self._conn(session)
        session.host_name = hostname
        with self.sink.lock:
            self.sink.helos.append(hostname)
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        cid = self._conn(session)
        reply = self.sink._answer(address)
        code = int(reply[:3])
        with self.sink.lock:
            self.sink.attempts.append(Attempt(cid, envelope.mail_from or "", address, code, reply))
        if code == 250:
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        cid = self._conn(session)
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        raw = envelope.original_content if envelope.original_content is not None else envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        rec = Received(envelope.mail_from or "", list(envelope.rcpt_tos), bytes(raw), session.peer, cid,
                       getattr(session, "host_name", None))
        with self.sink.lock:
            self.sink.messages.append(rec)
        return "250 2.0.0 OK queued"


class SmtpSink:
    def __init__(self, defer_times: int = 1, delay: float = 0.0, hostname: str = "sink.sesame.test"):
        self.defer_times = defer_times
        self.delay = delay  # seconds to sleep before answering DATA (makes deliveries "in flight")
        self.hostname = hostname
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.attempts: list[Attempt] = []
        self.helos: list[str] = []
        self._deferred: dict[str, int] = {}
        self._defer_override: dict[str, float] = {}
        self._conn_ids = itertools.count(1)
        self.port = 0
        self.controller: Controller | None = None

    # -- behaviour
    def set_defer(self, addr: str, times: float) -> None:
        """Answer 451 to `addr` the first `times` times (math.inf: always)."""
        with self.lock:
            self._defer_override[addr.lower()] = times

    def _answer(self, address: str) -> str:
        addr = address.lower()
        local = addr.split("@", 1)[0]
        if local.startswith("ok"):
            return "250 2.1.5 OK"
        if local.startswith("bounce"):
            return BOUNCE_REPLY.format(addr=address)
        if local.startswith("policy"):
            return POLICY_REPLY
        if local.startswith("full"):
            return FULL_REPLY
        if local.startswith("defer"):
            with self.lock:
                limit = self._defer_override.get(addr, self.defer_times)
                n = self._deferred.get(addr, 0)
                self._deferred[addr] = n + 1
            if n < limit:
                return DEFER_REPLY
        return "250 2.1.5 OK"

    # -- lifecycle
    def start(self) -> "SmtpSink":
        last = None
        for _ in range(20):
            port = free_port()
            c = Controller(_Handler(self), hostname="127.0.0.1", port=port, server_hostname=self.hostname,
                           decode_data=False, enable_SMTPUTF8=True, ready_timeout=10,
                           data_size_limit=64 * 1024 * 1024)
            try:
                c.start()
            except (OSError, TimeoutError, RuntimeError) as e:  # port taken meanwhile
                last = e
                try:
                    c.stop(no_assert=True)
                except Exception:
                    pass
                continue
            self.controller = c
            self.port = port
            return self
        raise RuntimeError(f"could not start the SMTP sink: {last}")

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    # -- queries
    def all(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def messages_to(self, addr: str) -> list[Received]:
        a = addr.lower()
        return [m for m in self.all() if any(r.lower() == a for r in m.rcpt_tos)]

    def attempts_for(self, addr: str) -> list[Attempt]:
        a = addr.lower()
        with self.lock:
            return [t for t in self.attempts if t.rcpt.lower() == a]

    def wait_for(self, predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "messages"):
        """Poll `predicate(list_of_Received)` until it is truthy; return its value.
        Raises AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = predicate(self.all())
            if last:
                return last
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        with self.lock:
            n, tries = len(self.messages), self.attempts[-5:]
        raise AssertionError(f"SMTP sink: timed out after {timeout}s waiting for {what} "
                             f"({n} messages received; last RCPT answers {tries}; last value {last!r})")

    def wait_message(self, addr: str, timeout: float = 15.0) -> Received:
        """The first message delivered to `addr` (waits for it)."""
        return self.wait_for(lambda ms: next((m for m in ms if addr.lower() in (r.lower() for r in m.rcpt_tos)), None),
                             timeout, what=f"a message to {addr}")


__all__ = ["SmtpSink", "Received", "Attempt", "BOUNCE_REPLY", "POLICY_REPLY", "FULL_REPLY", "DEFER_REPLY"]
