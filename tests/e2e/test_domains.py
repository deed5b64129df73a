"""Sender domains (docs/control-plane.md "Sender domains")."""

import time
import uuid

import pytest

from conftest import DKIM_SELECTOR, MX_HOST, SPF_INCLUDE
from helpers import (call, error_code, expect_error, free_port, publish, publish_one, rsa_public_key_bits,
                     unique_domain, wait_until)


def dkim_key(value: str) -> str:
    tags = dict(t.strip().split("=", 1) for t in value.split(";") if "=" in t)
    return tags["p"].strip()


def by_name(attrs):
    return {a["SendDomain"]: a for a in attrs}


@pytest.fixture
def ses(server):
    """Each test gets a new account: an account holds at most 10 domains."""
    return server.client(server.account())


# --------------------------------------------------------------------------- create


def test_create_option0_attributes(ses):
    d = unique_domain()
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    assert r["IdentityType"] == "DOMAIN"
    assert r["VerifiedForSendingStatus"] is False
    assert r["DKIMOption"] == 0
    attrs = r["Attributes"]
    assert [(a["Type"], a["SendDomain"]) for a in attrs] == [
        ("TXT", d), ("TXT", f"{DKIM_SELECTOR}._domainkey.{d}"), ("TXT", f"_dmarc.{d}"), ("MX", d)]
    spf, dkim, dmarc, mx = attrs
    assert spf["ExpectedValue"] == f"v=spf1 include:{SPF_INCLUDE} ~all"
    assert dkim["ExpectedValue"].startswith("v=DKIM1; k=rsa; p=")
    assert rsa_public_key_bits(dkim_key(dkim["ExpectedValue"])) == 1024
    assert dmarc["ExpectedValue"] == "v=DMARC1; p=none"
    assert mx["ExpectedValue"].rstrip(".").lower() == MX_HOST
    for a in attrs:
        assert a["Status"] is False
        assert a["CurrentValue"] == ""


def test_create_option1_is_2048(ses):
    d = unique_domain()
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d, "DKIMOption": 1})
    assert r["DKIMOption"] == 1
    assert len(r["Attributes"]) == 4
    dkim = by_name(r["Attributes"])[f"{DKIM_SELECTOR}._domainkey.{d}"]
    assert rsa_public_key_bits(dkim_key(dkim["ExpectedValue"])) == 2048


def test_create_option2_has_both_keys(ses):
    d = unique_domain()
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d, "DKIMOption": 2})
    assert r["DKIMOption"] == 2
    attrs = by_name(r["Attributes"])
    assert len(r["Attributes"]) == 5
    assert r["Attributes"][0]["SendDomain"] == d
    main = attrs[f"{DKIM_SELECTOR}._domainkey.{d}"]
    extra = attrs[f"{DKIM_SELECTOR}1024._domainkey.{d}"]
    assert extra["Type"] == "TXT"
    assert rsa_public_key_bits(dkim_key(main["ExpectedValue"])) == 2048
    assert rsa_public_key_bits(dkim_key(extra["ExpectedValue"])) == 1024


@pytest.mark.parametrize("opt", [3, -1, 99])
def test_bad_dkim_option(ses, opt):
    expect_error(ses, "CreateEmailIdentity", "InvalidParameterValue", {"EmailIdentity": unique_domain(), "DKIMOption": opt})


def test_dkim_keys_kept_when_option_changes(server, ses):
    d = unique_domain("keys")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d, "DKIMOption": 0})
    k1024 = dkim_key(by_name(r["Attributes"])[f"{DKIM_SELECTOR}._domainkey.{d}"]["ExpectedValue"])
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d, "DKIMOption": 2})
    assert u["DKIMOption"] == 2
    attrs = by_name(u["Attributes"])
    k2048 = dkim_key(attrs[f"{DKIM_SELECTOR}._domainkey.{d}"]["ExpectedValue"])
    assert rsa_public_key_bits(k2048) == 2048
    assert dkim_key(attrs[f"{DKIM_SELECTOR}1024._domainkey.{d}"]["ExpectedValue"]) == k1024
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d, "DKIMOption": 1})
    assert dkim_key(by_name(u["Attributes"])[f"{DKIM_SELECTOR}._domainkey.{d}"]["ExpectedValue"]) == k2048
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d, "DKIMOption": 0})
    assert dkim_key(by_name(u["Attributes"])[f"{DKIM_SELECTOR}._domainkey.{d}"]["ExpectedValue"]) == k1024
    g = call(ses, "GetEmailIdentity", {"EmailIdentity": d})
    assert g["DKIMOption"] == 0


