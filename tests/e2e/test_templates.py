"""Templates (docs/control-plane.md "Templates") and the operator review flow."""

import base64
import time

import pytest

from helpers import b64, call, expect_error, unb64


def content(html=None, text=None):
    c = {}
    if html is not None:
        c["Html"] = b64(html)
    if text is not None:
        c["Text"] = b64(text)
    return c


def create(c, name="tpl", html="<p>Hello {{name}}</p>", text=None):
    return call(c, "CreateEmailTemplate", {"TemplateName": name, "TemplateContent": content(html, text)})["TemplateID"]


@pytest.fixture
def fresh(server):
    return server.client(server.account())


def test_round_trip(ses):
    html = "<h1>你好，{{ name }}</h1><p>订单 {{order.id}} 已发货 ✓</p>"
    text = "你好，{{name}}。订单 {{order.id}} 已发货。"
    before = time.time()
    tid = create(ses, "发货通知", html, text)
    assert isinstance(tid, int) and tid > 0
    g = call(ses, "GetEmailTemplate", {"TemplateID": tid})
    assert g["TemplateName"] == "发货通知"
    assert g["TemplateStatus"] == 0
    assert unb64(g["TemplateContent"]["Html"]) == html
    assert unb64(g["TemplateContent"]["Text"]) == text

    call(ses, "UpdateEmailTemplate", {"TemplateID": tid, "TemplateName": "shipped",
                                      "TemplateContent": content(html="<b>{{x}}</b>")})
    g = call(ses, "GetEmailTemplate", {"TemplateID": tid})
    assert g["TemplateName"] == "shipped"
    assert unb64(g["TemplateContent"]["Html"]) == "<b>{{x}}</b>"
    assert not g["TemplateContent"].get("Text")

    lst = call(ses, "ListEmailTemplates", {"Limit": 100, "Offset": 0})
    meta = [t for t in lst["TemplatesMetadata"] if t["TemplateID"] == tid]
    assert len(meta) == 1
    assert meta[0]["TemplateName"] == "shipped"
    assert meta[0]["TemplateStatus"] == 0
    assert abs(meta[0]["CreatedTimestamp"] - before) < 120

    call(ses, "DeleteEmailTemplate", {"TemplateID": tid})
    expect_error(ses, "GetEmailTemplate", "InvalidParameterValue.TemplateNotExist", {"TemplateID": tid})
    lst = call(ses, "ListEmailTemplates", {"Limit": 100, "Offset": 0})
    assert tid not in [t["TemplateID"] for t in lst["TemplatesMetadata"]]


def test_text_only_and_html_only(ses):
    t1 = create(ses, "text only", html=None, text="plain {{a}}")
    t2 = create(ses, "html only", html="<i>x</i>")
    assert unb64(call(ses, "GetEmailTemplate", {"TemplateID": t1})["TemplateContent"]["Text"]) == "plain {{a}}"
    assert unb64(call(ses, "GetEmailTemplate", {"TemplateID": t2})["TemplateContent"]["Html"]) == "<i>x</i>"


def test_ids_unique_and_increasing(ses):
    ids = [create(ses, f"id{i}") for i in range(3)]
    assert len(set(ids)) == 3


@pytest.mark.parametrize("tc", [{}, {"Html": "", "Text": ""}, {"Html": ""}])
def test_content_is_null(ses, tc):
    expect_error(ses, "CreateEmailTemplate", "InvalidParameterValue.TemplateContentIsNULL",
                 {"TemplateName": "empty", "TemplateContent": tc})


@pytest.mark.parametrize("tc", [
    {"Html": "not base64!!"},
    {"Text": "@@@@"},
    {"Html": base64.b64encode(b"\xff\xfe\xfa bad utf8").decode()},
])
def test_content_is_wrong_base64(ses, tc):
    expect_error(ses, "CreateEmailTemplate", "InvalidParameterValue.TemplateContentIsWrong",
                 {"TemplateName": "bad", "TemplateContent": tc})


@pytest.mark.parametrize("body", [
    "Hello {{name",
    "Hello {{}}",
    "Hello {{ }}",
    "Hello {{na me}}",
    "Hello {{na$me}}",
    "Hello {{" + "n" * 65 + "}}",
    "ok {{a}} then {{",
])
def test_malformed_variables(ses, body):
    expect_error(ses, "CreateEmailTemplate", "InvalidParameterValue.TemplateContentIsWrong",
                 {"TemplateName": "badvar", "TemplateContent": content(text=body)})


@pytest.mark.parametrize("body", ["{{a}}", "{{ a.b-c_D9 }}", "{{" + "n" * 64 + "}}", "no variables at all", "x {{a}}{{b}} y"])
def test_good_variables(ses, body):
    create(ses, "goodvar", html=None, text=body)


def test_malformed_on_update(ses):
    tid = create(ses, "upd")
    expect_error(ses, "UpdateEmailTemplate", "InvalidParameterValue.TemplateContentIsWrong",
                 {"TemplateID": tid, "TemplateName": "upd", "TemplateContent": content(text="{{oops")})
    expect_error(ses, "UpdateEmailTemplate", "InvalidParameterValue.TemplateContentIsNULL",
                 {"TemplateID": tid, "TemplateName": "upd", "TemplateContent": {}})
    # unchanged
    assert unb64(call(ses, "GetEmailTemplate", {"TemplateID": tid})["TemplateContent"]["Html"]) == "<p>Hello {{name}}</p>"


