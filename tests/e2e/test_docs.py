"""The user guide runs: docs/quickstart.md executed block by block, and docs/errors.md checked
against the error codes in the Rust sources.

## How docs/quickstart.md is run

Every fenced block of the page must carry `quickstart` in its info string (the test fails on
one that does not, so nothing on the page can go unrun). In document order:

- ```` ```toml quickstart ````: the config the reader saves as `sesame.toml`. The test parses it
  and writes it into the server's directory as `sesame.toml`, after replacing what must differ
  in a test (see *Substitutions*).
- ```` ```sh quickstart ````: run by bash in the server's directory, each command as written.
  `sesame serve --config sesame.toml &` is the one exception: it starts the fixture's server,
  which runs exactly `sesame serve --config <dir>/sesame.toml` in that directory and waits for
  `sesame ready` (the fixture stops it with SIGTERM at the end and checks it exits 0).
- ```` ```python quickstart ````: executed in one shared namespace, as the page says (one script).
- `<!-- quickstart: publish -->`: the step the reader does by hand at their DNS provider. The
  test publishes every record of `identity.Attributes` (the CreateEmailIdentity answer of the
  page's code) into the test's DNS zone.

## Substitutions (what the test changes, and why)

- `sesame` on PATH is the binary under test (SESAME_BIN, the debug build), not
  `target/release/sesame`.
- `dig` on PATH is a wrapper running the real `dig` against the test's DNS server
  (`@127.0.0.1 -p <port>`), which stands in for the reader's DNS provider.
- In `sesame.toml`: the listen addresses (free ports), `[storage]` (a temporary SQLite file or
  PostgreSQL database), `[dns] nameservers` (the test's DNS server) and `[delivery]` (port and
  retries of the test SMTP sink, which plays every recipient's MX) come from the fixtures.
  The `[sending]` names of the page (`_spf.sesame.example.com`, `mx.sesame.example.com`,
  `bounces.sesame.example.com`) are kept: the test's zone serves whatever the page publishes.
- `SESAME_ENDPOINT` is set to the server's API address (the page's code reads it, defaulting to
  127.0.0.1:8080).
- The recipient domain of the page (`example.net`) gets an MX record pointing at the sink.

At the end the mail must be at the sink, from the page's sender, with a DKIM signature of the
page's domain that verifies against the published key, and GetSendEmailStatus must have said
delivered.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, SESAME_BIN, merge, sending_config, to_toml
from helpers import SINK_HOST, dkim_signatures, publish

DOCS = REPO / "docs"
QUICKSTART = DOCS / "quickstart.md"
PUBLISH_MARKER = "<!-- quickstart: publish -->"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
SERVE_COMMAND = "sesame serve --config sesame.toml &"

# The names the page uses (asserted below, so a change of the page shows here).
DOMAIN = "mail.example.com"
SENDER = "noreply@mail.example.com"
RECIPIENT = "you@example.net"


def steps(text: str) -> list[tuple[str, str]]:
    """The page's runnable steps in order: ("toml"|"sh"|"python", code) or ("publish", "")."""
    out = []
    pos = 0
    for m in FENCE.finditer(text):
        out += [("publish", "")] * text.count(PUBLISH_MARKER, pos, m.start())
        pos = m.end()
        words = m.group(1).split()
        assert "quickstart" in words, (
            f"a code block of {QUICKSTART.name} is not marked `quickstart`, so no test would run it:\n"
            f"```{m.group(1)}\n{m.group(2)}```")
        lang = words[0]
        assert lang in ("toml", "sh", "python"), f"no runner for ```{m.group(1)}"
        out.append((lang, m.group(2)))
    out += [("publish", "")] * text.count(PUBLISH_MARKER, pos)
    return out


def test_every_block_is_runnable():
    kinds = [k for k, _ in steps(QUICKSTART.read_text())]
    assert kinds.count("toml") == 1 and kinds.count("publish") == 1, kinds
    assert kinds.index("toml") < kinds.index("publish")