def test_dkim_keys_differ_between_domains(ses):
    keys = set()
    for _ in range(2):
        d = unique_domain()
        r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
        keys.add(dkim_key(r["Attributes"][1]["ExpectedValue"]))
    assert len(keys) == 2


# --------------------------------------------------------------------------- names


def test_normalisation_upper_case_and_dot(ses):
    base = unique_domain("norm")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": "  " + base.upper() + ".  "})
    assert r["Attributes"][0]["SendDomain"] == base
    g = call(ses, "GetEmailIdentity", {"EmailIdentity": base})
    assert g["IdentityType"] == "DOMAIN"
    names = [i["IdentityName"] for i in call(ses, "ListEmailIdentities", {})["EmailIdentities"]]
    assert base in names
    assert base.upper() not in names
    expect_error(ses, "CreateEmailIdentity", "InvalidParameterValue.RepeatCreation", {"EmailIdentity": base})


def test_idn_to_punycode(ses):
    tag = uuid.uuid4().hex[:6]
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": f"Bücher-{tag}.Example.test"})
    expected = f"bücher-{tag}".encode("idna").decode() + ".example.test"
    assert r["Attributes"][0]["SendDomain"] == expected
    assert expected.startswith("xn--")
    # Get by the Unicode form finds the same domain
    g = call(ses, "GetEmailIdentity", {"EmailIdentity": f"bücher-{tag}.example.test"})
    assert g["Attributes"][0]["SendDomain"] == expected


def test_chinese_idn(ses):
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": f"邮件{uuid.uuid4().hex[:4]}.例子.测试"})
    name = r["Attributes"][0]["SendDomain"]
    assert all(ord(ch) < 128 for ch in name), name
    assert name.count("xn--") == 3, name


@pytest.mark.parametrize("name", [
    "localhost", "example", "-bad.example.test", "bad-.example.test", "a..b.example.test",
    "exa_mple.example.test", "example.123", "1.2.3.4", "a" * 64 + ".example.test",
    ".".join(["abcdefghi"] * 25) + ".test", "spa ce.example.test", "user@example.test",
    "http://example.test", "*.example.test",
])
def test_invalid_names(ses, name):
    expect_error(ses, "CreateEmailIdentity", "InvalidParameterValue.InvalidEmailIdentity", {"EmailIdentity": name})


@pytest.mark.parametrize("name", ["a" * 63 + ".example.test", "123.example.test", "x-y.example.test", "a.b.c.d.example.test"])
def test_valid_edge_names(ses, name):
    call(ses, "CreateEmailIdentity", {"EmailIdentity": name})
    call(ses, "DeleteEmailIdentity", {"EmailIdentity": name})


def test_253_characters_allowed(ses):
    labels = []
    while len(".".join(labels + ["test"])) < 253:
        labels.append("b" * min(63, 253 - len(".".join(labels + ["test"])) - 1))
    name = ".".join(labels + ["test"])
    if len(name) > 253 or labels[-1] == "" or len(labels[-1]) > 63:
        pytest.skip("could not construct a 253-char name")
    assert len(name) <= 253
    call(ses, "CreateEmailIdentity", {"EmailIdentity": name})
    call(ses, "DeleteEmailIdentity", {"EmailIdentity": name})


def test_repeat_creation(ses):
    d = unique_domain()
    call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    expect_error(ses, "CreateEmailIdentity", "InvalidParameterValue.RepeatCreation", {"EmailIdentity": d})


def test_domain_limit_of_10(server):
    c = server.client(server.account("limit"))
    for i in range(10):
        call(c, "CreateEmailIdentity", {"EmailIdentity": unique_domain(f"lim{i}")})
    expect_error(c, "CreateEmailIdentity", "OperationDenied.ExceedDomainLimit", {"EmailIdentity": unique_domain("lim11")})
    # deleting one makes room again
    first = call(c, "ListEmailIdentities", {})["EmailIdentities"][0]["IdentityName"]
    call(c, "DeleteEmailIdentity", {"EmailIdentity": first})
    call(c, "CreateEmailIdentity", {"EmailIdentity": unique_domain("lim12")})


# --------------------------------------------------------------------------- verification


