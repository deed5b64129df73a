"""The `sesame` command line: accounts, configuration errors, logs, signals, defaults."""

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import SESAME_BIN, Sesame
from helpers import call, expect_error, tc3_call, unique_domain


def test_account_create_output(server):
    r = server.cli("account", "create", "--name", "shape")
    out = r.stdout.strip()
    obj = json.loads(out)  # exactly one JSON value: json.loads refuses trailing data
    assert isinstance(obj, dict)
    assert set(obj) == {"AppId", "SecretId", "SecretKey"}, obj
    assert isinstance(obj["AppId"], int) and obj["AppId"] >= 1000001
    assert re.fullmatch(r"AKID[A-Za-z0-9]{32}", obj["SecretId"]), obj["SecretId"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", obj["SecretKey"]), obj["SecretKey"]


def test_account_ids_distinct_and_increasing(server):
    accts = [server.account(f"seq{i}") for i in range(3)]
    ids = [a.app_id for a in accts]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert len({a.secret_id for a in accts}) == 3
    assert len({a.secret_key for a in accts}) == 3


def test_account_without_server(sesame_factory):
    srv = sesame_factory(name="offline", start=False)
    first = srv.account("offline-first")
    assert first.app_id == 1000001  # the first account of a fresh storage
    srv.start()
    c = srv.client(first)
    call(c, "ListEmailIdentities", {})
    second = srv.account("while-running")  # and with the server running on the same storage
    assert second.app_id > first.app_id
    call(srv.client(second), "ListEmailIdentities", {})
    rc = srv.stop()
    assert rc == 0
    third = srv.account("after-stop")
    srv.start()
    call(srv.client(third), "ListEmailAddress", {})
    call(srv.client(first), "ListEmailAddress", {})


def test_account_update_daily_quota(server):
    a = server.account("quota")
    r = server.cli("account", "update", "--app-id", str(a.app_id), "--daily-quota", "1234")
    assert r.returncode == 0
    call(server.client(a), "ListEmailIdentities", {})


def test_account_update_unknown_app_id(server):
    r = server.cli("account", "update", "--app-id", "999999999", "--daily-quota", "5", check=False)
    assert r.returncode != 0


def test_account_create_needs_name(server):
    r = server.cli("account", "create", check=False)
    assert r.returncode != 0


def test_help_lists_commands():
    r = subprocess.run([str(SESAME_BIN), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    for word in ("serve", "account"):
        assert word in r.stdout


# --------------------------------------------------------------------------- bad configuration


def serve_fails(tmp_path, text: str, key: str):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    try:
        r = subprocess.run([str(SESAME_BIN), "serve", "--config", str(cfg)], capture_output=True, text=True,
                           timeout=30, cwd=tmp_path, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"sesame serve kept running with a bad config:\n{text}")
    assert r.returncode != 0, f"accepted bad config:\n{text}\n{r.stderr}"
    assert key in r.stderr + r.stdout, f"error does not name {key!r}: {r.stderr}"
    assert "sesame ready" not in r.stderr


def good_storage(tmp_path):
    return f'[storage]\nurl = "sqlite://{tmp_path}/s.db"\nkey_file = "{tmp_path}/k.key"\n'


def test_config_unknown_key(tmp_path):
    serve_fails(tmp_path, good_storage(tmp_path) + '[api]\nlisen = "127.0.0.1:1"\n', "lisen")


def test_config_unknown_section(tmp_path):
    serve_fails(tmp_path, good_storage(tmp_path) + '[apii]\nlisten = "127.0.0.1:1"\n', "apii")


def test_config_bad_listen(tmp_path):
    serve_fails(tmp_path, good_storage(tmp_path) + '[api]\nlisten = "nope"\n', "listen")


def test_config_bad_duration(tmp_path):
    serve_fails(tmp_path, good_storage(tmp_path) + '[delivery]\nretry_schedule = ["5 parsecs"]\n', "retry_schedule")


def test_config_wrong_type(tmp_path):
    serve_fails(tmp_path, good_storage(tmp_path) + '[api]\nrate_limit = "lots"\n', "rate_limit")


def test_config_not_toml(tmp_path):
    cfg = tmp_path / "garbage.toml"
    cfg.write_text("this is [not toml\n")
    r = subprocess.run([str(SESAME_BIN), "serve", "--config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0


def test_config_missing_file(tmp_path):
    r = subprocess.run([str(SESAME_BIN), "serve", "--config", str(tmp_path / "absent.toml")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0


def test_cli_rejects_bad_config_too(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(good_storage(tmp_path) + '[api]\nlisen = "x"\n')
    r = subprocess.run([str(SESAME_BIN), "account", "create", "--name", "x", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "lisen" in r.stderr


# --------------------------------------------------------------------------- logs and signals


def test_secret_key_never_logged(server):
    a = server.account("secretive")
    c = server.client(a)
    call(c, "ListEmailIdentities", {})
    expect_error(c, "GetEmailIdentity", "InvalidParameterValue.NotExistDomain", {"EmailIdentity": unique_domain()})
    for sign in ("HmacSHA1", "HmacSHA256"):
        call(server.client(a, sign=sign), "ListEmailAddress", {})
    tc3_call(server.api_port, a.secret_id, "wrong" + a.secret_key[5:], "ListEmailIdentities", {})
    time.sleep(0.3)
    log = server.log()
    assert a.secret_key not in log
    assert "sesame ready" in log


def test_sigterm_exits_zero(sesame_factory):
    srv = sesame_factory(name="sigterm")
    call(srv.client(srv.account()), "ListEmailIdentities", {})
    t0 = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - t0 < 10


def test_sigint_exits_zero(sesame_factory):
    srv = sesame_factory(name="sigint")
    proc, srv.proc = srv.proc, None
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("sesame did not exit within 10 s of SIGINT")
    finally:
        srv._stderr.close()
    assert rc == 0, srv.log()[-2000:]


def test_sesame_config_env(sesame_factory):
    srv = sesame_factory(name="envcfg", start=False)
    a = srv.account()
    env = dict(os.environ, SESAME_CONFIG=str(srv.config_path))
    proc = subprocess.Popen([str(SESAME_BIN), "serve"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=env, cwd=srv.dir, text=True)
    try:
        wait_ready(proc)
        call(srv.client(a), "ListEmailIdentities", {})
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def wait_ready(proc, timeout=30):
    """Read stderr until `sesame ready` (a thread-free bounded loop via select). Reads the raw
    descriptor: a buffered readline would hide lines that arrived together from select."""
    import select
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536).decode(errors="replace")
            seen += chunk
            if "sesame ready" in seen:
                return
            if chunk:
                continue
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {seen}")
    raise AssertionError(f"not ready in {timeout}s: {seen}")


def port_busy(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def test_serve_without_config(tmp_path):
    busy = [p for p in (8080, 2587, 2465, 2525) if port_busy(p)]
    if busy:
        pytest.skip(f"default ports busy: {busy}")
    env = {k: v for k, v in os.environ.items() if k != "SESAME_CONFIG"}
    proc = subprocess.Popen([str(SESAME_BIN), "serve"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env=env, cwd=tmp_path, text=True)
    try:
        wait_ready(proc)
        assert (tmp_path / "data").is_dir()
        assert any((tmp_path / "data").iterdir()), "no database under ./data/"
        # an account made with no config at all uses the same default storage
        r = subprocess.run([str(SESAME_BIN), "account", "create", "--name", "default"], capture_output=True,
                           text=True, timeout=30, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
        obj = json.loads(r.stdout)
        tmp = Sesame.__new__(Sesame)
        tmp.api_port = 8080
        from conftest import Account
        c = tmp.client(Account(obj["AppId"], obj["SecretId"], obj["SecretKey"], obj))
        assert call(c, "ListEmailIdentities", {})["EmailIdentities"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_domain_update_reputation_level(server):
    a = server.account("reputation")
    c = server.client(a)
    domain = unique_domain("rep")
    server.verify_domain(c, domain)
    r = server.cli("domain", "update", "--domain", domain.upper(), "--reputation-level", "5")
    assert json.loads(r.stdout)["DailyQuota"] == 10000
    listed = call(c, "ListEmailIdentities", {})["EmailIdentities"]
    row = next(i for i in listed if i["IdentityName"] == domain)
    assert (row["CurrentReputationLevel"], row["DailyQuota"]) == (5, 10000)
    bad = server.cli("domain", "update", "--domain", domain, "--reputation-level", "21", check=False)
    assert bad.returncode != 0
    missing = server.cli("domain", "update", "--domain", "nope.example.test", "--reputation-level", "2", check=False)
    assert missing.returncode != 0


def test_a_port_taken_before_the_first_start_is_replaced(sesame_factory):
    """The harness picks free ports, but another process may take one before the server binds
    it: the server then stops at start ("Address already in use"), and a first start tries again
    on new ports."""
    srv = sesame_factory(name="taken", start=False)
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        taken.bind(("127.0.0.1", srv.smtps_port))
        taken.listen()
        old = srv.smtps_port
        srv.start()
        assert srv.smtps_port != old
        assert "Address already in use" in srv.log()
        call(srv.client(srv.account()), "ListEmailIdentities", {})
    finally:
        taken.close()
