"""Dedicated sending IPs (docs/operations-ips.md): `sesame ip` gives an account or a sender
domain a pool of source addresses; delivery binds its connections to them round-robin, skips an
address the host does not have (with a log line), defers rather than fall back to the shared
addresses, and never sends another account's mail from them. ListEmailIdentities shows SendIp.

On Linux all of 127.0.0.0/8 is local, so 127.0.0.x addresses can be bound as sources while the
SMTP sink listens on 127.0.0.1; the sink records each message's peer address. Documentation
addresses (RFC 5737) that this host does not have stand for addresses that cannot be bound.
"""

from __future__ import annotations

import json
import socket
import uuid

import pytest

from helpers import call, ready_sender, send, sink_domain, wait_deliver_status, wait_until



def unbindable_addresses() -> list[str]:
    """Documentation addresses (RFC 5737) this host does not have: binding them fails."""
    found = []
    for candidate in ("192.0.2.1", "198.51.100.1", "203.0.113.1", "192.0.2.3", "198.51.100.3"):
        with socket.socket() as s:
            try:
                s.bind((candidate, 0))
            except OSError:
                found.append(candidate)
    assert len(found) >= 2, "this host has the RFC 5737 addresses the test needs unbound"
    return found


UNBINDABLE, UNBINDABLE_TOO = unbindable_addresses()[:2]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def srv(make_sending_server):
    # A long queue lifetime: a deferred delivery must still be waiting when the test looks.
    return make_sending_server(name="ips", retry_schedule=["1s"], max_queue_lifetime="120s")


@pytest.fixture(scope="module")
def rd(dns):
    return sink_domain(dns, "ips")


class Tenant:
    """An account with an SDK client and one ready sender (verified domain, template)."""

    def __init__(self, srv, name: str):
        self.account = srv.account(name)
        self.app_id = self.account.app_id
        self.client = srv.client(self.account)
        self.sender, self.tid = ready_sender(srv, self.client)
        self.domain = self.sender.split("@", 1)[1]


def ip(srv, *args: str, check: bool = True):
    """Runs `sesame ip ARGS`; returns the parsed JSON (check) or the CompletedProcess."""
    r = srv.cli("ip", *args, check=check)
    return json.loads(r.stdout) if check else r


def rcpt(rd: str, prefix: str = "ok") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@{rd}"


def peer_of(sink, to: str) -> str:
    """The source address the message to `to` came from (waits for it)."""
    return sink.wait_message(to).peer[0]


def deliver(tenant: Tenant, sink, rd: str, sender: str | None = None, tid: int | None = None) -> str:
    """Sends one mail and returns the address it arrived from."""
    to = rcpt(rd)
    mid = send(tenant.client, sender or tenant.sender, to, tid or tenant.tid)
    wait_deliver_status(tenant.client, mid, to, 1)
    return peer_of(sink, to)


def send_ips(tenant: Tenant) -> dict[str, list[str]]:
    got = call(tenant.client, "ListEmailIdentities", {})
    return {i["IdentityName"]: i["SendIp"] for i in got["EmailIdentities"]}


# --------------------------------------------------------------------------- tests


def test_account_pool_and_shared_mail_stay_apart(srv, rd, sink):
    a, b = Tenant(srv, "dedicated-a"), Tenant(srv, "shared-b")
    pool = ip(srv, "add", "--app-id", str(a.app_id), "--ip", "127.0.0.2")
    assert pool == {"AppId": a.app_id, "Domain": None, "SendIp": ["127.0.0.2"]}
    assert deliver(a, sink, rd) == "127.0.0.2"
    assert deliver(b, sink, rd) == "127.0.0.1"
    # Both accounts' mail to one destination domain, queued together: the worker must not put
    # them on one connection.
    sent = []
    for _ in range(3):
        for tenant in (a, b):
            to = rcpt(rd)
            sent.append((tenant, to, send(tenant.client, tenant.sender, to, tenant.tid)))
    for tenant, to, mid in sent:
        wait_deliver_status(tenant.client, mid, to, 1)
        assert peer_of(sink, to) == ("127.0.0.2" if tenant is a else "127.0.0.1"), tenant.app_id
    assert send_ips(a) == {a.domain: ["127.0.0.2"]}
    assert send_ips(b) == {b.domain: []}
    # The address is A's: B cannot have it, and B's mail still leaves from the shared address.
    r = ip(srv, "add", "--app-id", str(b.app_id), "--ip", "127.0.0.2", check=False)
    assert r.returncode != 0 and r.stdout == ""
    assert f"127.0.0.2 is a dedicated address of account {a.app_id}" in r.stderr, r.stderr
    r = ip(srv, "remove", "--app-id", str(b.app_id), "--ip", "127.0.0.2", check=False)
    assert r.returncode != 0 and f"dedicated address of account {a.app_id}" in r.stderr, r.stderr
    assert deliver(b, sink, rd) == "127.0.0.1"
    listed = ip(srv, "list", "--app-id", str(a.app_id))
    assert listed == {"Pools": [{"AppId": a.app_id, "Domain": None, "SendIp": ["127.0.0.2"]}]}
    everything = ip(srv, "list")["Pools"]
    assert {"AppId": a.app_id, "Domain": None, "SendIp": ["127.0.0.2"]} in everything
    assert all(p["AppId"] != b.app_id for p in everything)