def test_verification_record_by_record(server, ses, dns):
    d = unique_domain("step")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    attrs = r["Attributes"]
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})
    assert u["VerifiedForSendingStatus"] is False
    assert [a["Status"] for a in u["Attributes"]] == [False] * 4
    assert [a["CurrentValue"] for a in u["Attributes"]] == [""] * 4
    for i, a in enumerate(attrs):
        publish_one(dns, a)
        u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})
        got = u["Attributes"]
        assert [x["SendDomain"] for x in got] == [x["SendDomain"] for x in attrs]
        for j, x in enumerate(got):
            if j <= i:
                assert x["Status"] is True, (i, x)
                assert x["CurrentValue"].rstrip(".").lower() == attrs[j]["ExpectedValue"].rstrip(".").lower(), x
            else:
                assert x["Status"] is False, (i, x)
                assert x["CurrentValue"] == "", (i, x)
        assert u["VerifiedForSendingStatus"] is (i == len(attrs) - 1), (i, u)
        g = call(ses, "GetEmailIdentity", {"EmailIdentity": d})
        assert g["VerifiedForSendingStatus"] == u["VerifiedForSendingStatus"]
        assert [x["Status"] for x in g["Attributes"]] == [x["Status"] for x in got]


def test_get_shows_last_check_without_lookup(ses, dns):
    d = unique_domain("nolookup")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    publish(dns, r["Attributes"])
    g = call(ses, "GetEmailIdentity", {"EmailIdentity": d})
    assert g["VerifiedForSendingStatus"] is False
    assert all(a["Status"] is False for a in g["Attributes"])
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})
    assert u["VerifiedForSendingStatus"] is True


def test_verify_option2_with_long_txt(server, ses):
    d = unique_domain("dual")
    created = server.verify_domain(ses, d, dkim_option=2)
    assert len(created["Attributes"]) == 5
    g = call(ses, "GetEmailIdentity", {"EmailIdentity": d})
    assert g["VerifiedForSendingStatus"] is True
    assert all(a["Status"] for a in g["Attributes"])


def test_option2_needs_the_1024_record(server, ses, dns):
    d = unique_domain("dual2")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d, "DKIMOption": 2})
    extra = f"{DKIM_SELECTOR}1024._domainkey.{d}"
    publish(dns, [a for a in r["Attributes"] if a["SendDomain"] != extra])
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})
    assert u["VerifiedForSendingStatus"] is False
    assert by_name(u["Attributes"])[extra]["Status"] is False


def test_wrong_dkim_key_fails(server, ses, dns):
    other = call(ses, "CreateEmailIdentity", {"EmailIdentity": unique_domain("other")})["Attributes"][1]["ExpectedValue"]
    d = unique_domain("wrongkey")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    spf, dkim, dmarc, mx = r["Attributes"]
    publish(dns, [spf, dmarc, mx])
    dns.add_txt(dkim["SendDomain"], other)
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})
    assert u["VerifiedForSendingStatus"] is False
    got = u["Attributes"][1]
    assert got["Status"] is False
    assert got["CurrentValue"] == other
    assert [a["Status"] for a in u["Attributes"]] == [True, False, True, True]
    dns.set_txt(dkim["SendDomain"], dkim["ExpectedValue"])
    assert call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})["VerifiedForSendingStatus"] is True


@pytest.mark.parametrize("spf_records,ok", [
    (["v=spf1 -all"], False),
    (["v=spf1 include:_spf.other.test ~all"], False),
    ([f"v=spf1 include:{SPF_INCLUDE} ~all", "v=spf1 -all"], False),
    (["v=spf1 include:_spf.other.test include:" + SPF_INCLUDE + " -all"], True),
    ([f"v=spf1 include:{SPF_INCLUDE} ~all", "google-site-verification=abc"], True),
])
def test_spf_rules(server, ses, dns, spf_records, ok):
    d = unique_domain("spf")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    publish(dns, r["Attributes"][1:])
    dns.set_txt(d, *spf_records)
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})
    assert u["Attributes"][0]["Status"] is ok, u["Attributes"][0]
    assert u["VerifiedForSendingStatus"] is ok
    if not ok:
        assert u["Attributes"][0]["CurrentValue"] != ""


@pytest.mark.parametrize("dmarc,ok", [
    ("v=DMARC1; p=reject; rua=mailto:d@example.test", True),
    ("v=DMARC1;p=quarantine", True),
    ("v=DMARC1; rua=mailto:d@example.test", False),
    ("hello", False),
])
def test_dmarc_rules(server, ses, dns, dmarc, ok):
    d = unique_domain("dmarc")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    spf, dkim, dm, mx = r["Attributes"]
    publish(dns, [spf, dkim, mx])
    dns.add_txt(dm["SendDomain"], dmarc)
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})
    assert u["Attributes"][2]["Status"] is ok, u["Attributes"][2]
    assert u["VerifiedForSendingStatus"] is ok


