"""Wire protocol: signatures, envelope, framework errors (docs/control-plane.md "Protocol")."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from helpers import (UUID_RE, TencentCloudSDKException, b64, call, expect_error, legacy_call,
                     legacy_params, publish, tc3_call, unb64, unique_domain)

MODES = [
    ("POST", "TC3-HMAC-SHA256"),
    ("GET", "TC3-HMAC-SHA256"),
    ("POST", "HmacSHA1"),
    ("POST", "HmacSHA256"),
    ("GET", "HmacSHA1"),
    ("GET", "HmacSHA256"),
]
MODE_IDS = [f"{m}-{s}" for m, s in MODES]


def check_envelope(r):
    assert r.status == 200, r
    assert r.headers.get("content-type") == "application/json", r
    body = r.json
    assert set(body) == {"Response"}, body
    assert UUID_RE.match(body["Response"].get("RequestId", "")), body
    return body["Response"]


# --------------------------------------------------------------------------- every action, every signing mode


@pytest.mark.parametrize("method,sign", MODES, ids=MODE_IDS)
def test_every_control_plane_action(server, method, sign):
    """The 14 control-plane actions, in one lifecycle, through the official SDK in each mode."""
    c = server.client(server.account(), method=method, sign=sign)
    domain = unique_domain("all")
    tags = [{"TagKey": "mode", "TagValue": f"{method}-{sign}"}, {"TagKey": "suite", "TagValue": "e2e"}]

    created = call(c, "CreateEmailIdentity", {"EmailIdentity": domain, "DKIMOption": 0, "TagList": tags})
    assert created["IdentityType"] == "DOMAIN"
    assert created["VerifiedForSendingStatus"] is False
    assert len(created["Attributes"]) == 4
    got = call(c, "GetEmailIdentity", {"EmailIdentity": domain})
    assert got["VerifiedForSendingStatus"] is False
    assert {(t["TagKey"], t["TagValue"]) for t in got.get("TagList") or []} == {(t["TagKey"], t["TagValue"]) for t in tags}
    publish(server.zone, created["Attributes"])
    upd = call(c, "UpdateEmailIdentity", {"EmailIdentity": domain})
    assert upd["VerifiedForSendingStatus"] is True, upd
    listed = call(c, "ListEmailIdentities", {"TagList": [tags[0]], "Limit": 10, "Offset": 0})
    assert [i["IdentityName"] for i in listed["EmailIdentities"]] == [domain]

    sender = f"noreply@{domain}"
    call(c, "CreateEmailAddress", {"EmailAddress": sender, "EmailSenderName": "No Reply"})
    senders = call(c, "ListEmailAddress", {})["EmailSenders"]
    assert sender in [s["EmailAddress"] for s in senders]
    call(c, "UpdateEmailSmtpPassWord", {"EmailAddress": sender, "Password": "Abcdefgh12"})
    call(c, "DeleteEmailAddress", {"EmailAddress": sender})

    html = "<p>Hello {{name}}, 你好</p>"
    tid = call(c, "CreateEmailTemplate", {"TemplateName": "proto tpl",
                                          "TemplateContent": {"Html": b64(html), "Text": b64("Hello {{name}}")}})["TemplateID"]
    assert isinstance(tid, int) and tid > 0
    got = call(c, "GetEmailTemplate", {"TemplateID": tid})
    assert unb64(got["TemplateContent"]["Html"]) == html
    call(c, "UpdateEmailTemplate", {"TemplateID": tid, "TemplateName": "proto tpl 2",
                                    "TemplateContent": {"Text": b64("Bye {{name}}")}})
    lst = call(c, "ListEmailTemplates", {"Limit": 100, "Offset": 0})
    assert any(t["TemplateID"] == tid and t["TemplateName"] == "proto tpl 2" for t in lst["TemplatesMetadata"])
    call(c, "DeleteEmailTemplate", {"TemplateID": tid})
    expect_error(c, "GetEmailTemplate", "InvalidParameterValue.TemplateNotExist", {"TemplateID": tid})

    call(c, "DeleteEmailIdentity", {"EmailIdentity": domain})
    expect_error(c, "GetEmailIdentity", "InvalidParameterValue.NotExistDomain", {"EmailIdentity": domain})


@pytest.mark.parametrize("method,sign", MODES, ids=MODE_IDS)
def test_nested_params_and_integers(server, method, sign):
    """Nested objects, lists and integers survive GET/legacy flattening."""
    c = server.client(server.account(), method=method, sign=sign)
    domain = unique_domain("nest")
    call(c, "CreateEmailIdentity", {"EmailIdentity": domain, "DKIMOption": 2,
                                    "TagList": [{"TagKey": "k1", "TagValue": "v1"}, {"TagKey": "k2", "TagValue": "v 2"}]})
    got = call(c, "GetEmailIdentity", {"EmailIdentity": domain})
    assert got["DKIMOption"] == 2
    assert sorted((t["TagKey"], t["TagValue"]) for t in got["TagList"]) == [("k1", "v1"), ("k2", "v 2")]

    names = [f"nest-{method}-{sign}-{i}" for i in range(3)]
    ids = [call(c, "CreateEmailTemplate", {"TemplateName": n, "TemplateContent": {"Text": b64(f"n={n} {{{{x}}}}")}})["TemplateID"]
           for n in names]
    page = call(c, "ListEmailTemplates", {"Limit": 2, "Offset": 1})
    assert len(page["TemplatesMetadata"]) == 2
    assert page["TotalCount"] >= 3
    for tid in ids:
        call(c, "DeleteEmailTemplate", {"TemplateID": tid})
    call(c, "DeleteEmailIdentity", {"EmailIdentity": domain})


# --------------------------------------------------------------------------- envelope


def test_success_envelope_raw(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {})
    resp = check_envelope(r)
    assert "Error" not in resp
    assert "EmailIdentities" in resp


def test_error_envelope_raw(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "GetEmailIdentity", {"EmailIdentity": "nope.example.test"})
    resp = check_envelope(r)
    assert resp["Error"]["Code"] == "InvalidParameterValue.NotExistDomain"
    assert isinstance(resp["Error"]["Message"], str) and resp["Error"]["Message"]


def test_request_ids_are_unique(server, acct):
    ids = {check_envelope(tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailAddress", {}))["RequestId"]
           for _ in range(5)}
    assert len(ids) == 5


def test_region_is_optional(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {}, region=None)
    assert "Error" not in check_envelope(r)


# --------------------------------------------------------------------------- auth failures


def err(r):
    resp = check_envelope(r)
    assert "Error" in resp, f"expected an error, got {resp}"
    return resp["Error"]["Code"]


def test_wrong_key(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, "X" * 32, "ListEmailIdentities", {})
    assert err(r) == "AuthFailure.SignatureFailure"


def test_unknown_secret_id(server, acct):
    r = tc3_call(server.api_port, "AKID" + uuid.uuid4().hex, acct.secret_key, "ListEmailIdentities", {})
    assert err(r) == "AuthFailure.SecretIdNotFound"


def test_old_timestamp(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {},
                 timestamp=int(time.time()) - 600)
    assert err(r) == "AuthFailure.SignatureExpire"


def test_future_timestamp(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {},
                 timestamp=int(time.time()) + 600)
    assert err(r) == "AuthFailure.SignatureExpire"


def test_tampered_body(server, acct):
    signed = json.dumps({"EmailIdentity": "a.example.test"}).encode()
    sent = json.dumps({"EmailIdentity": "b.example.test"}).encode()
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "GetEmailIdentity", body=sent, sign_body=signed)
    assert err(r) == "AuthFailure.SignatureFailure"


@pytest.mark.parametrize("auth", ["garbage", "Bearer abc.def", "TC3-HMAC-SHA256 nonsense",
                                  "TC3-HMAC-SHA256 Credential=AKIDx, Signature=zz"])
def test_garbage_authorization(server, acct, auth):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {}, authorization=auth)
    assert err(r) == "AuthFailure.InvalidAuthorization"


def test_host_without_port_and_other_service(server, acct):
    """Node.js SDK style: signs the host without its port, service = first endpoint label."""
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {},
                 sign_host="127.0.0.1", service="127")
    assert "Error" not in check_envelope(r)


def test_unsigned_payload(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {},
                 extra_headers={"X-TC-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert "Error" not in check_envelope(r)


def test_tc3_get_raw(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailTemplates",
                 {"Limit": "5", "Offset": "0"}, method="GET")
    resp = check_envelope(r)
    assert "Error" not in resp, resp
    assert "TotalCount" in resp


@pytest.mark.parametrize("sign_method", ["HmacSHA1", "HmacSHA256"])
def test_legacy_raw_ok_and_wrong_key(server, acct, sign_method):
    p = legacy_params(server.api_port, acct.secret_id, acct.secret_key, "ListEmailTemplates",
                      {"Limit": 3, "Offset": 0}, sign_method=sign_method)
    assert "Error" not in check_envelope(legacy_call(server.api_port, p))
    p = legacy_params(server.api_port, acct.secret_id, "Y" * 32, "ListEmailTemplates",
                      {"Limit": 3, "Offset": 0}, sign_method=sign_method)
    assert err(legacy_call(server.api_port, p)) == "AuthFailure.SignatureFailure"


def test_legacy_expired(server, acct):
    p = legacy_params(server.api_port, acct.secret_id, acct.secret_key, "ListEmailAddress", {},
                      timestamp=int(time.time()) - 600)
    assert err(legacy_call(server.api_port, p)) == "AuthFailure.SignatureExpire"


def test_legacy_replay_refused(server, acct):
    p = legacy_params(server.api_port, acct.secret_id, acct.secret_key, "ListEmailAddress", {})
    first = check_envelope(legacy_call(server.api_port, p))
    assert "Error" not in first, first
    second = check_envelope(legacy_call(server.api_port, p))
    assert "Error" in second, f"replayed legacy request was accepted: {second}"
    assert second["Error"]["Code"].startswith("AuthFailure"), second


# --------------------------------------------------------------------------- framework errors


def test_wrong_version(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {}, version="2019-01-01")
    assert err(r) == "NoSuchVersion"


def test_unknown_action(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "FlyToTheMoon", {})
    assert err(r) == "InvalidAction"


@pytest.mark.parametrize("region", ["Mars_1", "AP-GUANGZHOU", "ap guangzhou", "ap-guangzhou-", "ap--x"])
def test_bad_region(server, acct, region):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {}, region=region)
    assert err(r) == "UnsupportedRegion"


def test_other_region_shapes_accepted(server, acct):
    for region in ("ap-hongkong", "ap-singapore", "eu-frankfurt"):
        r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {}, region=region)
        assert "Error" not in check_envelope(r), region


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_unsupported_method(server, acct, method):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", {}, method=method)
    assert err(r) == "UnsupportedProtocol"


def test_body_over_8_mib(server, acct):
    big = json.dumps({"TemplateName": "big", "TemplateContent": {"Html": "A" * (9 * 1024 * 1024)}}).encode()
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "CreateEmailTemplate", body=big)
    assert err(r) == "RequestSizeLimitExceeded"


def test_unknown_parameter(server, ses):
    # the typed SDK drops unknown fields, so go through call_json
    try:
        ses.call_json("GetEmailIdentity", {"EmailIdentity": "x.example.test", "Bogus": 1})
        raise AssertionError("unknown field accepted")
    except TencentCloudSDKException as e:
        assert e.code == "UnknownParameter", e
        assert "Bogus" in e.message


def test_missing_parameter(server, ses):
    e = expect_error(ses, "GetEmailIdentity", "MissingParameter", {})
    assert "EmailIdentity" in e.message


@pytest.mark.parametrize("action,params,field", [
    ("GetEmailIdentity", {"EmailIdentity": 123}, "EmailIdentity"),
    ("ListEmailTemplates", {"Limit": "many", "Offset": 0}, "Limit"),
    ("CreateEmailIdentity", {"EmailIdentity": "t.example.test", "TagList": "oops"}, "TagList"),
    ("GetEmailTemplate", {"TemplateID": {"a": 1}}, "TemplateID"),
])
def test_wrong_type(server, ses, action, params, field):
    try:
        ses.call_json(action, params)
        raise AssertionError(f"{action} {params} accepted")
    except TencentCloudSDKException as e:
        assert e.code == "InvalidParameter", e
        assert field in e.message, e.message


def test_malformed_json_body(server, acct):
    r = tc3_call(server.api_port, acct.secret_id, acct.secret_key, "ListEmailIdentities", body=b"{not json")
    code = err(r)
    assert code.startswith("InvalidParameter") or code == "MissingParameter", code


# --------------------------------------------------------------------------- rate limit


def test_rate_limit(sesame_factory):
    srv = sesame_factory({"api": {"rate_limit": 5}}, name="ratelimited")
    a = srv.account("rl")
    codes = []
    start = time.monotonic()
    for _ in range(30):
        r = tc3_call(srv.api_port, a.secret_id, a.secret_key, "ListEmailAddress", {})
        resp = check_envelope(r)
        codes.append(resp.get("Error", {}).get("Code"))
        if time.monotonic() - start > 20:
            break
    assert "RequestLimitExceeded" in codes, codes
    assert None in codes, "no call succeeded at all"
    # another action is counted separately
    r = tc3_call(srv.api_port, a.secret_id, a.secret_key, "ListEmailIdentities", {})
    assert "Error" not in check_envelope(r)


# --------------------------------------------------------------------------- tccli


def test_tccli(server, acct, tmp_path):
    exe = shutil.which("tccli") or str(Path(sys.executable).parent / "tccli")
    assert Path(exe).exists(), "tccli not installed (tests/e2e/requirements.txt)"
    env = dict(os.environ, HOME=str(tmp_path))
    r = subprocess.run([exe, "ses", "ListEmailIdentities",
                        "--endpoint", f"http://127.0.0.1:{server.api_port}",
                        "--secretId", acct.secret_id, "--secretKey", acct.secret_key,
                        "--region", "ap-guangzhou"],
                       capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert "EmailIdentities" in out and "RequestId" in out, out


# --------------------------------------------------------------------------- string-typed numbers and booleans


@pytest.mark.parametrize("value", ["true", "True", "false"])
def test_legacy_boolean_strings(server, value):
    a = server.account()
    d = unique_domain("bool")
    call(server.client(a), "CreateEmailIdentity", {"EmailIdentity": d})
    p = legacy_params(server.api_port, a.secret_id, a.secret_key, "UpdateEmailIdentity",
                      {"EmailIdentity": d, "NewAPI": value, "DKIMOption": "0"})
    resp = check_envelope(legacy_call(server.api_port, p))
    assert "Error" not in resp, resp
    assert resp["VerifiedForSendingStatus"] is False


def test_tc3_get_boolean_and_number_strings(server):
    a = server.account()
    d = unique_domain("getbool")
    r = tc3_call(server.api_port, a.secret_id, a.secret_key, "CreateEmailIdentity",
                 {"EmailIdentity": d, "DKIMOption": "1", "TagList.0.TagKey": "k", "TagList.0.TagValue": "v"}, method="GET")
    resp = check_envelope(r)
    assert "Error" not in resp, resp
    assert resp["DKIMOption"] == 1
    r = tc3_call(server.api_port, a.secret_id, a.secret_key, "UpdateEmailIdentity",
                 {"EmailIdentity": d, "NewAPI": "True"}, method="GET")
    assert "Error" not in check_envelope(r)
    r = tc3_call(server.api_port, a.secret_id, a.secret_key, "ListEmailIdentities",
                 {"TagList.0.TagKey": "k", "TagList.0.TagValue": "v", "Limit": "10", "Offset": "0"}, method="GET")
    resp = check_envelope(r)
    assert [i["IdentityName"] for i in resp["EmailIdentities"]] == [d]


# --------------------------------------------------------------------------- configured regions


def test_configured_regions(sesame_factory):
    srv = sesame_factory({"api": {"regions": ["ap-guangzhou", "ap-hongkong"]}}, name="regions")
    a = srv.account()
    for region, ok in (("ap-guangzhou", True), ("ap-hongkong", True), ("ap-singapore", False)):
        r = tc3_call(srv.api_port, a.secret_id, a.secret_key, "ListEmailIdentities", {}, region=region)
        resp = check_envelope(r)
        if ok:
            assert "Error" not in resp, (region, resp)
        else:
            assert resp["Error"]["Code"] == "UnsupportedRegion", (region, resp)
    r = tc3_call(srv.api_port, a.secret_id, a.secret_key, "ListEmailIdentities", {}, region=None)
    assert "Error" not in check_envelope(r)
    # the SDK with a configured region works too
    call(srv.client(a, region="ap-hongkong"), "ListEmailIdentities", {})