def fixture_overrides(server, sink_port: int) -> dict:
    """The keys a test run must own (see the module docstring)."""
    c = server.config
    over = {
        "storage": c["storage"],
        "api": {"listen": c["api"]["listen"], "rate_limit": c["api"]["rate_limit"]},
        "smtp": {"listen": c["smtp"]["listen"], "tls_listen": c["smtp"]["tls_listen"]},
        "inbound": c["inbound"],
        "dns": c["dns"],
    }
    delivery = sending_config(sink_port)["delivery"]
    delivery.pop("helo_name")  # the page's helo_name stays
    over["delivery"] = delivery
    return over


@pytest.fixture
def tools(tmp_path, dns):
    """A PATH directory with `sesame` (the binary under test) and a `dig` aimed at the zone."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sesame").symlink_to(SESAME_BIN.resolve())
    real_dig = subprocess.run(["bash", "-c", "command -v dig"], capture_output=True, text=True).stdout.strip()
    assert real_dig, "dig is needed (Debian: bind9-dnsutils)"
    dig = bin_dir / "dig"
    dig.write_text(f'#!/bin/sh\nexec {shlex.quote(real_dig)} @127.0.0.1 -p {dns.port} "$@"\n')
    dig.chmod(0o755)
    return bin_dir


def test_quickstart(sesame_factory, sink, dns, tools, monkeypatch):
    text = QUICKSTART.read_text()
    for name in (DOMAIN, SENDER, RECIPIENT, SERVE_COMMAND):
        assert name in text, f"{QUICKSTART.name} no longer says {name!r}: update test_docs.py"
    server = sesame_factory(name="quickstart", start=False)
    workdir = server.dir
    assert server.config_path == workdir / "sesame.toml"
    env = dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    env.pop("SESAME_CONFIG", None)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("SESAME_ENDPOINT", f"127.0.0.1:{server.api_port}")
    recipient_domain = RECIPIENT.split("@")[1]
    if not any(r[0] == "A" for r in dns.get(SINK_HOST)):
        dns.add_a(SINK_HOST, "127.0.0.1")
    dns.add_mx(recipient_domain, SINK_HOST)
    namespace: dict = {"__name__": "quickstart"}
    outputs = []
    try:
        for kind, code in steps(text):
            if kind == "toml":
                config = merge(tomllib.loads(code), fixture_overrides(server, sink.port))
                server.config = config
                server.config_path.write_text(to_toml(config))
            elif kind == "publish":
                identity = namespace.get("identity")
                assert identity is not None, "the page's code before the publish step names no `identity`"
                publish(dns, [{"Type": a.Type, "SendDomain": a.SendDomain, "ExpectedValue": a.ExpectedValue}
                              for a in identity.Attributes])
            elif kind == "sh":
                if code.strip() == SERVE_COMMAND:
                    server.start()
                    continue
                assert SERVE_COMMAND not in code, "keep the serve command in a block of its own"
                r = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=workdir, env=env,
                                   capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
                assert r.returncode == 0, f"block failed ({r.returncode}):\n{code}\n{r.stdout}\n{r.stderr}"
                outputs.append(r.stdout)
            else:
                exec(compile(code, f"{QUICKSTART.name} block", "exec"), namespace)

        # What the reader was told to expect.
        assert (workdir / "account.json").exists()
        digs = outputs[-1]
        assert "v=spf1 include:_spf.sesame.example.com ~all" in digs, digs
        assert "v=DKIM1; k=rsa; p=" in digs and "v=DMARC1; p=none" in digs, digs
        assert "mx.sesame.example.com." in digs, digs
        assert namespace["checked"].VerifiedForSendingStatus is True
        row = namespace["row"]
        assert row.DeliverStatus == 1, f"not delivered: {row.DeliverStatus} {row.DeliverMessage}"
        assert row.SendStatus == 0

        got = sink.wait_for(lambda ms: next((m for m in ms if RECIPIENT in [r.lower() for r in m.rcpt_tos]), None),
                            timeout=20, what=f"the quickstart mail to {RECIPIENT}")
        msg = got.message
        assert SENDER in msg["From"], msg["From"]
        assert msg["Subject"] == "Welcome, Ann"
        assert "Hello Ann, welcome aboard." in got.data.decode("utf-8", "replace")
        sigs = dkim_signatures(got.data, dns)
        assert any(s["d"] == DOMAIN and s["s"] == "sesame" and s["ok"] for s in sigs), sigs
    finally:
        for name in (DOMAIN, recipient_domain, "sesame.example.com"):
            dns.remove_domain(name)


# --------------------------------------------------------------------------- docs/errors.md

ERRORS = DOCS / "errors.md"
CRATES = REPO / "crates"
# The top-level codes of TencentCloud API 3.0; an SES code is one of these or `Family.Sub`.
FAMILIES = ("AuthFailure", "FailedOperation", "InternalError", "InvalidAction", "InvalidParameter",
            "InvalidParameterValue", "LimitExceeded", "MissingParameter", "NoSuchVersion",
            "OperationDenied", "RequestLimitExceeded", "RequestSizeLimitExceeded", "ResourceInsufficient",
            "ResourceNotFound", "ResourceUnavailable", "ServiceUnavailable", "UnauthorizedOperation",
            "UnknownParameter", "UnsupportedOperation", "UnsupportedProtocol", "UnsupportedRegion")
CODE_LITERAL = re.compile(r'"((?:%s)(?:\.[A-Za-z0-9]+)?)"' % "|".join(FAMILIES))
# Any other "Word.Word" literal would be a code of a family this test does not know yet.
DOTTED_LITERAL = re.compile(r'"([A-Z][A-Za-z]+\.[A-Z][A-Za-z0-9]+)"')
SMTP_REPLY_LITERAL = re.compile(r'"([2-5]\d\d)(?:[ -](\d\.\d{1,3}\.\d{1,3}))?')


def production_sources(root: Path):
    """(path, text) of every .rs file under `root` outside tests: `tests/` directories and
    `tests.rs` files are skipped, and a file's text stops at its `#[cfg(test)]`."""
    for path in sorted(root.rglob("*.rs")):
        rel = path.relative_to(REPO)
        if "tests" in rel.parts or path.name == "tests.rs" or "fuzz" in rel.parts or "target" in rel.parts:
            continue
        text = path.read_text()
        yield rel, text.split("#[cfg(test)]", 1)[0]


