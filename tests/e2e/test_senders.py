"""Sender addresses (docs/control-plane.md "Sender addresses")."""

import time

import pytest

from helpers import call, expect_error, unique_domain


@pytest.fixture(scope="module")
def vd(server, ses):
    """A verified domain of the module account `acct`."""
    d = unique_domain("snd")
    server.verify_domain(ses, d)
    return d


@pytest.fixture
def fresh(server):
    """(client, verified domain) of a new account."""
    c = server.client(server.account())
    d = unique_domain("fresh")
    server.verify_domain(c, d)
    return c, d


def senders(c):
    return call(c, "ListEmailAddress", {})["EmailSenders"]


def find(c, addr):
    for s in senders(c):
        if s["EmailAddress"] == addr:
            return s
    return None


def test_create_and_list(ses, vd):
    before = time.time()
    call(ses, "CreateEmailAddress", {"EmailAddress": f"plain@{vd}"})
    s = find(ses, f"plain@{vd}")
    assert s is not None, senders(ses)
    assert abs(s["CreatedTimestamp"] - before) < 120, s
    assert s["SmtpPwdType"] == 0
    assert s.get("EmailSenderName") in ("", None)


def test_create_with_sender_name(ses, vd):
    call(ses, "CreateEmailAddress", {"EmailAddress": f"named@{vd}", "EmailSenderName": "Support Team 客服"})
    assert find(ses, f"named@{vd}")["EmailSenderName"] == "Support Team 客服"


def test_create_alias_form(ses, vd):
    call(ses, "CreateEmailAddress", {"EmailAddress": f"Billing Dept <billing@{vd}>"})
    s = find(ses, f"billing@{vd}")
    assert s is not None, senders(ses)
    assert s["EmailSenderName"] == "Billing Dept"


def test_domain_part_normalised(ses, vd):
    call(ses, "CreateEmailAddress", {"EmailAddress": f"norm@{vd.upper()}"})
    assert find(ses, f"norm@{vd}") is not None, senders(ses)
    expect_error(ses, "CreateEmailAddress", "InvalidParameterValue.RepeatEmailAddress", {"EmailAddress": f"norm@{vd}"})


def test_unverified_domain(server, ses):
    d = unique_domain("unv")
    call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    expect_error(ses, "CreateEmailAddress", "OperationDenied.DomainNotVerified", {"EmailAddress": f"a@{d}"})
    expect_error(ses, "CreateEmailAddress", "OperationDenied.DomainNotVerified", {"EmailAddress": f"a@{unique_domain('none')}"})
    call(ses, "DeleteEmailIdentity", {"EmailIdentity": d})


@pytest.mark.parametrize("addr", [
    "nodomain", "@{d}", "a b@{d}", "a..b@{d}", ".a@{d}", "a.@{d}", "a@@{d}", "a@localhost",
    "a@-bad.test", "x" * 65 + "@{d}", "Alias<a@{d}>", "Alias <a@{d}",
    "a(b)@{d}", "a@{d} extra",
])
def test_illegal_address(ses, vd, addr):
    expect_error(ses, "CreateEmailAddress", "InvalidParameterValue.IllegalEmailAddress",
                 {"EmailAddress": addr.replace("{d}", vd)})


def test_address_length_limits(server, fresh):
    c, _ = fresh
    d = "l" * 40 + "." + unique_domain("len")
    server.verify_domain(c, d)
    call(c, "CreateEmailAddress", {"EmailAddress": f"{'k' * (128 - len(d) - 1)}@{d}"})  # exactly 128
    expect_error(c, "CreateEmailAddress", "InvalidParameterValue.IllegalEmailAddress",
                 {"EmailAddress": f"{'j' * (129 - len(d) - 1)}@{d}"})  # 129


def test_local_part_64_ok(ses, vd):
    call(ses, "CreateEmailAddress", {"EmailAddress": f"{'l' * 64}@{vd}"})


def test_local_part_dot_atom_chars(ses, vd):
    call(ses, "CreateEmailAddress", {"EmailAddress": f"first.last+tag_x-y@{vd}"})
    assert find(ses, f"first.last+tag_x-y@{vd}") is not None


@pytest.mark.parametrize("name", ["a:b", "a<b", "a>b", 'say "hi"', "line\nbreak", "cr\rx", "n" * 65])
def test_illegal_sender_name(ses, vd, name):
    expect_error(ses, "CreateEmailAddress", "InvalidParameterValue.IllegalSenderName",
                 {"EmailAddress": f"badname@{vd}", "EmailSenderName": name})


def test_illegal_alias_in_address(ses, vd):
    expect_error(ses, "CreateEmailAddress", "InvalidParameterValue.IllegalSenderName",
                 {"EmailAddress": f"Bad:Alias <ba@{vd}>"})
    expect_error(ses, "CreateEmailAddress", "InvalidParameterValue.IllegalSenderName",
                 {"EmailAddress": f"{'z' * 65} <ba@{vd}>"})


def test_sender_name_64_ok(ses, vd):
    call(ses, "CreateEmailAddress", {"EmailAddress": f"n64@{vd}", "EmailSenderName": "n" * 64})


def test_repeat(ses, vd):
    call(ses, "CreateEmailAddress", {"EmailAddress": f"twice@{vd}"})
    expect_error(ses, "CreateEmailAddress", "InvalidParameterValue.RepeatEmailAddress", {"EmailAddress": f"twice@{vd}"})
    expect_error(ses, "CreateEmailAddress", "InvalidParameterValue.RepeatEmailAddress",
                 {"EmailAddress": f"Other Name <twice@{vd}>"})


