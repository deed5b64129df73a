#!/usr/bin/env python3
"""Console page loads with a big store (issue 7, item 4): seeds N delivered messages (one
recipient each, default 100 000, today) straight into a fresh server's SQLite store, then times
every console page in Debian's Chromium (Playwright), best and worst of 3, the message
search by recipient, by MessageId and unfiltered, a message's history (a row clicked), and an
operator's Accounts page. A measurement, not a test; results in
docs/console.md. Uses the debug binary of the e2e suite (SESAME_BIN to change), the dnslib
zone of tests/e2e, and only 127.0.0.1. Run with the repository's .venv python:

  .venv/bin/python bench/console.py [N]
"""
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from helpers import Zone, call, unique_domain
import conftest
from test_console import CHROMIUM, CHROMIUM_ARGS, create_user, PASSWORD

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
zone = Zone()
zone.start()
tmp = Path(tempfile.mkdtemp(prefix="sesame-console-bench."))
srv = conftest.Sesame(tmp, zone).start()
try:
    acct = srv.account("bench")
    ses = srv.client(acct)
    domain = unique_domain("bench")
    srv.verify_domain(ses, domain)
    call(ses, "CreateEmailAddress", {"EmailAddress": f"noreply@{domain}"})
    assert create_user(srv, acct.app_id, "bench@example.com").returncode == 0
    assert create_user(srv, acct.app_id, "ops@example.com", operator=True).returncode == 0
    db = sqlite3.connect(srv.db.url.removeprefix("sqlite://"), timeout=30)
    dom_id = db.execute("SELECT id FROM domains WHERE name = ?", (domain,)).fetchone()[0]
    now = int(time.time())
    day_start = now - (now + 8 * 3600) % 86400
    t = time.monotonic()
    with db:
        for i in range(N):
            created = day_start + random.randint(0, max(1, now - day_start))
            mid = f"qcloudses-30-{acct.app_id}-date-20261126000000-{uuid.uuid4().hex}"
            cur = db.execute("INSERT INTO messages (account_id, message_id, header_message_id, from_address, domain_id, subject, trigger_type, body, created_at, stat_day) VALUES (?,?,?,?,?,?,1,?,?,?)",
                             (acct.app_id, mid, mid + "@x", f"noreply@{domain}", dom_id, "hello", b"x", created, day_start))
            db.execute("INSERT INTO deliveries (message_row, account_id, domain_id, recipient, recipient_domain, deliver_status, deliver_message, created_at, updated_at) VALUES (?,?,?,?,?,1,'250 ok',?,?)",
                       (cur.lastrowid, acct.app_id, dom_id, f"user{i}@rcpt{i % 50}.test", f"rcpt{i % 50}.test", created, created))
    print(f"seeded {N} messages in {time.monotonic() - t:.1f}s")
    last_mid = mid
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = b.new_page()
        t = time.monotonic()
        page.goto(f"http://127.0.0.1:{srv.api_port}/console/")
        page.wait_for_selector("input[name=email]")
        print(f"first load (sign-in form): {(time.monotonic() - t) * 1000:.0f} ms")
        # The first load includes the browser's own start of a page; a reload is the page's.
        loads = []
        for _ in range(3):
            t = time.monotonic()
            page.reload()
            page.wait_for_selector("input[name=email]")
            loads.append((time.monotonic() - t) * 1000)
        print(f"reload (sign-in form): {min(loads):.0f} / {max(loads):.0f} ms (best / worst of 3)")
        page.fill("input[name=email]", "bench@example.com"); page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]"); page.wait_for_selector("main [data-page=domains]")
        for route, pid in [("#/domains", "domains"), ("#/senders", "senders"), ("#/templates", "templates"), ("#/send", "send"),
                           ("#/stats", "stats"), ("#/messages", "messages"), ("#/blacklist", "blacklist"), ("#/lists", "lists"),
                           ("#/tasks", "tasks"), ("#/callbacks", "callbacks"), ("#/custom-blacklist", "custom-blacklist"),
                           ("#/abuse", "abuse"), ("#/password", "password")]:
            times = []
            for _ in range(3):
                page.evaluate("location.hash = '#/none'")
                t = time.monotonic()
                page.evaluate("r => { location.hash = r; }", route)
                page.wait_for_selector(f"main [data-page={pid}]")
                times.append((time.monotonic() - t) * 1000)
            print(f"{route}: {min(times):.0f} / {max(times):.0f} ms (best / worst of 3)")
        # Message searches over the 100 000.
        page.evaluate("location.hash = '#/messages'"); page.wait_for_selector("main [data-page=messages]")
        last_rcpt = f"user{N - 1}@rcpt{(N - 1) % 50}.test"
        for label, to, mid in [("recipient", last_rcpt, ""), ("MessageId", "", last_mid), ("no filter", "", "")]:
            times = []
            for _ in range(3):
                page.fill("input[name=to]", to); page.fill("input[name=mid]", mid)
                page.evaluate("document.querySelectorAll('main tr[data-message]').forEach(r => r.remove())")
                t = time.monotonic()
                with page.expect_response(lambda r: "GetSendEmailStatus" in r.url):
                    page.click("form button[type=submit]")
                page.wait_for_selector("main tr[data-message]")
                times.append((time.monotonic() - t) * 1000)
            print(f"message search by {label}: {min(times):.0f} / {max(times):.0f} ms (best / worst of 3)")
        # A message's history: its row clicked (the search by MessageId shows it first).
        page.fill("input[name=to]", ""); page.fill("input[name=mid]", last_mid)
        page.click("form button[type=submit]")
        page.wait_for_selector(f"main tr[data-message='{last_mid}']")
        times = []
        for _ in range(3):
            page.evaluate("document.querySelector('[data-testid=history]').replaceChildren()")
            t = time.monotonic()
            page.click(f"main tr[data-message='{last_mid}']")
            page.wait_for_selector(f"[data-testid=history] tr[data-history='{last_rcpt}']")
            times.append((time.monotonic() - t) * 1000)
        print(f"message history: {min(times):.0f} / {max(times):.0f} ms (best / worst of 3)")
        # An operator's Accounts page.
        ops = b.new_page()
        ops.goto(f"http://127.0.0.1:{srv.api_port}/console/")
        ops.fill("input[name=email]", "ops@example.com"); ops.fill("input[name=password]", PASSWORD)
        ops.click("button[type=submit]"); ops.wait_for_selector("main [data-page=domains]")
        times = []
        for _ in range(3):
            ops.evaluate("location.hash = '#/none'")
            t = time.monotonic()
            ops.evaluate("location.hash = '#/accounts'")
            ops.wait_for_selector("main [data-page=accounts]")
            times.append((time.monotonic() - t) * 1000)
        print(f"#/accounts (operator): {min(times):.0f} / {max(times):.0f} ms (best / worst of 3)")
        b.close()
finally:
    srv.stop()
    zone.stop()
    shutil.rmtree(tmp, ignore_errors=True)