def emitted_codes() -> dict[str, set[str]]:
    codes: dict[str, set[str]] = {}
    for rel, text in production_sources(CRATES):
        for m in CODE_LITERAL.finditer(text):
            codes.setdefault(m.group(1), set()).add(str(rel))
    return codes


def test_error_codes_found_in_the_sources():
    """The scan itself works: the codes every path of the API relies on are found."""
    codes = emitted_codes()
    for code in ("AuthFailure.SignatureFailure", "FailedOperation.NotAuthenticatedSender",
                 "InvalidParameterValue.NotExistDomain", "RequestLimitExceeded.SmtpRateLimit",
                 "OperationDenied.ReceiverNotExist", "MissingParameter"):
        assert code in codes, f"{code} not found in crates/: is the scan broken?"


def test_errors_page_covers_every_api_code():
    doc = ERRORS.read_text()
    missing = {c: sorted(where) for c, where in emitted_codes().items() if f"`{c}`" not in doc}
    assert not missing, "docs/errors.md lacks these codes (code → files):\n" + "\n".join(
        f"  {c}: {', '.join(w)}" for c, w in sorted(missing.items()))


def test_no_code_of_an_unknown_family():
    strays = {}
    for rel, text in production_sources(CRATES):
        for m in DOTTED_LITERAL.finditer(text):
            if m.group(1).split(".")[0] not in FAMILIES:
                strays.setdefault(m.group(1), set()).add(str(rel))
    assert not strays, f"add the family to FAMILIES and the codes to docs/errors.md: {strays}"


