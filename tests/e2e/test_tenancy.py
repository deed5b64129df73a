"""Tenancy: account B can neither see nor touch account A's domains, senders and templates."""

import pytest

from helpers import b64, call, expect_error, unb64, unique_domain


@pytest.fixture(scope="module")
def world(server):
    a, b = server.account("tenant-a"), server.account("tenant-b")
    ca, cb = server.client(a), server.client(b)
    da = unique_domain("tenant-a")
    server.verify_domain(ca, da, tags=[{"TagKey": "owner", "TagValue": "a"}])
    sa = f"alice@{da}"
    call(ca, "CreateEmailAddress", {"EmailAddress": sa, "EmailSenderName": "Alice"})
    call(ca, "UpdateEmailSmtpPassWord", {"EmailAddress": sa, "Password": "Abcdefgh12"})
    ta = call(ca, "CreateEmailTemplate", {"TemplateName": "a-template",
                                          "TemplateContent": {"Text": b64("A's {{secret}}")}})["TemplateID"]
    # B has its own things too, so its lists are not trivially empty
    db = unique_domain("tenant-b")
    server.verify_domain(cb, db)
    call(cb, "CreateEmailAddress", {"EmailAddress": f"bob@{db}"})
    tb = call(cb, "CreateEmailTemplate", {"TemplateName": "b-template", "TemplateContent": {"Text": b64("B")}})["TemplateID"]
    return dict(ca=ca, cb=cb, da=da, sa=sa, ta=ta, db=db, tb=tb, a=a, b=b)


def test_get_identity(world):
    expect_error(world["cb"], "GetEmailIdentity", "InvalidParameterValue.NotExistDomain", {"EmailIdentity": world["da"]})


def test_update_identity(world):
    expect_error(world["cb"], "UpdateEmailIdentity", "InvalidParameterValue.NotExistDomain", {"EmailIdentity": world["da"]})
    expect_error(world["cb"], "UpdateEmailIdentity", "InvalidParameterValue.NotExistDomain",
                 {"EmailIdentity": world["da"], "DKIMOption": 2})


def test_delete_identity(world):
    expect_error(world["cb"], "DeleteEmailIdentity", "InvalidParameterValue.NotExistDomain", {"EmailIdentity": world["da"]})


def test_create_identity_of_other(world):
    expect_error(world["cb"], "CreateEmailIdentity", "InvalidParameterValue.CreatedByOther", {"EmailIdentity": world["da"]})
    expect_error(world["cb"], "CreateEmailIdentity", "InvalidParameterValue.CreatedByOther",
                 {"EmailIdentity": world["da"].upper() + "."})


def test_list_identities(world):
    names = [i["IdentityName"] for i in call(world["cb"], "ListEmailIdentities", {})["EmailIdentities"]]
    assert names == [world["db"]]
    tagged = call(world["cb"], "ListEmailIdentities", {"TagList": [{"TagKey": "owner", "TagValue": "a"}]})
    assert tagged["EmailIdentities"] == []
    r = call(world["cb"], "ListEmailIdentities", {"Limit": 100, "Offset": 0})
    assert r["Total"] == 1


def test_create_sender_under_other_domain(world):
    expect_error(world["cb"], "CreateEmailAddress", "OperationDenied.DomainNotVerified", {"EmailAddress": f"mallory@{world['da']}"})
    expect_error(world["cb"], "CreateEmailAddress", "OperationDenied.DomainNotVerified", {"EmailAddress": world["sa"]})


def test_list_senders(world):
    addrs = [s["EmailAddress"] for s in call(world["cb"], "ListEmailAddress", {})["EmailSenders"]]
    assert addrs == [f"bob@{world['db']}"]


def test_delete_sender(world):
    expect_error(world["cb"], "DeleteEmailAddress", "InvalidParameterValue.NoSuchSender", {"EmailAddress": world["sa"]})


def test_smtp_password_of_other(world):
    expect_error(world["cb"], "UpdateEmailSmtpPassWord", "InvalidParameterValue.NoSuchSender",
                 {"EmailAddress": world["sa"], "Password": "Zyxwvuts98"})
    # the same password as A's current one must not reveal anything either
    expect_error(world["cb"], "UpdateEmailSmtpPassWord", "InvalidParameterValue.NoSuchSender",
                 {"EmailAddress": world["sa"], "Password": "Abcdefgh12"})


def test_get_template(world):
    expect_error(world["cb"], "GetEmailTemplate", "InvalidParameterValue.TemplateNotExist", {"TemplateID": world["ta"]})


def test_update_template(world):
    expect_error(world["cb"], "UpdateEmailTemplate", "InvalidParameterValue.TemplateNotExist",
                 {"TemplateID": world["ta"], "TemplateName": "pwned", "TemplateContent": {"Text": b64("pwned")}})


def test_delete_template(world):
    expect_error(world["cb"], "DeleteEmailTemplate", "InvalidParameterValue.TemplateNotExist", {"TemplateID": world["ta"]})


def test_list_templates(world):
    r = call(world["cb"], "ListEmailTemplates", {"Limit": 100, "Offset": 0})
    assert [t["TemplateID"] for t in r["TemplatesMetadata"]] == [world["tb"]]
    assert r["TotalCount"] == 1


def test_a_is_untouched(world):
    """Runs last in this file: nothing B tried changed A's data."""
    ca = world["ca"]
    g = call(ca, "GetEmailIdentity", {"EmailIdentity": world["da"]})
    assert g["VerifiedForSendingStatus"] is True
    senders = call(ca, "ListEmailAddress", {})["EmailSenders"]
    assert [(s["EmailAddress"], s["EmailSenderName"], s["SmtpPwdType"]) for s in senders] == [(world["sa"], "Alice", 1)]
    t = call(ca, "GetEmailTemplate", {"TemplateID": world["ta"]})
    assert t["TemplateName"] == "a-template"
    assert unb64(t["TemplateContent"]["Text"]) == "A's {{secret}}"
    names = [i["IdentityName"] for i in call(ca, "ListEmailIdentities", {})["EmailIdentities"]]
    assert names == [world["da"]]
    # A's own password is still the one A set
    expect_error(ca, "UpdateEmailSmtpPassWord", "OperationDenied.RepeatPassWord",
                 {"EmailAddress": world["sa"], "Password": "Abcdefgh12"})


def test_keys_are_not_interchangeable(server, world):
    mixed = server.client(type(world["a"])(0, world["a"].secret_id, world["b"].secret_key, {}))
    expect_error(mixed, "ListEmailIdentities", "AuthFailure.SignatureFailure", {})