def test_domain_pool_overrides_account_pool(srv, rd, sink):
    c = Tenant(srv, "domain-pools")
    other_sender, other_tid = ready_sender(srv, c.client)
    other_domain = other_sender.split("@", 1)[1]
    ip(srv, "add", "--app-id", str(c.app_id), "--ip", "127.0.0.3")
    pool = ip(srv, "add", "--app-id", str(c.app_id), "--ip", "127.0.0.4", "--domain", c.domain)
    assert pool == {"AppId": c.app_id, "Domain": c.domain, "SendIp": ["127.0.0.4"]}
    assert deliver(c, sink, rd) == "127.0.0.4"
    assert deliver(c, sink, rd, other_sender, other_tid) == "127.0.0.3"
    assert send_ips(c) == {c.domain: ["127.0.0.4"], other_domain: ["127.0.0.3"]}
    listed = ip(srv, "list", "--app-id", str(c.app_id))["Pools"]
    assert listed == [{"AppId": c.app_id, "Domain": None, "SendIp": ["127.0.0.3"]},
                      {"AppId": c.app_id, "Domain": c.domain, "SendIp": ["127.0.0.4"]}]
    # Without its own pool the domain goes back to the account's.
    left = ip(srv, "remove", "--app-id", str(c.app_id), "--ip", "127.0.0.4", "--domain", c.domain)
    assert left == {"AppId": c.app_id, "Domain": c.domain, "SendIp": []}
    assert deliver(c, sink, rd) == "127.0.0.3"
    assert send_ips(c)[c.domain] == ["127.0.0.3"]


def test_round_robin_over_the_pool(srv, rd, sink):
    d = Tenant(srv, "round-robin")
    ip(srv, "add", "--app-id", str(d.app_id), "--ip", "127.0.0.5")
    ip(srv, "add", "--app-id", str(d.app_id), "--ip", "127.0.0.6")
    peers = [deliver(d, sink, rd) for _ in range(4)]
    assert set(peers) == {"127.0.0.5", "127.0.0.6"}, peers
    assert all(x != y for x, y in zip(peers, peers[1:])), f"not in turn: {peers}"
    assert send_ips(d) == {d.domain: ["127.0.0.5", "127.0.0.6"]}


def test_unbindable_address_is_skipped_with_a_log_line(srv, rd, sink):
    e = Tenant(srv, "half-bindable")
    ip(srv, "add", "--app-id", str(e.app_id), "--ip", UNBINDABLE)
    ip(srv, "add", "--app-id", str(e.app_id), "--ip", "127.0.0.7")
    peers = [deliver(e, sink, rd) for _ in range(3)]
    assert peers == ["127.0.0.7"] * 3
    log = srv.log()
    lines = [line for line in log.splitlines() if "cannot be bound" in line and UNBINDABLE in line]
    assert lines, log[-3000:]
    assert f"account {e.app_id}" in lines[0], lines[0]


def test_pool_of_unbindable_addresses_defers_and_never_leaks(srv, rd, sink):
    f = Tenant(srv, "unbindable")
    ip(srv, "add", "--app-id", str(f.app_id), "--ip", UNBINDABLE_TOO)  # UNBINDABLE is E's
    to = rcpt(rd)
    mid = send(f.client, f.sender, to, f.tid)
    row = wait_deliver_status(f.client, mid, to, 8, timeout=15)
    assert "dedicated pool" in row["DeliverMessage"], row
    # Retried every second (retry_schedule 1s) and still nothing left from another address.
    def n_tries():
        return sum(1 for line in srv.log().splitlines()
                   if "no dedicated source address" in line and f"account {f.app_id}" in line)
    wait_until(lambda: n_tries() >= 4, 15, what="several tries")
    assert sink.messages_to(to) == [] and sink.attempts_for(to) == []
    assert wait_deliver_status(f.client, mid, to, 8)["DeliverStatus"] == 8
    # Once the pool has an address the host has, the waiting mail leaves from it.
    ip(srv, "add", "--app-id", str(f.app_id), "--ip", "127.0.0.8")
    wait_deliver_status(f.client, mid, to, 1, timeout=20)
    assert peer_of(sink, to) == "127.0.0.8"


def test_ip_command_errors_are_clear(srv):
    g = Tenant(srv, "cli-errors")
    cases = [
        (["add", "--app-id", "999", "--ip", "127.0.0.9"], "there is no account with AppId 999"),
        (["list", "--app-id", "999"], "there is no account with AppId 999"),
        (["add", "--app-id", str(g.app_id), "--ip", "127.0.0"], "is not an IP address"),
        (["add", "--app-id", str(g.app_id), "--ip", "0.0.0.0"], "cannot be a source address"),
        (["add", "--app-id", str(g.app_id), "--ip", "127.0.0.9", "--domain", "nope.example.test"],
         f"account {g.app_id} has no sender domain nope.example.test"),
        (["remove", "--app-id", str(g.app_id), "--ip", "127.0.0.9"],
         f"127.0.0.9 is not in the pool of account {g.app_id}"),
    ]
    for args, message in cases:
        r = ip(srv, *args, check=False)
        assert r.returncode != 0, (args, r.stdout)
        assert message in r.stderr, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)
    assert ip(srv, "list", "--app-id", str(g.app_id)) == {"Pools": []}
    help_text = srv.cli("ip", "add", "--help").stdout
    assert "sesame ip add --app-id" in help_text, help_text