def test_errors_page_covers_every_smtp_reply():
    doc = ERRORS.read_text()
    missing = set()
    for rel, text in production_sources(CRATES / "sesame-smtp"):
        for m in SMTP_REPLY_LITERAL.finditer(text):
            code, enhanced = m.group(1), m.group(2)
            want = f"{code} {enhanced}" if enhanced else f"`{code}"
            if want not in doc:
                missing.add((want, str(rel)))
    assert not missing, f"docs/errors.md lacks these SMTP replies: {sorted(missing)}"


def test_errors_page_covers_every_status():
    doc = ERRORS.read_text()
    send_section = doc.split("## GetSendEmailStatus: SendStatus", 1)[1].split("\n## ", 1)[0]
    deliver_section = doc.split("## GetSendEmailStatus: DeliverStatus", 1)[1].split("\n## ", 1)[0]
    submit = (CRATES / "sesame-engine" / "src" / "submit.rs").read_text()
    send = re.findall(r"pub const SEND_STATUS_\w+: i64 = (\d+);", submit)
    assert len(send) >= 3, send
    for n in ["0", *send]:
        assert f"\n| {n} |" in send_section, f"SendStatus {n} missing from docs/errors.md"
    queue = (CRATES / "sesame-store" / "src" / "queue.rs").read_text()
    module = queue.split("pub mod deliver_status", 1)[1].split("}", 1)[0]
    deliver = re.findall(r"pub const \w+: i64 = (\d+);", module)
    assert len(deliver) >= 5, deliver
    for n in deliver:
        assert f"\n| {n} |" in deliver_section, f"DeliverStatus {n} missing from docs/errors.md"


# --------------------------------------------------------------------------- help in the binary

# The commands of crates/sesame/src/cli.rs whose help gives an example (a command added later
# belongs here too).
HELP_COMMANDS = [[], ["serve"], ["account"], ["account", "create"], ["account", "update"], ["domain"],
                 ["domain", "update"], ["bounce"], ["bounce", "parse"], ["template"],
                 ["template", "approve"], ["template", "reject"], ["ip"], ["ip", "add"], ["ip", "remove"],
                 ["ip", "list"], ["backup"], ["restore"], ["task"], ["task", "stop"], ["user"], ["user", "create"],
                 ["user", "password"]]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "sesame")
def test_help_says_what_and_gives_an_example(command):
    r = subprocess.run([str(SESAME_BIN), *command, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and len(lines[0].split()) >= 4, f"no sentence of what it does:\n{r.stdout}"
    assert re.search(r"^Examples?:\n  sesame ", r.stdout, re.M), f"no example:\n{r.stdout}"
    for example in re.findall(r"^  (sesame .*)$", r.stdout, re.M):
        assert example.split()[1:1 + len(command)] == command or not command, example


def test_config_error_points_to_the_docs(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[api]\nlisten = 5\n')
    r = subprocess.run([str(SESAME_BIN), "account", "create", "--name", "x", "--config", str(bad)],
                       capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "api.listen" in last and last.endswith("see docs/configuration.md"), r.stderr
    assert (REPO / "docs" / "configuration.md").exists()


# --------------------------------------------------------------------------- links of the guide

GUIDE_PAGES = ["README.md", "quickstart.md", "dns.md", "errors.md", "limits.md", "deliverability.md",
               "migrating.md", "operations.md", "operations-ips.md", "configuration.md"]
# Pages the index links that other work adds.
NOT_YET: set[str] = set()
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", path.read_text(), re.M)}


@pytest.mark.parametrize("page", GUIDE_PAGES)
def test_guide_links_resolve(page):
    path = DOCS / page
    broken = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, fragment = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if file in NOT_YET and not dest.exists():
            continue
        if not dest.exists():
            broken.append(target)
        elif fragment and fragment not in anchors(dest):
            broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


def test_index_links_every_page():
    index = (DOCS / "README.md").read_text()
    # operations-*.md pages hang off operations.md.
    pages = {p.name for p in DOCS.glob("*.md") if not p.name.startswith("operations-")} - {"README.md"}
    missing = sorted(p for p in pages | NOT_YET if f"]({p})" not in index)
    assert not missing, f"docs/README.md does not link {missing}"