@pytest.mark.parametrize("hosts,ok", [
    (["MX.SESAME.TEST."], True),
    (["mx.other.test", MX_HOST], True),
    (["mx.other.test"], False),
])
def test_mx_rules(server, ses, dns, hosts, ok):
    d = unique_domain("mx")
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    publish(dns, r["Attributes"][:3])
    for i, h in enumerate(hosts):
        dns.add_mx(d, h, 10 + i)
    u = call(ses, "UpdateEmailIdentity", {"EmailIdentity": d})
    assert u["Attributes"][3]["Status"] is ok, u["Attributes"][3]
    assert u["VerifiedForSendingStatus"] is ok
    if len(hosts) > 1:
        assert len(u["Attributes"][3]["CurrentValue"].split(" ")) == len(hosts)


def test_servfail_is_service_not_available(server, ses, dns):
    d = unique_domain("servfail")
    call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    dns.servfail.add(f"_dmarc.{d}")
    try:
        expect_error(ses, "UpdateEmailIdentity", "FailedOperation.ServiceNotAvailable", {"EmailIdentity": d})
    finally:
        dns.servfail.discard(f"_dmarc.{d}")


def test_dns_server_down(sesame_factory):
    dead = free_port(udp_too=True)  # nothing listens there
    srv = sesame_factory(name="deaddns", dns_port=dead)
    c = srv.client(srv.account("deaddns"))
    d = unique_domain("dead")
    r = call(c, "CreateEmailIdentity", {"EmailIdentity": d})  # no lookup on create
    assert len(r["Attributes"]) == 4
    t0 = time.monotonic()
    expect_error(c, "UpdateEmailIdentity", "FailedOperation.ServiceNotAvailable", {"EmailIdentity": d})
    assert time.monotonic() - t0 < 60
    g = call(c, "GetEmailIdentity", {"EmailIdentity": d})
    assert g["VerifiedForSendingStatus"] is False


def test_background_recheck_demotes(sesame_factory, dns):
    srv = sesame_factory({"sending": {"recheck_interval": "1s"}}, name="recheck")
    c = srv.client(srv.account("recheck"))
    d = unique_domain("recheck")
    srv.verify_domain(c, d)
    lst = call(c, "ListEmailIdentities", {})["EmailIdentities"]
    assert lst[0]["CurrentReputationLevel"] == 1
    time.sleep(2.5)  # still published: stays verified through a few re-checks
    assert call(c, "GetEmailIdentity", {"EmailIdentity": d})["VerifiedForSendingStatus"] is True
    dns.remove(f"{DKIM_SELECTOR}._domainkey.{d}")
    wait_until(lambda: call(c, "GetEmailIdentity", {"EmailIdentity": d})["VerifiedForSendingStatus"] is False,
               timeout=20, what="background re-check to demote the domain")
    g = call(c, "GetEmailIdentity", {"EmailIdentity": d})
    assert g["Attributes"][1]["Status"] is False
    lst = call(c, "ListEmailIdentities", {})["EmailIdentities"]
    assert lst[0]["CurrentReputationLevel"] == 0 and lst[0]["DailyQuota"] == 0


# --------------------------------------------------------------------------- listing


@pytest.fixture(scope="module")
def lister(server):
    """An account with 5 domains: d0..d2 tagged team=a (d0, d1 also env=prod), d3, d4 untagged; d1 verified."""
    c = server.client(server.account("lister"))
    stem = uuid.uuid4().hex[:6]
    names = [f"{chr(ord('e') - i)}{stem}.list.test" for i in range(5)]  # created in reverse name order
    tags = {0: [("team", "a"), ("env", "prod")], 1: [("team", "a"), ("env", "prod")], 2: [("team", "a")]}
    for i, n in enumerate(names):
        p = {"EmailIdentity": n}
        if i in tags:
            p["TagList"] = [{"TagKey": k, "TagValue": v} for k, v in tags[i]]
        call(c, "CreateEmailIdentity", p)
    return c, names


def test_list_empty_account(server):
    c = server.client(server.account("empty"))
    r = call(c, "ListEmailIdentities", {})
    assert r["EmailIdentities"] == []
    assert r["Total"] == 0
    assert r["MaxReputationLevel"] == 0 and r["MaxDailyQuota"] == 0