def test_ten_per_domain(server, fresh):
    c, d = fresh
    for i in range(10):
        call(c, "CreateEmailAddress", {"EmailAddress": f"s{i}@{d}"})
    expect_error(c, "CreateEmailAddress", "OperationDenied.ExceedSenderLimit", {"EmailAddress": f"s10@{d}"})
    # the limit is per domain
    d2 = unique_domain("second")
    server.verify_domain(c, d2)
    call(c, "CreateEmailAddress", {"EmailAddress": f"s10@{d2}"})
    # deleting one frees a slot
    call(c, "DeleteEmailAddress", {"EmailAddress": f"s0@{d}"})
    call(c, "CreateEmailAddress", {"EmailAddress": f"s11@{d}"})


def test_list_oldest_first(fresh):
    c, d = fresh
    order = [f"z@{d}", f"a@{d}", f"m@{d}"]
    for a in order:
        call(c, "CreateEmailAddress", {"EmailAddress": a})
        time.sleep(0.01)
    got = [s["EmailAddress"] for s in senders(c)]
    assert got == order
    ts = [s["CreatedTimestamp"] for s in senders(c)]
    assert ts == sorted(ts)
    assert all(abs(t - time.time()) < 120 for t in ts)


def test_list_empty(server):
    c = server.client(server.account())
    assert senders(c) == []


@pytest.mark.parametrize("pw", [
    "Ab1234567",            # 9: too short
    "Abcdefghij1",          # one digit only
    "Abcdefgh11",           # one digit, twice
    "abcdefgh12",           # no upper case
    "ABCDEFGH12",           # no lower case
    "Abcdefgh12" + "x" * 11,  # 21: too long
])
def test_smtp_password_rules(ses, vd, pw):
    addr = f"pwrules@{vd}"
    if find(ses, addr) is None:
        call(ses, "CreateEmailAddress", {"EmailAddress": addr})
    expect_error(ses, "UpdateEmailSmtpPassWord", "InvalidParameterValue.InvalidSmtpPassWord",
                 {"EmailAddress": addr, "Password": pw})
    assert find(ses, addr)["SmtpPwdType"] == 0


def test_smtp_password_set_and_repeat(fresh):
    c, d = fresh
    addr = f"smtp@{d}"
    call(c, "CreateEmailAddress", {"EmailAddress": addr})
    assert find(c, addr)["SmtpPwdType"] == 0
    call(c, "UpdateEmailSmtpPassWord", {"EmailAddress": addr, "Password": "Abcdefgh12"})
    assert find(c, addr)["SmtpPwdType"] == 1
    expect_error(c, "UpdateEmailSmtpPassWord", "OperationDenied.RepeatPassWord", {"EmailAddress": addr, "Password": "Abcdefgh12"})
    call(c, "UpdateEmailSmtpPassWord", {"EmailAddress": addr, "Password": "Zyxwvuts98765432"})
    assert find(c, addr)["SmtpPwdType"] == 1
    # 10 and 20 characters are both fine
    call(c, "UpdateEmailSmtpPassWord", {"EmailAddress": addr, "Password": "aB3" + "x" * 16 + "4"})


def test_smtp_password_unknown_sender(ses, vd):
    expect_error(ses, "UpdateEmailSmtpPassWord", "InvalidParameterValue.NoSuchSender",
                 {"EmailAddress": f"ghost@{vd}", "Password": "Abcdefgh12"})


def test_password_not_in_list_or_log(server, fresh):
    c, d = fresh
    call(c, "CreateEmailAddress", {"EmailAddress": f"secret@{d}"})
    call(c, "UpdateEmailSmtpPassWord", {"EmailAddress": f"secret@{d}", "Password": "Qwertyui83Zz"})
    assert "Qwertyui83Zz" not in str(call(c, "ListEmailAddress", {}))
    assert "Qwertyui83Zz" not in server.log()


def test_delete(fresh):
    c, d = fresh
    call(c, "CreateEmailAddress", {"EmailAddress": f"gone@{d}"})
    call(c, "CreateEmailAddress", {"EmailAddress": f"stay@{d}"})
    call(c, "DeleteEmailAddress", {"EmailAddress": f"gone@{d}"})
    assert [s["EmailAddress"] for s in senders(c)] == [f"stay@{d}"]
    expect_error(c, "DeleteEmailAddress", "InvalidParameterValue.NoSuchSender", {"EmailAddress": f"gone@{d}"})
    expect_error(c, "UpdateEmailSmtpPassWord", "InvalidParameterValue.NoSuchSender",
                 {"EmailAddress": f"gone@{d}", "Password": "Abcdefgh12"})
    # it can be created again, fresh
    call(c, "CreateEmailAddress", {"EmailAddress": f"gone@{d}"})
    assert find(c, f"gone@{d}")["SmtpPwdType"] == 0


def test_delete_unknown(ses, vd):
    expect_error(ses, "DeleteEmailAddress", "InvalidParameterValue.NoSuchSender", {"EmailAddress": f"never@{vd}"})


def test_demoted_domain_blocks_new_senders(server, fresh, dns):
    c, d = fresh
    call(c, "CreateEmailAddress", {"EmailAddress": f"before@{d}"})
    dns.remove(d, "MX")
    u = call(c, "UpdateEmailIdentity", {"EmailIdentity": d})
    assert u["VerifiedForSendingStatus"] is False
    expect_error(c, "CreateEmailAddress", "OperationDenied.DomainNotVerified", {"EmailAddress": f"after@{d}"})
