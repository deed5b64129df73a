"""Fixtures for the Sesame end-to-end suite.

* `dns` (session): an editable authoritative DNS zone (helpers.Zone) on 127.0.0.1:<dns.port>, UDP and TCP.
* `sesame_factory` (module): `make(config=None, start=True, name="srv")` returns a started `Sesame`;
  every server it made is stopped at the end of the module and must exit 0 within 10 s of SIGTERM.
* `server` (module): one default server per test module.
* `Sesame` methods: `account(name)`, `client(account, method, sign)`, `cli(*args)`, `log()`,
  `verify_domain(client, domain, ...)`, `stop()`, `kill()` (SIGKILL); attributes `api_port`,
  `config_path`, `dir`, `zone`.
* Sending (docs/sending.md): `sink` (module): an SMTP sink (smtp_sink.SmtpSink) on 127.0.0.1;
  `make_sending_server(config=None, name="send", start=True, **delivery)` (module): a server whose
  deliveries reach the sink (`[delivery] port = sink.port`, helo_name HELO_NAME, retry_schedule
  ["1s", "2s"], max_queue_lifetime "6s", return_path_domain RETURN_PATH_DOMAIN; `**delivery`
  overrides `[delivery]` keys); `sending_server` (module): one such server. Recipient domains come
  from helpers.sink_domain(zone); senders from helpers.ready_sender(server, client).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.ses.v20201002 import ses_client

from helpers import HELO_NAME, RETURN_PATH_DOMAIN, Zone, call, free_port, publish

REPO = Path(__file__).resolve().parents[2]
SESAME_BIN = Path(os.environ.get("SESAME_BIN", REPO / "target" / "debug" / "sesame"))
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SPF_INCLUDE = "_spf.sesame.test"
DKIM_SELECTOR = "sesame"
MX_HOST = "mx.sesame.test"


# --------------------------------------------------------------------------- TOML


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic strings
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(config: dict) -> str:
    out = []
    for section, values in config.items():
        out.append(f"[{section}]")
        for k, v in values.items():
            if v is None:
                continue
            out.append(f"{k} = {_toml_value(v)}")
        out.append("")
    return "\n".join(out)


def merge(base: dict, extra: dict | None) -> dict:
    res = {k: dict(v) for k, v in base.items()}
    for section, values in (extra or {}).items():
        res.setdefault(section, {}).update(values)
    return res


# --------------------------------------------------------------------------- storage


class Database:
    """A storage URL for one server: a temp SQLite file, or a fresh PostgreSQL database
    when SESAME_TEST_DATABASE_URL is set."""

    def __init__(self, tmpdir: Path):
        base = os.environ.get("SESAME_TEST_DATABASE_URL")
        self.admin_url = base
        self.name = None
        if not base:
            self.url = f"sqlite://{tmpdir}/sesame.db"
            return
        self.name = "sesame_test_" + uuid.uuid4().hex[:12]
        self._psql(f"CREATE DATABASE {self.name}")
        u = urllib.parse.urlsplit(base)
        self.url = urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + self.name, u.query, u.fragment))

    def _psql(self, sql: str) -> None:
        r = subprocess.run(["psql", self.admin_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"psql {sql!r} failed: {r.stderr}"

    def drop(self) -> None:
        if self.name:
            self._psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            self.name = None


# --------------------------------------------------------------------------- server


@dataclass
class Account:
    app_id: int
    secret_id: str
    secret_key: str
    raw: dict


class Sesame:
    def __init__(self, dir: Path, zone: Zone, config: dict | None = None, dns_port: int | None = None):
        self.dir = dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.zone = zone
        self.db = Database(dir)
        self.api_port = free_port()
        self.smtp_port = free_port()
        self.smtps_port = free_port()
        self.inbound_port = free_port()
        base = {
            "storage": {"url": self.db.url, "key_file": str(dir / "sesame.key")},
            "api": {"listen": f"127.0.0.1:{self.api_port}",
                    "public_url": f"http://127.0.0.1:{self.api_port}",
                    "rate_limit": 1000},
            "smtp": {"listen": f"127.0.0.1:{self.smtp_port}",
                     "tls_listen": f"127.0.0.1:{self.smtps_port}"},
            "inbound": {"listen": f"127.0.0.1:{self.inbound_port}"},
            "dns": {"nameservers": [f"127.0.0.1:{dns_port if dns_port else zone.port}"]},
            "sending": {"spf_include": SPF_INCLUDE, "dkim_selector": DKIM_SELECTOR, "mx_host": MX_HOST,
                        "mail_rate": 0},
        }
        self.config = merge(base, config)
        self.config_path = dir / "sesame.toml"
        self.config_path.write_text(to_toml(self.config))
        self.stderr_path = dir / "stderr.log"
        self.proc: subprocess.Popen | None = None
        self.clients: dict = {}
        self.started_once = False

    def _new_ports(self) -> None:
        """Picks new listen ports for the ones this harness chose (not those a test set)."""
        moved = {self.api_port: free_port(), self.smtp_port: free_port(),
                 self.smtps_port: free_port(), self.inbound_port: free_port()}
        for section in ("api", "smtp", "inbound"):
            for key, value in list(self.config.get(section, {}).items()):
                if isinstance(value, str):
                    for port, new in moved.items():
                        value = value.replace(f"127.0.0.1:{port}", f"127.0.0.1:{new}")
                    self.config[section][key] = value
        self.api_port, self.smtp_port = moved[self.api_port], moved[self.smtp_port]
        self.smtps_port, self.inbound_port = moved[self.smtps_port], moved[self.inbound_port]
        self.config_path.write_text(to_toml(self.config))

    # -- process
    def start(self) -> "Sesame":
        # A port picked free can be taken (an outgoing connection's ephemeral port) before the
        # server binds it: a first start tries again on new ports. A restart keeps its ports.
        for attempt in range(3):
            try:
                return self._start()
            except AssertionError as e:
                if self.started_once or attempt == 2 or "Address already in use" not in str(e):
                    raise
                self._new_ports()
        raise AssertionError("unreachable")

    def _start(self) -> "Sesame":
        assert SESAME_BIN.exists(), f"sesame binary not found at {SESAME_BIN} (set SESAME_BIN or cargo build)"
        self._stderr = open(self.stderr_path, "ab")
        # A restart appends to the same log: only what this run writes counts as ready.
        log_start = len(self.log())
        self.proc = subprocess.Popen([str(SESAME_BIN), "serve", "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
                                     cwd=self.dir)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if "sesame ready" in self.log()[log_start:]:
                self.started_once = True
                return self
            if self.proc.poll() is not None:
                rc, self.proc = self.proc.returncode, None
                self._stderr.close()
                raise AssertionError(f"sesame serve exited with {rc} before ready:\n"
                                     f"{self.log()[log_start:][-4000:]}")
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        raise AssertionError(f"sesame serve not ready within {READY_TIMEOUT}s:\n{self.log()[-4000:]}")

    def stop(self) -> int:
        """SIGTERM; return the exit code (kills and raises if it takes more than 10 s)."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self._stderr.close()
                raise AssertionError(f"sesame did not exit within {STOP_TIMEOUT}s of SIGTERM:\n{self.log()[-3000:]}")
        self._stderr.close()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL the server (no clean shutdown) and reap it; `start()` runs it again on the
        same storage and ports."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        self._stderr.close()

    def log(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- command line
    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        r = subprocess.run([str(SESAME_BIN), *args, "--config", str(self.config_path)],
                           capture_output=True, text=True, timeout=timeout, cwd=self.dir,
                           stdin=subprocess.DEVNULL)
        if check:
            assert r.returncode == 0, f"sesame {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r

    def account(self, name: str | None = None) -> Account:
        r = self.cli("account", "create", "--name", name or f"acct-{uuid.uuid4().hex[:8]}")
        out = r.stdout.strip()
        obj = json.loads(out)
        assert isinstance(obj, dict), out
        return Account(int(obj["AppId"]), obj["SecretId"], obj["SecretKey"], obj)

    def client(self, account: Account, method: str = "POST", sign: str = "TC3-HMAC-SHA256",
               region: str = "ap-guangzhou") -> ses_client.SesClient:
        http = HttpProfile(endpoint=f"127.0.0.1:{self.api_port}", protocol="http", reqMethod=method, reqTimeout=30)
        profile = ClientProfile(signMethod=sign, httpProfile=http)
        return ses_client.SesClient(credential.Credential(account.secret_id, account.secret_key), region, profile)

    # -- domains
    def verify_domain(self, client, domain: str, dkim_option: int | None = None, tags: list | None = None) -> dict:
        """Create `domain`, publish all its records, re-check and assert it is verified."""
        params = {"EmailIdentity": domain}
        if dkim_option is not None:
            params["DKIMOption"] = dkim_option
        if tags:
            params["TagList"] = tags
        created = call(client, "CreateEmailIdentity", params)
        publish(self.zone, created["Attributes"])
        upd = call(client, "UpdateEmailIdentity", {"EmailIdentity": domain})
        assert upd["VerifiedForSendingStatus"] is True, f"{domain} not verified after publishing: {upd}"
        return created


class Factory:
    def __init__(self, tmp_path_factory, zone: Zone):
        self.tmp = tmp_path_factory
        self.zone = zone
        self.servers: list[Sesame] = []

    def __call__(self, config: dict | None = None, start: bool = True, name: str = "srv",
                 dns_port: int | None = None) -> Sesame:
        s = Sesame(self.tmp.mktemp(name), self.zone, config, dns_port)
        self.servers.append(s)
        if start:
            s.start()
        return s

    def close(self) -> None:
        problems = []
        for s in self.servers:
            try:
                rc = s.stop()
                if rc != 0:
                    problems.append(f"{s.dir}: exit code {rc} after SIGTERM\n{s.log()[-2000:]}")
            except AssertionError as e:
                problems.append(str(e))
            finally:
                try:
                    s.db.drop()
                except AssertionError as e:
                    problems.append(str(e))
        assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def dns():
    zone = Zone()
    zone.start()
    yield zone
    zone.stop()


@pytest.fixture(scope="module")
def sesame_factory(tmp_path_factory, dns):
    f = Factory(tmp_path_factory, dns)
    yield f
    f.close()


@pytest.fixture(scope="module")
def server(sesame_factory) -> Sesame:
    return sesame_factory()


@pytest.fixture(scope="module")
def acct(server) -> Account:
    return server.account("main")


@pytest.fixture(scope="module")
def ses(server, acct):
    """A TC3/POST SDK client for `acct`."""
    return server.client(acct)


# --------------------------------------------------------------------------- sending


def sending_config(sink_port: int, **delivery) -> dict:
    """Config of a server whose deliveries go to the SMTP sink on `sink_port`."""
    d = {"port": sink_port, "helo_name": HELO_NAME, "retry_schedule": ["1s", "2s"],
         "max_queue_lifetime": "6s"}
    d.update(delivery)
    return {"delivery": d, "sending": {"return_path_domain": RETURN_PATH_DOMAIN}}


@pytest.fixture(scope="module")
def sink():
    from smtp_sink import SmtpSink  # aiosmtpd is only needed by the sending tests

    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def make_sending_server(sesame_factory, sink):
    def make(config: dict | None = None, name: str = "send", start: bool = True, **delivery) -> Sesame:
        return sesame_factory(merge(sending_config(sink.port, **delivery), config), start=start, name=name)
    return make


@pytest.fixture(scope="module")
def sending_server(make_sending_server) -> Sesame:
    return make_sending_server()
