"""The web console (docs/console.md) in a real browser: Debian's Chromium driven by Playwright.

A user made with `sesame user create` signs in at /console/, adds a domain, publishes the records
the page shows into the test DNS zone, verifies it, creates a sender and a template (with its live
preview), sends a test mail that reaches the sink, finds it in the message search, sees it on the
statistics chart and removes a bounced address from the black list. Plus, over plain HTTP: wrong
passwords refused and throttled, state changes without the CSRF token refused with 403, and a
member kept to its own account while an operator may pick any.

Screenshots of every page go to the pytest temp dir (printed at the end). The console does not
depend on the storage backend, so the file runs once, on SQLite: it is skipped when
SESAME_TEST_DATABASE_URL is set. Without Chromium or Playwright it is skipped, except under CI=true
where that is a failure.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta

import pytest

from conftest import SESAME_BIN
from helpers import (API_TZ, b64, call, call_json, error_code, expect_error, publish_one, ready_sender, send, send_params,
                     sink_domain, unique_domain, wait_deliver_status, wait_until)

pytestmark = pytest.mark.skipif(bool(os.environ.get("SESAME_TEST_DATABASE_URL")),
                                reason="the console is storage-agnostic: run on SQLite only")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery"


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (tests/e2e/requirements.txt)"
    if not os.path.exists(CHROMIUM):
        return "chromium is not installed (apt-get install chromium)"
    return None


# --------------------------------------------------------------------------- plain HTTP


class Http:
    """A console client without a browser: keeps the session cookie and the CSRF token."""

    def __init__(self, port: int):
        self.port = port
        self.cookie: str | None = None
        self.csrf: str | None = None

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                csrf: bool = True) -> tuple[int, dict, dict]:
        h = {"Content-Type": "application/json"} if method == "POST" else {}
        if self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf and method == "POST":
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, (json.loads(raw) if raw else {})
        finally:
            conn.close()

    def sign_in(self, email: str, password: str) -> tuple[int, dict, dict]:
        status, headers, body = self.request("POST", "/console/api/signin", {"Email": email, "Password": password})
        if status == 200:
            self.cookie = headers["set-cookie"].split(";", 1)[0]
            self.csrf = body["CsrfToken"]
        return status, headers, body

    def action(self, name: str, params: dict | None = None, **kw) -> tuple[int, dict]:
        status, _, body = self.request("POST", "/console/api/" + name, params or {}, **kw)
        return status, body


def create_user(server, app_id: int, email: str, operator: bool = False,
                password: str | None = PASSWORD) -> subprocess.CompletedProcess:
    args = [str(SESAME_BIN), "user", "create", "--app-id", str(app_id), "--email", email,
            "--config", str(server.config_path)]
    if operator:
        args.append("--operator")
    if password is not None:
        args.append("--password-stdin")
    return subprocess.run(args, input=(password + "\n") if password is not None else "",
                          capture_output=True, text=True, timeout=60, cwd=server.dir)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def console(make_sending_server):
    return make_sending_server(name="console")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    d = tmp_path_factory.mktemp("console-screenshots")
    yield d
    print(f"\nconsole screenshots: {d}")


@pytest.fixture(scope="module")
def browser():
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


# --------------------------------------------------------------------------- the quick start


def test_quick_start_in_the_browser(console, browser, sink, dns, shots):
    acct = console.account("console-quickstart")
    ses = console.client(acct)
    r = create_user(console, acct.app_id, "ann@example.com", password=None)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["Email"] == "ann@example.com" and made["Role"] == "member" and made["AppId"] == acct.app_id
    password = made["Password"]
    assert len(password) >= 16
    assert password not in console.log()

    base = f"http://127.0.0.1:{console.api_port}/console/"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    load_ms: dict[str, float] = {}

    started = time.monotonic()
    page.goto(base)
    page.wait_for_selector("form input[name=email]")
    load_ms["sign-in (first load)"] = (time.monotonic() - started) * 1000
    page.screenshot(path=shots / "01-sign-in.png")
    page.fill("input[name=email]", "ann@example.com")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("main [data-page=domains]")
    assert "ann@example.com (member)" in page.inner_text("[data-testid=who]")

    def visit(route: str, page_id: str, shot: str):
        t = time.monotonic()
        page.evaluate("r => { location.hash = r; }", route)
        page.wait_for_selector(f"main [data-page={page_id}]")
        load_ms[route] = (time.monotonic() - t) * 1000
        page.screenshot(path=shots / shot, full_page=True)

    # A domain with a 2048-bit key; its records, published as shown, verify it.
    domain = unique_domain("console")
    page.fill("input[name=domain]", domain)
    page.select_option("select[name=dkim]", "1")
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-testid=domain-status]")
    assert "Not verified" in page.inner_text("[data-testid=domain-status]")
    rows = page.query_selector_all("tr[data-type]")
    assert len(rows) == 4, [r.inner_text() for r in rows]
    for row in rows:
        publish_one(dns, {"Type": row.get_attribute("data-type"), "SendDomain": row.get_attribute("data-host"),
                          "ExpectedValue": row.get_attribute("data-value")})
    page.screenshot(path=shots / "02-domain-records.png", full_page=True)
    page.click("button:has-text('Verify')")
    page.wait_for_selector("[data-testid=domain-status] .ok")
    assert page.inner_text("[data-testid=domain-status]").startswith("Verified")
    assert [c.inner_text() for c in page.query_selector_all("td.status")] == ["OK"] * 4
    assert call(ses, "GetEmailIdentity", {"EmailIdentity": domain})["VerifiedForSendingStatus"] is True
    page.screenshot(path=shots / "03-domain-verified.png", full_page=True)
    visit("#/domains", "domains", "04-domains.png")
    assert domain in page.inner_text("main table")

    # A sender with an alias and an SMTP password.
    visit("#/senders", "senders", "05-senders.png")
    sender = f"noreply@{domain}"
    page.fill("input[name=address]", sender)
    page.fill("input[name=alias]", "Console Test")
    page.click("form button[type=submit]")
    row = page.wait_for_selector(f"tr[data-sender='{sender}']")
    assert "Console Test" in row.inner_text()
    row.query_selector("input[type=password]").fill("Smtp-pass-1234")
    row.query_selector("button:has-text('Set password')").click()
    page.wait_for_selector(f"tr[data-sender='{sender}'] td.smtp:text-is('set')")
    assert "SMTP password of" in page.inner_text("[data-testid=flash-info]")
    senders = call(ses, "ListEmailAddress")["EmailSenders"]
    assert [(s["EmailAddress"], s["EmailSenderName"], s["SmtpPwdType"]) for s in senders] == [(sender, "Console Test", 1)]
    page.select_option(f"select[data-unsubscribe='{sender}']", "2")
    page.wait_for_selector("[data-testid=flash-info]:has-text('Unsubscribe footer')")
    footers = call_json(ses, "ListAddressUnsubscribeConfig", {"Offset": 0, "Limit": 10})["AddressUnsubscribeConfigList"]
    assert [(f["Address"], str(f["UnsubscribeConfig"]), f["Status"]) for f in footers] == [(sender, "2", 1)]
    page.screenshot(path=shots / "06-sender-added.png", full_page=True)

    # A template, previewed with sample values before it is saved.
    visit("#/templates/new", "templates", "07-template-new.png")
    page.fill("input[name=name]", "welcome")
    page.fill("textarea[name=html]", "<h1>Hello {{name}}</h1><p>Your code is <b>{{code}}</b>.</p>")
    page.fill("textarea[name=text]", "Hello {{name}}, your code is {{code}}.")
    page.fill("input[data-var=name]", "Ann <3")
    page.fill("input[data-var=code]", "4242")
    preview = page.frame_locator("[data-testid=preview-html]")
    assert preview.locator("h1").inner_text() == "Hello Ann <3"
    assert page.inner_text("[data-testid=preview-text]") == "Hello Ann <3, your code is 4242."
    page.screenshot(path=shots / "08-template-preview.png", full_page=True)
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-testid=template-status]")
    assert "approved" in page.inner_text("[data-testid=template-status]")
    template_id = int(page.evaluate("location.hash").rsplit("/", 1)[1])
    visit("#/templates", "templates", "09-templates.png")
    assert "welcome" in page.inner_text("main table")

    # A test mail to one good and one bad address; the good one arrives at the sink.
    rcpt_domain = sink_domain(dns, "console")
    good, bad = f"ok-ann@{rcpt_domain}", f"bounce-bob@{rcpt_domain}"
    visit("#/send", "send", "10-send.png")
    page.select_option("select[name=template]", str(template_id))
    page.wait_for_function("document.querySelector('textarea[name=data]').value.includes('code')")
    page.fill("input[name=to]", f"{good}, {bad}")
    page.fill("input[name=subject]", "Welcome {{name}}")
    page.fill("textarea[name=data]", json.dumps({"name": "Ann", "code": "4242"}))
    page.click("form button[type=submit]")
    message_id = page.wait_for_selector("[data-testid=message-id]").inner_text()
    assert message_id.startswith("qcloudses-30-")
    page.screenshot(path=shots / "11-sent.png", full_page=True)
    got = sink.wait_message(good)
    assert got.message["Subject"] == "Welcome Ann"
    assert got.message["List-Unsubscribe"], "the sender's unsubscribe footer applies"
    assert "4242" in got.message.get_body(("plain",)).get_content()

    # The message search finds it, delivered to one and bounced by the other.
    visit("#/messages", "messages", "12-messages.png")

    def statuses():
        page.click("form button[type=submit]")
        page.wait_for_timeout(300)
        cells = {r.get_attribute("data-recipient"): r.query_selector(".deliver-status").inner_text()
                 for r in page.query_selector_all("tr[data-recipient]")}
        return cells if cells.get(good, "").startswith("1") and cells.get(bad, "").startswith("3") else None

    wait_until(statuses, 20, 0.2, "the search to show delivered and bounced")
    page.screenshot(path=shots / "13-messages-found.png", full_page=True)

    # The statistics chart counts today's request, delivery and bounce.
    today = page.evaluate("() => document.querySelector('input[type=date]').value")

    def counted():
        visit("#/stats", "stats", "14-statistics.png")
        points = {c.get_attribute("data-date"): c.get_attribute("data-value")
                  for c in page.query_selector_all("[data-series=DeliveredCount] circle")}
        bounced = page.query_selector(f"[data-series=BounceCount] circle[data-date='{today}']")
        requests = page.query_selector(f"[data-series=RequestCount] circle[data-date='{today}']")
        return points.get(today) == "1" and bounced.get_attribute("data-value") == "1" \
            and requests.get_attribute("data-value") == "2"

    wait_until(counted, 15, 0.3, "the chart to show today's counts")
    assert len(page.query_selector_all("[data-series=RequestCount] circle")) == 7

    # The bounced address is on the black list; the page removes it.
    visit("#/blacklist", "blacklist", "15-blacklist.png")
    page.check(f"input[value='{bad}']")
    page.click("text=Remove selected")
    page.wait_for_selector("text=The black list is empty")
    assert call(ses, "ListBlackEmailAddress", {"StartDate": today, "EndDate": today, "Limit": 10,
                                               "Offset": 0}).get("BlackList") in (None, [])
    page.screenshot(path=shots / "16-blacklist-empty.png", full_page=True)

    # Legible on a phone: nothing wider than the screen but the tables' own scroll boxes.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                storage_state=context.storage_state())
    small = phone.new_page()
    for route, page_id in [("#/domains", "domains"), ("#/stats", "stats"), ("#/templates/" + str(template_id), "templates")]:
        small.goto(base + route)
        small.wait_for_selector(f"main [data-page={page_id}]")
        assert small.evaluate("document.documentElement.scrollWidth") <= 390, route
        small.screenshot(path=shots / f"phone-{page_id}.png", full_page=True)
    phone.close()

    # Signing out ends the session on the server too.
    page.click("text=Sign out")
    page.wait_for_selector("form input[name=email]")
    assert not errors, errors
    context.close()

    print("\nconsole page loads (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in load_ms.items()))
    slow = {k: v for k, v in load_ms.items() if v > 2000}
    assert not slow, f"pages slower than 2 s: {slow}"


def sign_in_page(browser, server, email: str, password: str = PASSWORD):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"http://127.0.0.1:{server.api_port}/console/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("main [data-page=domains]")
    return page, errors


def test_lists_tasks_callbacks_and_custom_black_list(console, browser, sink, dns, shots):
    acct = console.account("console-bulk")
    ses = console.client(acct)
    sender, template_id = ready_sender(console, ses, local="news")
    assert create_user(console, acct.app_id, "hal@example.com").returncode == 0
    page, errors = sign_in_page(browser, console, "hal@example.com")

    def visit(route: str, page_id: str, shot: str):
        page.evaluate("r => { location.hash = r; }", route)
        page.wait_for_selector(f"main [data-page={page_id}]")
        page.screenshot(path=shots / shot, full_page=True)

    # A recipient list from a CSV with per-recipient variables (quoted commas too) and a bad row.
    visit("#/lists", "lists", "20-lists.png")
    page.fill("input[name=name]", "newsletter")
    page.click("form button[type=submit]")
    page.wait_for_selector("input[type=file]")
    rcpt = sink_domain(dns, "bulk")
    csv_text = f'email,name,code\nok-a@{rcpt},Ann,1\n"ok-b@{rcpt}","Bob, Jr.",2\nnot-an-address,Eve,3\n'
    page.set_input_files("input[type=file]", files=[{"name": "list.csv", "mimeType": "text/csv",
                                                     "buffer": csv_text.encode()}])
    page.click("button:has-text('Upload')")
    page.wait_for_selector("[data-testid=upload-report]:has-text('Uploaded 3 rows')")
    assert "2 valid, 1 invalid" in page.inner_text("[data-testid=upload-report]")
    page.wait_for_selector("[data-testid=list-counts]:has-text('3 rows: 2 valid, 1 invalid')")
    assert "Bob, Jr." in page.inner_text(f"tr[data-email='ok-b@{rcpt}']")
    page.screenshot(path=shots / "21-list-uploaded.png", full_page=True)

    # A batch task over it, sent now; the page follows its progress until it is finished.
    visit("#/tasks", "tasks", "22-tasks.png")
    page.select_option("select[name=from]", sender)
    page.select_option("select[name=template]", str(template_id))
    page.fill("input[name=subject]", "News for {{name}}")
    page.click("form button[type=submit]")
    page.wait_for_selector("tr[data-task] td.task-status:text-is('finished')", timeout=20000)
    row = page.query_selector("tr[data-task]")
    assert row.query_selector("td.sent").inner_text() == "2", row.inner_text()
    page.screenshot(path=shots / "23-task-finished.png", full_page=True)
    bob = sink.wait_message(f"ok-b@{rcpt}")
    assert bob.message["Subject"] == "News for Bob, Jr."
    sink.wait_message(f"ok-a@{rcpt}")

    # A cyclic task waiting for its first cycle is stopped from its row.
    lists = call(ses, "ListReceivers", {"Offset": 0, "Limit": 10})["Data"]
    rid = next(x["ReceiverId"] for x in lists if x["ReceiversName"] == "newsletter")
    tomorrow = (datetime.now(API_TZ) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    cyclic = call(ses, "BatchSendEmail", {
        "FromEmailAddress": sender, "ReceiverId": rid, "Subject": "Weekly", "TaskType": 3,
        "Template": {"TemplateID": template_id, "TemplateData": "{}"},
        "CycleParam": {"BeginTime": tomorrow, "IntervalTime": 168}})["TaskId"]
    page.click(f"tr[data-task='{cyclic}'] button.stop-cycles", timeout=10000)
    page.wait_for_selector(f"tr[data-task='{cyclic}'] td.task-status:text-is('finished')", timeout=10000)
    stopped = next(t for t in call(ses, "ListSendTasks", {"Offset": 0, "Limit": 10})["Data"] if t["TaskId"] == cyclic)
    assert stopped["CycleParam"]["TermCycle"] == 1 and stopped["TaskStatus"] == 10, stopped
    assert page.query_selector(f"tr[data-task='{cyclic}'] button.stop-cycles") is None

    # An account-level callback address; its signing secret is shown once.
    visit("#/callbacks", "callbacks", "24-callbacks.png")
    page.fill("input[name=url]", "http://127.0.0.1:9/sesame-events")
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-testid=signing-secret] code")
    assert page.query_selector("tr[data-callback='(account)']") is not None
    listed = call_json(ses, "ListCallbackAddresses", {})["CallbackAddresses"]
    assert listed == [{"EmailAddress": "", "CallbackUrl": "http://127.0.0.1:9/sesame-events"}]
    page.screenshot(path=shots / "25-callback-saved.png", full_page=True)

    # The custom black list: add, see, remove.
    visit("#/custom-blacklist", "custom-blacklist", "26-custom-blacklist.png")
    page.fill("textarea[name=emails]", "blocked@example.com\nother@example.com")
    page.click("form button[type=submit]")
    page.wait_for_selector("tr[data-email='blocked@example.com']")
    page.check("input[value='blocked@example.com']")
    page.click("text=Remove selected")
    page.wait_for_selector("tr[data-email='blocked@example.com']", state="detached")
    assert [r["Email"] for r in call(ses, "ListCustomBlacklist", {"Offset": 0, "Limit": 10})["Data"]] == ["other@example.com"]
    page.screenshot(path=shots / "27-custom-blacklist.png", full_page=True)
    visit("#/abuse", "abuse", "28-abuse-reports.png")
    assert "No complaints" in page.inner_text("main")
    assert not errors, errors
    page.close()


def test_operator_reviews_templates_of_the_account_it_picks(console, browser, shots):
    home, reviewed = console.account("console-ops-home"), console.account("console-reviewed")
    console.cli("account", "update", "--app-id", str(reviewed.app_id), "--template-review", "true")
    ses = console.client(reviewed)
    tid = call(ses, "CreateEmailTemplate", {"TemplateName": "promo", "TemplateContent": {"Text": b64("Hi {{name}}")}})["TemplateID"]
    assert call(ses, "GetEmailTemplate", {"TemplateID": tid})["TemplateStatus"] == 1
    assert create_user(console, home.app_id, "olga@example.com", operator=True).returncode == 0
    page, errors = sign_in_page(browser, console, "olga@example.com")

    page.evaluate("location.hash = '#/accounts'")
    row = page.wait_for_selector(f"tr[data-account='{reviewed.app_id}']")
    assert row.query_selector("td.pending").inner_text() == "1"
    page.screenshot(path=shots / "30-accounts.png", full_page=True)
    row.query_selector("button:has-text('Act on this account')").click()
    page.wait_for_selector("main [data-page=domains]")
    assert page.eval_on_selector("[data-testid=account-picker]", "e => e.value") == str(reviewed.app_id)

    page.evaluate(f"location.hash = '#/templates/{tid}'")
    page.wait_for_selector("[data-testid=template-status]:has-text('pending review')")
    page.click("button:has-text('Reject')")
    assert "needs a reason" in page.wait_for_selector("[data-testid=flash-error]").inner_text()
    page.fill("input[name=reason]", "links to a URL shortener")
    page.click("button:has-text('Reject')")
    page.wait_for_selector("[data-testid=template-status]:has-text('rejected (links to a URL shortener)')")
    listed = call(ses, "ListEmailTemplates", {"Limit": 10, "Offset": 0})["TemplatesMetadata"]
    assert [(t["TemplateStatus"], t["ReviewReason"]) for t in listed] == [(2, "links to a URL shortener")]
    page.click("button:has-text('Approve')")
    page.wait_for_selector("[data-testid=template-status]:has-text('approved')")
    assert call(ses, "GetEmailTemplate", {"TemplateID": tid})["TemplateStatus"] == 0
    page.screenshot(path=shots / "31-template-reviewed.png", full_page=True)
    assert not errors, errors
    page.close()

    # Only a template of the account acted on, and only by an operator.
    op = Http(console.api_port)
    assert op.sign_in("olga@example.com", PASSWORD)[0] == 200  # acts on its home account
    assert op.request("POST", "/console/api/template-review", {"TemplateID": tid, "Approve": True})[0] == 404
    assert create_user(console, reviewed.app_id, "pete@example.com").returncode == 0
    member = Http(console.api_port)
    assert member.sign_in("pete@example.com", PASSWORD)[0] == 200
    assert member.request("POST", "/console/api/template-review", {"TemplateID": tid, "Approve": True})[0] == 403


def goto(page, route: str, page_id: str):
    page.evaluate("r => { location.hash = r; }", route)
    page.wait_for_selector(f"main [data-page={page_id}]")


def test_send_test_mail_with_attachments(console, browser, sink, dns, shots):
    acct = console.account("console-attach")
    ses = console.client(acct)
    sender, template_id = ready_sender(console, ses, local="files")
    assert create_user(console, acct.app_id, "ivy@example.com").returncode == 0
    page, errors = sign_in_page(browser, console, "ivy@example.com")
    rcpt = f"ok-files@{sink_domain(dns, 'attach')}"

    def form(files: list[dict]):
        goto(page, "#/send", "send")
        page.select_option("select[name=from]", sender)
        page.select_option("select[name=template]", str(template_id))
        page.wait_for_function("document.querySelector('textarea[name=data]').value.includes('code')")
        page.fill("input[name=to]", rcpt)
        page.fill("textarea[name=data]", json.dumps({"name": "Ivy", "code": "77"}))
        page.set_input_files("input[name=attachments]", files=files)
        for f in files:
            page.wait_for_selector(f"[data-testid=attachments] li[data-file='{f['name']}']")

    # Binary and text files arrive byte for byte, under the names chosen.
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    notes = "héllo, attachments\n".encode()
    form([{"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf},
          {"name": "notes.txt", "mimeType": "text/plain", "buffer": notes}])
    assert "report.pdf" in page.inner_text("[data-testid=attachments]")
    page.screenshot(path=shots / "40-send-attachments.png", full_page=True)
    page.click("form button[type=submit]")
    message_id = page.wait_for_selector("[data-testid=message-id]").inner_text()
    got = sink.wait_message(rcpt)
    assert got.message["Subject"] == "Test from Sesame"
    parts = {p.get_filename(): p.get_payload(decode=True) for p in got.message.iter_attachments()}
    assert parts == {"report.pdf": pdf, "notes.txt": notes}, list(parts)
    assert message_id in [s["MessageId"] for s in call(ses, "GetSendEmailStatus", {
        "RequestDate": datetime.now(API_TZ).strftime("%Y-%m-%d"), "Offset": 0, "Limit": 10,
        "ToEmailAddress": rcpt})["EmailStatusList"]]

    # The API's refusals of a type and of the size show as the API words them, and nothing
    # is sent.
    exe = expect_error(ses, "SendEmail", "FailedOperation.InvalidAttachName",
                       send_params(sender, rcpt, template_id, Attachments=[{"FileName": "run.exe", "Content": b64("MZ")}]))
    form([{"name": "run.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"}])
    page.click("form button[type=submit]")
    shown = page.wait_for_selector("[data-testid=flash-error]").inner_text()
    assert shown == f"{exe.message} ({exe.code})", shown
    page.screenshot(path=shots / "41-send-attachment-refused.png", full_page=True)
    big = bytes(4 * 1024 * 1024 + 1)
    too_big = expect_error(ses, "SendEmail", "FailedOperation.AttachContentToolarge",
                           send_params(sender, rcpt, template_id, Attachments=[{"FileName": "big.zip",
                                                                               "Content": b64(big)}]))
    form([{"name": "big.zip", "mimeType": "application/zip", "buffer": big}])
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-testid=flash-error]:has-text('AttachContentToolarge')")
    assert page.inner_text("[data-testid=flash-error]") == f"{too_big.message} ({too_big.code})"
    assert page.query_selector("[data-testid=message-id]") is None
    time.sleep(1)
    assert len(sink.messages_to(rcpt)) == 1, "only the first mail was sent"
    assert not errors, errors
    page.close()


def test_message_history(console, browser, sink, dns, shots):
    acct = console.account("console-history")
    ses = console.client(acct)
    sender, template_id = ready_sender(console, ses, local="hist")
    rd = sink_domain(dns, "hist")
    ok, slow, bad, listed = (f"ok-h@{rd}", f"defer-h@{rd}", f"bounce-h@{rd}", f"listed-h@{rd}")
    sink.set_defer(slow, 1)
    call(ses, "CreateCustomBlacklist", {"Emails": [listed]})
    mid = send(ses, sender, [ok, slow, bad, listed], template_id, Unsubscribe="2")
    wait_deliver_status(ses, mid, ok, 1)
    wait_deliver_status(ses, mid, bad, 3)
    wait_deliver_status(ses, mid, slow, 1)
    got = sink.wait_message(ok)
    html = got.message.get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+\.gif)"', html).group(1).replace("&amp;", "&")
    for _ in range(2):
        urllib.request.urlopen(pixel, timeout=10).read()
    unsubscribe = got.message["List-Unsubscribe"].strip("<>")
    urllib.request.urlopen(urllib.request.Request(unsubscribe, data=b"List-Unsubscribe=One-Click", method="POST"),
                           timeout=10).read()
    refused = next(s for s in call(ses, "GetSendEmailStatus", {
        "RequestDate": datetime.now(API_TZ).strftime("%Y-%m-%d"), "Offset": 0, "Limit": 10,
        "MessageId": mid})["EmailStatusList"] if s["ToEmailAddress"] == listed)["SendStatus"]
    assert refused != 0

    assert create_user(console, acct.app_id, "hugo@example.com").returncode == 0
    page, errors = sign_in_page(browser, console, "hugo@example.com")
    goto(page, "#/messages", "messages")
    page.fill("input[name=mid]", mid)
    page.click("form button[type=submit]")
    page.wait_for_selector(f"tr[data-message='{mid}'][data-recipient='{ok}']")
    page.click(f"tr[data-message='{mid}'][data-recipient='{slow}']")
    history = page.wait_for_selector("[data-testid=history] table")
    assert mid in page.inner_text("[data-testid=history] h2")

    def cell(rcpt: str, cls: str) -> str:
        return page.inner_text(f"tr[data-history='{rcpt}'] .{cls}")

    def steps(rcpt: str) -> list[str]:
        return [li.get_attribute("data-step") for li in page.query_selector_all(f"tr[data-history='{rcpt}'] li")]

    assert (cell(ok, "status"), cell(ok, "attempts")) == ("1 delivered", "1")
    assert steps(ok) == ["requested", "delivered", "opened", "unsubscribed"]
    assert "2 times" in page.inner_text(f"tr[data-history='{ok}'] li[data-step=opened]")
    assert "250" in cell(ok, "reply")
    assert (cell(slow, "status"), cell(slow, "attempts")) == ("1 delivered", "2")
    assert (cell(bad, "status"), cell(bad, "attempts")) == ("3 bounced", "1")
    assert "user unknown" in cell(bad, "reply") and steps(bad) == ["requested", "bounced"]
    assert cell(listed, "status") == f"refused ({refused})" and steps(listed) == ["requested", "refused at submit"]
    assert history.is_visible()
    page.screenshot(path=shots / "42-message-history.png", full_page=True)
    assert not errors, errors
    page.close()

    # Scoped to the account acted on: another account's member, and an operator until it
    # picks this account, get the answer of a message that does not exist.
    member = Http(console.api_port)
    assert member.sign_in("hugo@example.com", PASSWORD)[0] == 200
    status, _, body = member.request("POST", "/console/api/message-history", {"MessageId": mid})
    assert status == 200 and [d["ToEmailAddress"] for d in body["Deliveries"]] == [ok, slow, bad, listed]
    assert body["Deliveries"][0]["Opened"] == 2 and body["Deliveries"][0]["Unsubscribed"] is True
    assert member.request("POST", "/console/api/message-history", {"MessageId": mid}, csrf=False)[0] == 403
    other = console.account("console-history-other")
    assert create_user(console, other.app_id, "iris@example.com").returncode == 0
    stranger = Http(console.api_port)
    assert stranger.sign_in("iris@example.com", PASSWORD)[0] == 200
    status, _, theirs = stranger.request("POST", "/console/api/message-history", {"MessageId": mid})
    status_none, _, none = stranger.request("POST", "/console/api/message-history", {"MessageId": mid + "x"})
    assert (status, theirs["Error"]["Code"]) == (status_none, none["Error"]["Code"]) == (404, "ResourceNotFound")
    assert theirs["Error"]["Message"] == f"account {other.app_id} has no message {mid}" and "Deliveries" not in theirs
    assert create_user(console, other.app_id, "omar@example.com", operator=True).returncode == 0
    op = Http(console.api_port)
    assert op.sign_in("omar@example.com", PASSWORD)[0] == 200
    assert op.request("POST", "/console/api/message-history", {"MessageId": mid})[0] == 404
    assert op.request("POST", "/console/api/account", {"AppId": acct.app_id})[0] == 200
    assert op.request("POST", "/console/api/message-history", {"MessageId": mid})[0] == 200


def test_custom_black_list_edited_in_place(console, browser, shots):
    acct = console.account("console-cbl-edit")
    ses = console.client(acct)
    call(ses, "CreateCustomBlacklist", {"Emails": ["keep@example.com", "taken@example.com"]})
    assert create_user(console, acct.app_id, "june@example.com").returncode == 0
    page, errors = sign_in_page(browser, console, "june@example.com")
    goto(page, "#/custom-blacklist", "custom-blacklist")

    def listed() -> dict:
        rows = call(ses, "ListCustomBlacklist", {"Offset": 0, "Limit": 10})["Data"]
        return {r["Email"]: r["ExpireDate"] for r in rows}

    until = (datetime.now(API_TZ) + timedelta(days=30)).strftime("%Y-%m-%d")
    page.click("tr[data-email='keep@example.com'] button.edit")
    page.fill("input[name=edit-expire]", until)
    page.screenshot(path=shots / "43-custom-blacklist-edit.png", full_page=True)
    page.click("button.save")
    page.wait_for_selector(f"tr[data-email='keep@example.com'] td.expires:text-is('{until}')")
    assert listed() == {"keep@example.com": until, "taken@example.com": ""}

    # The address too, and back to never expiring.
    page.click("tr[data-email='keep@example.com'] button.edit")
    page.fill("input[name=edit-email]", "kept@example.com")
    page.fill("input[name=edit-expire]", "")
    page.click("button.save")
    page.wait_for_selector("tr[data-email='kept@example.com'] td.expires:text-is('never')")
    assert listed() == {"kept@example.com": "", "taken@example.com": ""}

    # The API's refusal shows as it words it; nothing changes.
    entry = next(r for r in call(ses, "ListCustomBlacklist", {"Offset": 0, "Limit": 10})["Data"]
                 if r["Email"] == "kept@example.com")
    taken = expect_error(ses, "UpdateCustomBlackList", "InvalidParameterValue",
                         {"Id": entry["Id"], "Email": "taken@example.com"})
    page.click("tr[data-email='kept@example.com'] button.edit")
    page.fill("input[name=edit-email]", "taken@example.com")
    page.click("button.save")
    assert page.wait_for_selector("[data-testid=flash-error]").inner_text() == f"{taken.message} ({taken.code})"
    assert listed() == {"kept@example.com": "", "taken@example.com": ""}
    assert not errors, errors
    page.close()

    # Another account's member cannot edit the entry by its Id; CSRF is required.
    other = console.account("console-cbl-other")
    assert create_user(console, other.app_id, "kurt@example.com").returncode == 0
    stranger = Http(console.api_port)
    assert stranger.sign_in("kurt@example.com", PASSWORD)[0] == 200
    status, body = stranger.action("UpdateCustomBlackList", {"Id": entry["Id"], "Email": "x@example.com"})
    assert status == 200 and body["Response"]["Error"]["Code"] == "ResourceNotFound", body
    member = Http(console.api_port)
    assert member.sign_in("june@example.com", PASSWORD)[0] == 200
    status, _ = member.action("UpdateCustomBlackList", {"Id": entry["Id"], "Email": "y@example.com"}, csrf=False)
    assert status == 403
    assert listed() == {"kept@example.com": "", "taken@example.com": ""}


def test_operator_sees_quotas_and_sets_the_override(console, browser, sink, dns, shots):
    home, busy = console.account("console-quota-home"), console.account("console-quota-busy")
    ses = console.client(busy)
    sender, template_id = ready_sender(console, ses, local="quota")
    rd = sink_domain(dns, "quota")
    send(ses, sender, [f"ok-q1@{rd}", f"ok-q2@{rd}"], template_id)
    assert create_user(console, home.app_id, "quinn@example.com", operator=True).returncode == 0
    page, errors = sign_in_page(browser, console, "quinn@example.com")
    goto(page, "#/accounts", "accounts")
    row = f"tr[data-account='{busy.app_id}']"
    assert page.inner_text(f"{row} td.level") == "level 1 (500 a day)"
    assert page.inner_text(f"{row} td.sent") == "2"
    assert page.get_attribute(f"{row} td.quota", "data-quota") == ""
    assert page.inner_text(f"tr[data-account='{home.app_id}'] td.level") == "no verified domain"

    # An override of 3 recipients a day: two are sent, so one more fits and then no more.
    page.fill(f"{row} input[name=quota]", "3")
    page.click(f"{row} button.set-quota")
    page.wait_for_selector(f"{row} td.quota[data-quota='3']")
    page.screenshot(path=shots / "44-accounts-quota.png", full_page=True)
    send(ses, sender, f"ok-q3@{rd}", template_id)
    assert error_code(ses, "SendEmail", send_params(sender, f"ok-q4@{rd}", template_id)) == "FailedOperation.ExceedSendLimit"
    goto(page, "#/domains", "domains")
    goto(page, "#/accounts", "accounts")
    assert page.inner_text(f"{row} td.sent") == "3"
    page.click(f"{row} button.clear-quota")
    page.wait_for_selector(f"{row} td.quota[data-quota='']")
    send(ses, sender, f"ok-q4@{rd}", template_id)
    page.fill(f"{row} input[name=quota]", "-1")
    page.click(f"{row} button.set-quota")
    assert "whole number" in page.wait_for_selector("[data-testid=flash-error]").inner_text()
    assert not errors, errors
    page.close()

    # Over plain HTTP: the refusals, and the same override the CLI sets.
    op = Http(console.api_port)
    assert op.sign_in("quinn@example.com", PASSWORD)[0] == 200
    status, _, body = op.request("POST", "/console/api/account-quota", {"AppId": busy.app_id, "DailyQuota": -5})
    assert status == 400 and body["Error"]["Code"] == "InvalidParameter"
    assert op.request("POST", "/console/api/account-quota", {"AppId": busy.app_id})[0] == 400, "DailyQuota is required"
    assert op.request("POST", "/console/api/account-quota", {"AppId": 999_999_999, "DailyQuota": 1})[0] == 404
    assert op.request("POST", "/console/api/account-quota", {"AppId": busy.app_id, "DailyQuota": 1}, csrf=False)[0] == 403
    status, _, body = op.request("POST", "/console/api/account-quota", {"AppId": busy.app_id, "DailyQuota": 50000})
    assert status == 200 and body == {"AppId": busy.app_id, "DailyQuota": 50000}
    accounts = {a["AppId"]: a for a in op.request("GET", "/console/api/accounts")[2]["Accounts"]}
    assert (accounts[busy.app_id]["DailyQuota"], accounts[busy.app_id]["SentToday"],
            accounts[busy.app_id]["MaxReputationLevel"], accounts[busy.app_id]["MaxDailyQuota"]) == (50000, 4, 1, 500)
    assert create_user(console, busy.app_id, "rita@example.com").returncode == 0
    member = Http(console.api_port)
    assert member.sign_in("rita@example.com", PASSWORD)[0] == 200
    status, _, body = member.request("POST", "/console/api/account-quota", {"AppId": busy.app_id, "DailyQuota": 10**9})
    assert status == 403 and body["Error"]["Code"] == "UnauthorizedOperation"
    assert op.request("GET", "/console/api/accounts")[2]["Accounts"] and \
        {a["AppId"]: a for a in op.request("GET", "/console/api/accounts")[2]["Accounts"]}[busy.app_id]["DailyQuota"] == 50000


def user_password(server, email: str, password: str | None = None) -> subprocess.CompletedProcess:
    args = [str(SESAME_BIN), "user", "password", "--email", email, "--config", str(server.config_path)]
    if password is not None:
        args.append("--password-stdin")
    return subprocess.run(args, input=(password + "\n") if password is not None else "",
                          capture_output=True, text=True, timeout=60, cwd=server.dir)


def test_users_change_their_password(console, browser, shots):
    acct = console.account("console-password")
    assert create_user(console, acct.app_id, "lena@example.com").returncode == 0
    other_device = Http(console.api_port)
    assert other_device.sign_in("lena@example.com", PASSWORD)[0] == 200
    page, errors = sign_in_page(browser, console, "lena@example.com")
    page.click("#who a[href='#/password']")
    page.wait_for_selector("main [data-page=password]")

    def change(current: str, new: str, again: str | None = None):
        page.fill("input[name=current]", current)
        page.fill("input[name=new]", new)
        page.fill("input[name=again]", new if again is None else again)
        page.click("form button[type=submit]")

    change("not my password", "a brand new password")
    assert page.wait_for_selector("[data-testid=flash-error]").inner_text() == \
        "the current password is wrong (AuthFailure.InvalidCredentials)"
    assert page.query_selector("main [data-page=password]"), "a wrong password does not sign out"
    change(PASSWORD, "a brand new password", "a brand new passwort")
    page.wait_for_selector("[data-testid=flash-error]:has-text('differ')")
    change(PASSWORD, "a brand new password")
    assert page.wait_for_selector("[data-testid=flash-info]").inner_text() == \
        "Password changed; 1 other session(s) signed out."
    page.screenshot(path=shots / "45-password-changed.png", full_page=True)
    # The other session ended; this one goes on; only the new password signs in.
    assert other_device.action("ListEmailIdentities")[0] == 401
    goto(page, "#/domains", "domains")
    assert Http(console.api_port).sign_in("lena@example.com", PASSWORD)[0] == 401
    fresh = Http(console.api_port)
    assert fresh.sign_in("lena@example.com", "a brand new password")[0] == 200
    assert "a brand new password" not in console.log()
    assert not errors, errors
    page.close()

    # Over plain HTTP: the CSRF token, a short password and a replay of the current one.
    def post(client: Http, body: dict, **kw):
        status, _, answer = client.request("POST", "/console/api/password", body, **kw)
        return status, answer.get("Error", {}).get("Code")

    good = {"CurrentPassword": "a brand new password", "NewPassword": "another new password"}
    assert post(fresh, good, csrf=False) == (403, "AuthFailure.CsrfTokenMismatch")
    assert post(fresh, {"CurrentPassword": "a brand new password", "NewPassword": "short"}) == (400, "InvalidParameter")
    assert post(fresh, {"CurrentPassword": "a brand new password", "NewPassword": "a brand new password"})[0] == 400
    assert post(Http(console.api_port), good) == (401, "AuthFailure.Unauthorized")
    assert fresh.sign_in("lena@example.com", "a brand new password")[0] == 200, "nothing changed"

    # An operator resets it on the command line: every session ends, the printed one works.
    r = user_password(console, "LENA@example.com")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # The browser's and the two of `fresh`.
    assert (out["Email"], out["Role"], out["AppId"], out["SessionsEnded"]) == ("lena@example.com", "member", acct.app_id, 3)
    assert fresh.action("ListEmailIdentities")[0] == 401
    assert Http(console.api_port).sign_in("lena@example.com", out["Password"])[0] == 200
    r = user_password(console, "lena@example.com", "chosen password 42")
    assert r.returncode == 0 and "Password" not in json.loads(r.stdout), r.stdout
    assert Http(console.api_port).sign_in("lena@example.com", "chosen password 42")[0] == 200
    nobody = user_password(console, "nobody@example.com")
    assert nobody.returncode != 0 and "no console user" in nobody.stderr
    short = user_password(console, "lena@example.com", "short")
    assert short.returncode != 0 and "at least" in short.stderr
    assert Http(console.api_port).sign_in("lena@example.com", "chosen password 42")[0] == 200, "unchanged"

    # Guessing the current password is throttled like sign-in.
    assert create_user(console, acct.app_id, "mona@example.com").returncode == 0
    mona = Http(console.api_port)
    assert mona.sign_in("mona@example.com", PASSWORD)[0] == 200
    for i in range(5):
        assert post(mona, {"CurrentPassword": f"guess {i}", "NewPassword": "whatever password"}) == \
            (403, "AuthFailure.InvalidCredentials")
    assert post(mona, {"CurrentPassword": PASSWORD, "NewPassword": "whatever password"}) == (429, "RequestLimitExceeded")


def test_domain_and_template_lists_page(console, browser, shots):
    acct = console.account("console-paging")
    ses = console.client(acct)
    # An account has at most 10 domains: 7 of them, 5 a page.
    domains = sorted(unique_domain(f"page{i:02d}") for i in range(7))
    for d in domains:
        call(ses, "CreateEmailIdentity", {"EmailIdentity": d})
    templates = [call(ses, "CreateEmailTemplate", {"TemplateName": f"t{i}", "TemplateContent": {"Text": b64(f"text {i}")}})
                 ["TemplateID"] for i in range(12)]
    assert create_user(console, acct.app_id, "nina@example.com").returncode == 0
    page, errors = sign_in_page(browser, console, "nina@example.com")

    def shown(selector: str, attr: str) -> list[str]:
        return [r.get_attribute(attr) for r in page.query_selector_all(selector)]

    def names() -> list[str]:
        return [r.query_selector("td").inner_text() for r in page.query_selector_all("main tbody tr")]

    # Domains, by name: 20 a page at first, then 5.
    assert names() == domains and page.inner_text("[data-testid=page-rows]") == "rows 1–7 of 7"
    assert page.is_disabled("button[name=next]") and page.is_disabled("button[name=previous]")
    page.select_option("select[name=page-size]", "5")
    page.wait_for_selector("[data-testid=page-rows]:text-is('rows 1–5 of 7')")
    assert names() == domains[:5]
    page.click("button[name=next]")
    page.wait_for_selector("[data-testid=page-rows]:text-is('rows 6–7 of 7')")
    assert names() == domains[5:] and page.is_disabled("button[name=next]")
    page.screenshot(path=shots / "46-domains-page-2.png", full_page=True)
    # A domain's page and back: still the second page.
    page.click(f"a:text-is('{domains[6]}')")
    page.wait_for_selector("[data-testid=domain-status]")
    page.click("a:text-is('← Domains')")
    page.wait_for_selector("[data-testid=page-rows]:text-is('rows 6–7 of 7')")
    page.click("button[name=previous]")
    page.wait_for_selector("[data-testid=page-rows]:text-is('rows 1–5 of 7')")

    # Templates, newest first, paged on their own.
    goto(page, "#/templates", "templates")
    assert page.inner_text("[data-testid=page-rows]") == "rows 1–12 of 12"
    page.select_option("select[name=page-size]", "10")
    page.wait_for_selector("[data-testid=page-rows]:text-is('rows 1–10 of 12')")
    assert shown("tr[data-template]", "data-template") == [str(t) for t in reversed(templates[2:])]
    page.click("button[name=next]")
    page.wait_for_selector("[data-testid=page-rows]:text-is('rows 11–12 of 12')")
    assert shown("tr[data-template]", "data-template") == [str(t) for t in reversed(templates[:2])]
    page.screenshot(path=shots / "47-templates-page-2.png", full_page=True)
    # The last one of a page deleted elsewhere: the page shows the last page there is.
    for t in templates[:2]:
        call(ses, "DeleteEmailTemplate", {"TemplateID": t})
    goto(page, "#/domains", "domains")
    goto(page, "#/templates", "templates")
    page.wait_for_selector("[data-testid=page-rows]:text-is('rows 1–10 of 10')")
    assert not errors, errors
    page.close()


# --------------------------------------------------------------------------- sign-in and sessions


def test_wrong_password_refused_then_throttled(sesame_factory, browser):
    server = sesame_factory(name="throttle")
    acct = server.account("throttle")
    assert create_user(server, acct.app_id, "bob@example.com").returncode == 0
    assert create_user(server, acct.app_id, "carol@example.com").returncode == 0

    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{server.api_port}/console/")
    page.fill("input[name=email]", "bob@example.com")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert page.wait_for_selector("[data-testid=signin-error]:has-text('wrong e-mail or password')")
    page.close()

    client = Http(server.api_port)
    for _ in range(4):
        assert client.sign_in("bob@example.com", "still wrong")[0] == 401
    status, _, body = client.sign_in("bob@example.com", PASSWORD)
    assert status == 429 and body["Error"]["Code"] == "RequestLimitExceeded", body
    # Another user from the same address is not blocked yet ...
    status, headers, body = Http(server.api_port).sign_in("carol@example.com", PASSWORD)
    assert status == 200, body
    cookie = headers["set-cookie"]
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/console"):
        assert attr in cookie, cookie
    assert "Secure" not in cookie  # the test server's public_url is http
    # ... until the address has failed 20 times, whatever the e-mails.
    for i in range(15):
        assert Http(server.api_port).sign_in(f"nobody{i}@example.com", "guess")[0] == 401
    assert Http(server.api_port).sign_in("carol@example.com", PASSWORD)[0] == 429
    assert "still wrong" not in server.log() and PASSWORD not in server.log()


def test_assets_are_embedded_and_locked_down(console):
    client = Http(console.api_port)
    conn = http.client.HTTPConnection("127.0.0.1", console.api_port, timeout=10)
    conn.request("GET", "/console")
    r = conn.getresponse()
    r.read()
    assert r.status in (301, 308) and r.getheader("Location") == "/console/"
    conn.close()
    for path, kind in [("/console/", "text/html"), ("/console/app.js", "text/javascript"), ("/console/app.css", "text/css")]:
        conn = http.client.HTTPConnection("127.0.0.1", console.api_port, timeout=10)
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode()
        conn.close()
        assert r.status == 200 and r.getheader("Content-Type").startswith(kind), (path, r.status)
        assert "script-src 'self'" in r.getheader("Content-Security-Policy")
        assert r.getheader("X-Frame-Options") == "DENY"
        # Nothing is fetched from anywhere else: no CDN, works offline.
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", body), path
        assert "@import" not in body and "fetch(\"http" not in body, path
    status, _, body = client.request("GET", "/console/api/session")
    assert status == 401 and body["Error"]["Code"] == "AuthFailure.Unauthorized"


def test_user_create_refusals(console):
    acct = console.account("console-cli")
    assert create_user(console, acct.app_id, "dave@example.com").returncode == 0
    again = create_user(console, acct.app_id, "DAVE@example.com")
    assert again.returncode != 0 and "exists" in again.stderr
    nobody = create_user(console, 999_999_999, "erin@example.com")
    assert nobody.returncode != 0 and "no account" in nobody.stderr
    short = create_user(console, acct.app_id, "erin@example.com", password="short")
    assert short.returncode != 0 and "at least" in short.stderr
    assert create_user(console, acct.app_id, "not-an-email").returncode != 0


def test_state_changes_need_the_csrf_token(console):
    acct = console.account("console-csrf")
    assert create_user(console, acct.app_id, "frank@example.com").returncode == 0
    client = Http(console.api_port)
    assert client.action("ListEmailIdentities")[0] == 401, "no session, no data"
    assert client.sign_in("frank@example.com", PASSWORD)[0] == 200

    domain = unique_domain("csrf")
    status, body = client.action("CreateEmailIdentity", {"EmailIdentity": domain}, csrf=False)
    assert status == 403 and body["Error"]["Code"] == "AuthFailure.CsrfTokenMismatch", body
    status, _ = client.action("CreateEmailIdentity", {"EmailIdentity": domain}, headers={"X-CSRF-Token": "forged"})
    assert status == 403
    status, _, _ = client.request("POST", "/console/api/CreateEmailIdentity", {"EmailIdentity": domain},
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415, "a cross-site form post is refused"
    assert client.request("POST", "/console/api/signout", csrf=False)[0] == 403
    status, body = client.action("ListEmailIdentities")
    assert status == 200 and body["Response"]["EmailIdentities"] == [], "nothing was created"

    # With the token it works, and errors are the API's own.
    status, body = client.action("CreateEmailIdentity", {"EmailIdentity": domain})
    assert status == 200 and len(body["Response"]["Attributes"]) == 4, body
    status, body = client.action("CreateEmailIdentity", {"EmailIdentity": "not a domain"})
    assert body["Response"]["Error"]["Code"] == error_code(console.client(acct), "CreateEmailIdentity",
                                                           {"EmailIdentity": "not a domain"})
    status, body = client.action("NoSuchAction")
    assert body["Response"]["Error"]["Code"] == "InvalidAction"

    # Signing out ends the session server-side: the old cookie is worthless.
    assert client.request("POST", "/console/api/signout")[0] == 200
    assert client.action("ListEmailIdentities")[0] == 401


def test_member_cannot_reach_another_account(console):
    mine, other = console.account("console-mine"), console.account("console-other")
    theirs = unique_domain("theirs")
    call(console.client(other), "CreateEmailIdentity", {"EmailIdentity": theirs})
    assert create_user(console, mine.app_id, "gina@example.com").returncode == 0
    member = Http(console.api_port)
    assert member.sign_in("gina@example.com", PASSWORD)[0] == 200

    status, body = member.action("ListEmailIdentities")
    assert body["Response"]["EmailIdentities"] == []
    status, body = member.action("GetEmailIdentity", {"EmailIdentity": theirs})
    missing = error_code(console.client(mine), "GetEmailIdentity", {"EmailIdentity": unique_domain("none")})
    assert body["Response"]["Error"]["Code"] == missing, "another account's domain looks missing"
    member.action("DeleteEmailIdentity", {"EmailIdentity": theirs})
    assert call(console.client(other), "GetEmailIdentity", {"EmailIdentity": theirs})["IdentityType"] == "DOMAIN"
    assert member.request("POST", "/console/api/account", {"AppId": other.app_id})[0] == 403
    assert member.request("GET", "/console/api/accounts")[0] == 403
    assert member.request("GET", "/console/api/session")[2]["AppId"] == mine.app_id

    # An operator sees every account and acts on the one it picks.
    assert create_user(console, mine.app_id, "ops@example.com", operator=True).returncode == 0
    op = Http(console.api_port)
    assert op.sign_in("ops@example.com", PASSWORD)[0] == 200
    ids = [a["AppId"] for a in op.request("GET", "/console/api/accounts")[2]["Accounts"]]
    assert mine.app_id in ids and other.app_id in ids
    assert op.request("POST", "/console/api/account", {"AppId": 999_999_999})[0] == 404
    assert op.request("POST", "/console/api/account", {"AppId": other.app_id}, csrf=False)[0] == 403
    status, _, body = op.request("POST", "/console/api/account", {"AppId": other.app_id})
    assert status == 200 and body["AppId"] == other.app_id
    names = [d["IdentityName"] for d in op.action("ListEmailIdentities")[1]["Response"]["EmailIdentities"]]
    assert names == [theirs]