def test_list_all_sorted_by_name(lister):
    c, names = lister
    r = call(c, "ListEmailIdentities", {})
    assert [i["IdentityName"] for i in r["EmailIdentities"]] == sorted(names)
    assert r["Total"] == 5
    for i in r["EmailIdentities"]:
        assert i["IdentityType"] == "DOMAIN"
        assert i["CurrentReputationLevel"] == 0
        assert i["DailyQuota"] == 0
        assert i["DKIMOption"] == 0
    assert r["MaxReputationLevel"] == 0 and r["MaxDailyQuota"] == 0


def test_list_paging(lister):
    c, names = lister
    want = sorted(names)
    got = []
    for off in range(0, 6, 2):
        r = call(c, "ListEmailIdentities", {"Limit": 2, "Offset": off})
        assert r["Total"] == 5
        got += [i["IdentityName"] for i in r["EmailIdentities"]]
    assert got == want
    assert call(c, "ListEmailIdentities", {"Limit": 100, "Offset": 10})["EmailIdentities"] == []


def test_list_invalid_limit(lister):
    c, _ = lister
    expect_error(c, "ListEmailIdentities", "FailedOperation.InvalidLimit", {"Limit": 101})
    call(c, "ListEmailIdentities", {"Limit": 100})


def test_list_tag_filter(lister):
    c, names = lister
    one = call(c, "ListEmailIdentities", {"TagList": [{"TagKey": "team", "TagValue": "a"}]})
    assert [i["IdentityName"] for i in one["EmailIdentities"]] == sorted(names[:3])
    two = call(c, "ListEmailIdentities", {"TagList": [{"TagKey": "team", "TagValue": "a"}, {"TagKey": "env", "TagValue": "prod"}]})
    assert [i["IdentityName"] for i in two["EmailIdentities"]] == sorted(names[:2])
    none = call(c, "ListEmailIdentities", {"TagList": [{"TagKey": "team", "TagValue": "b"}]})
    assert none["EmailIdentities"] == []
    # tags are returned on each identity
    for i in two["EmailIdentities"]:
        assert {(t["TagKey"], t["TagValue"]) for t in i.get("TagList") or []} >= {("team", "a"), ("env", "prod")}


def test_list_reputation_after_verification(server, dns):
    c = server.client(server.account("rep"))
    a, b = unique_domain("a-rep"), unique_domain("b-rep")
    call(c, "CreateEmailIdentity", {"EmailIdentity": b})
    server.verify_domain(c, a)
    r = call(c, "ListEmailIdentities", {})
    by = {i["IdentityName"]: i for i in r["EmailIdentities"]}
    assert by[a]["CurrentReputationLevel"] == 1 and by[a]["DailyQuota"] == 500
    assert by[b]["CurrentReputationLevel"] == 0 and by[b]["DailyQuota"] == 0
    assert r["MaxReputationLevel"] == 1 and r["MaxDailyQuota"] == 500


# --------------------------------------------------------------------------- delete / unknown


def test_unknown_domain(ses):
    d = unique_domain("ghost")
    for action in ("GetEmailIdentity", "UpdateEmailIdentity", "DeleteEmailIdentity"):
        expect_error(ses, action, "InvalidParameterValue.NotExistDomain", {"EmailIdentity": d})


def test_delete_with_sender(server, ses):
    d = unique_domain("del")
    server.verify_domain(ses, d)
    call(ses, "CreateEmailAddress", {"EmailAddress": f"a@{d}"})
    expect_error(ses, "DeleteEmailIdentity", "OperationDenied.SenderWithDomainIsNotEmpty", {"EmailIdentity": d})
    assert call(ses, "GetEmailIdentity", {"EmailIdentity": d})["VerifiedForSendingStatus"] is True
    call(ses, "DeleteEmailAddress", {"EmailAddress": f"a@{d}"})
    call(ses, "DeleteEmailIdentity", {"EmailIdentity": d})
    expect_error(ses, "GetEmailIdentity", "InvalidParameterValue.NotExistDomain", {"EmailIdentity": d})
    assert d not in [i["IdentityName"] for i in call(ses, "ListEmailIdentities", {})["EmailIdentities"]]


def test_delete_then_recreate(ses):
    d = unique_domain("again")
    k1 = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})["Attributes"][1]["ExpectedValue"]
    call(ses, "DeleteEmailIdentity", {"EmailIdentity": d})
    r = call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    assert r["VerifiedForSendingStatus"] is False
    assert r["Attributes"][1]["ExpectedValue"].startswith("v=DKIM1")
    assert error_code(ses, "GetEmailIdentity", {"EmailIdentity": d}) is None
    del k1