def test_too_large(ses):
    half = "a" * (512 * 1024)
    expect_error(ses, "CreateEmailTemplate", "FailedOperation.TemplateContentToolarge",
                 {"TemplateName": "big", "TemplateContent": content(html=half, text=half + "b")})
    # exactly 1 MiB is fine
    create(ses, "just fits", html=half, text=half)


def test_name_rules(ses):
    create(ses, "n" * 100)
    create(ses, "名" * 100)
    for bad in ("n" * 101, "tab\there", "nl\nhere", "nul\x00x", ""):
        expect_error(ses, "CreateEmailTemplate", "InvalidParameterValue.TemplateNameIllegal",
                     {"TemplateName": bad, "TemplateContent": content(text="x")})


def test_empty_name_on_update(ses):
    tid = create(ses, "named")
    expect_error(ses, "UpdateEmailTemplate", "InvalidParameterValue.TemplateNameIsNULL",
                 {"TemplateID": tid, "TemplateName": "", "TemplateContent": content(text="x")})
    expect_error(ses, "UpdateEmailTemplate", "InvalidParameterValue.TemplateNameIllegal",
                 {"TemplateID": tid, "TemplateName": "x" * 101, "TemplateContent": content(text="x")})


def test_unknown_template_id(ses):
    for action, extra in (("GetEmailTemplate", {}), ("DeleteEmailTemplate", {}),
                          ("UpdateEmailTemplate", {"TemplateName": "x", "TemplateContent": content(text="x")})):
        expect_error(ses, action, "InvalidParameterValue.TemplateNotExist", {"TemplateID": 987654321, **extra})


def test_paging_newest_first(fresh):
    ids = [create(fresh, f"page{i}") for i in range(7)]
    seen = []
    for off in (0, 3, 6):
        r = call(fresh, "ListEmailTemplates", {"Limit": 3, "Offset": off})
        assert r["TotalCount"] == 7
        seen += [t["TemplateID"] for t in r["TemplatesMetadata"]]
    assert seen == list(reversed(ids))
    r = call(fresh, "ListEmailTemplates", {"Limit": 3, "Offset": 7})
    assert r["TemplatesMetadata"] == [] and r["TotalCount"] == 7


def test_list_empty(fresh):
    r = call(fresh, "ListEmailTemplates", {"Limit": 10, "Offset": 0})
    assert r["TemplatesMetadata"] == [] and r["TotalCount"] == 0


@pytest.mark.parametrize("limit", [101, 0, 1000])
def test_invalid_limit(ses, limit):
    expect_error(ses, "ListEmailTemplates", "FailedOperation.InvalidLimit", {"Limit": limit, "Offset": 0})


def test_limit_required(ses):
    expect_error(ses, "ListEmailTemplates", "MissingParameter", {"Offset": 0})
    call(ses, "ListEmailTemplates", {"Limit": 100, "Offset": 0})
    call(ses, "ListEmailTemplates", {"Limit": 1, "Offset": 0})


# --------------------------------------------------------------------------- review flow


def status(c, tid):
    return call(c, "GetEmailTemplate", {"TemplateID": tid})["TemplateStatus"]


def meta(c, tid):
    for t in call(c, "ListEmailTemplates", {"Limit": 100, "Offset": 0})["TemplatesMetadata"]:
        if t["TemplateID"] == tid:
            return t
    raise AssertionError(f"template {tid} not listed")


def test_review_flow(server):
    a = server.account("reviewed")
    c = server.client(a)
    before = create(c, "before review")
    server.cli("account", "update", "--app-id", str(a.app_id), "--template-review", "true")
    assert status(c, before) == 0  # existing templates keep their status

    tid = create(c, "needs review", html='<a href="http://x.test">link</a>')
    assert status(c, tid) == 1
    assert meta(c, tid)["TemplateStatus"] == 1

    server.cli("template", "reject", str(tid), "--reason", "links")
    assert status(c, tid) == 2
    assert meta(c, tid)["ReviewReason"] == "links"

    server.cli("template", "approve", str(tid))
    assert status(c, tid) == 0

    call(c, "UpdateEmailTemplate", {"TemplateID": tid, "TemplateName": "needs review",
                                    "TemplateContent": content(text="no links now")})
    assert status(c, tid) == 1
    server.cli("template", "approve", str(tid))
    assert status(c, tid) == 0

    # review off again: new templates are approved at once
    server.cli("account", "update", "--app-id", str(a.app_id), "--template-review", "false")
    assert status(c, create(c, "after review")) == 0


def test_review_is_per_account(server):
    a, b = server.account(), server.account()
    server.cli("account", "update", "--app-id", str(a.app_id), "--template-review", "true")
    assert status(server.client(a), create(server.client(a), "a")) == 1
    assert status(server.client(b), create(server.client(b), "b")) == 0


def test_review_unknown_template(server):
    r = server.cli("template", "approve", "999999999", check=False)
    assert r.returncode != 0
    r = server.cli("template", "reject", "999999999", "--reason", "x", check=False)
    assert r.returncode != 0
