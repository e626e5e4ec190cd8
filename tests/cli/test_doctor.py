"""`mscli doctor`: the fault catalogue of issue 5. Each fault gives the right root cause and exit code.

The real CLI runs in-process through `mscli.app.main` (the error funnel), against the sandbox's
magic keys and small loopback servers. No real network; tiny timeouts; no timed assertions.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.cli import Result as CliResult
from support.cli import run as run_cli
from support.loopback import closed_port

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

SECRET = "sk_test_doctorSecretValue4242"


class Result(CliResult):
    @property
    def cause(self) -> str | None:
        rc = self.doc["root_cause"]
        return rc["check"] if rc else None

    def status(self, name: str) -> str:
        return next(c["status"] for c in self.doc["checks"] if c["name"] == name)

    def check(self, name: str) -> dict[str, Any]:
        return next(c for c in self.doc["checks"] if c["name"] == name)


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return run_cli(*args, env=env, result=Result)


def doctor(
    base_url: str,
    *args: str,
    key: str | None = SECRET,
    timeout: str = "2",
    env: dict[str, str] | None = None,
) -> Result:
    e = dict(env or {})
    if key is not None:
        e["MODELSTACK_API_KEY"] = key
    return run("--base-url", base_url, "--timeout", timeout, "doctor", *args, env=e)


def flat(text: str) -> str:
    return " ".join(text.split())


# --- small loopback servers ----------------------------------------------------------------------


@pytest.fixture(name="closed_port")
def closed_port_fixture() -> int:
    return closed_port()


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A listener that completes TCP connections (the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield int(s.getsockname()[1])
    s.close()


class _HtmlHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><html><head><title>Welcome to ModelStack</title></head><body>Hi</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def html_server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class _NoFiguresHandler(BaseHTTPRequestHandler):
    """An OpenAI-style API whose /v1/balance answers 200 without any credit figures."""

    def do_GET(self) -> None:
        if self.path.endswith("/models"):
            doc: dict[str, Any] = {"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}
        elif self.path.endswith("/balance"):
            doc = {"object": "list", "data": []}
        else:
            self.send_error(404)
            return
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_balance_without_credit_figures_is_not_reported_not_empty() -> None:
    """No credit fields is "not reported" (skip, exit 0), as `mscli balance` says, never a 402
    forecast (it used to read the missing figures as 0 and fail with exit 4)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _NoFiguresHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}/v1"
        r = doctor(base, "--json", "--only", "balance")
        bal = run("--base-url", base, "balance", "--json", env={"MODELSTACK_API_KEY": SECRET})
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.code == 0, r.stdout + r.stderr
    check = r.check("balance")
    assert check["status"] == "skip" and "no credit figures" in check["detail"]
    assert bal.code == 0 and json.loads(bal.stdout)["spendable"] is None


def _config(text: str, mode: int = 0o600) -> Path:
    d = Path(os.environ["MSCLI_CONFIG_DIR"])
    d.mkdir(parents=True, exist_ok=True)
    p = d / "config.toml"
    p.write_text(text, encoding="utf-8")
    os.chmod(p, mode)
    return p


# --- a healthy run ---------------------------------------------------------------------------------


def test_healthy_sandbox_passes_with_fixed_json_keys(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json")
    assert r.code == 0, r.stdout + r.stderr
    doc = r.doc
    for key in (
        "schema_version",
        "ok",
        "exit_code",
        "root_cause",
        "checks",
        "mscli_version",
        "warnings",
        "strict",
    ):
        assert key in doc
    assert doc["schema_version"] == 1 and doc["ok"] is True and doc["exit_code"] == 0
    assert doc["root_cause"] is None
    for c in doc["checks"]:
        assert set(c) >= {"name", "status", "detail", "fix", "duration_ms"}
        assert c["status"] in ("ok", "warn", "fail", "skip")
    names = [c["name"] for c in doc["checks"]]
    assert names[:5] == ["versions", "config", "key", "base_url", "proxy"]
    assert r.status("models") == "ok" and r.status("balance") == "ok" and r.status("auth") == "ok"
    assert r.status("live") == "skip"  # opt-in
    assert SECRET not in r.stdout + r.stderr


def test_human_checklist_and_summary(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url)
    assert r.code == 0
    assert "✓ versions" in r.stdout and "✓ models" in r.stdout and "– live" in r.stdout
    assert "All " in r.stdout and "checks passed" in r.stdout
    assert SECRET not in r.stdout + r.stderr


# --- the fault catalogue ---------------------------------------------------------------------------


def test_fault_no_key(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", key=None)
    assert (r.code, r.cause) == (3, "key")
    assert r.doc["root_cause"]["exit_code"] == 3
    assert "mscli keys set" in r.doc["root_cause"]["fix"]
    # connectivity is still checked without a key; auth is skipped because of the key
    assert r.status("http") == "ok" and r.status("api") == "ok"
    assert r.check("auth")["detail"] == "skipped: key failed"


def test_fault_malformed_key(closed_port: int) -> None:
    """On ModelStack's host the key rules are checked locally (the proxy on a closed loopback
    port keeps every request on this machine)."""
    bad = "sk-abcdefghijklmnopqrstuvwx"
    proxy = {"HTTPS_PROXY": f"http://127.0.0.1:{closed_port}"}
    r = doctor("https://api.modelstack.cc/v1", "--json", key=bad, env=proxy)
    assert (r.code, r.cause) == (3, "key")
    assert "sk_" in r.doc["root_cause"]["detail"] and "malformed" in r.doc["root_cause"]["detail"]
    assert bad not in r.stdout + r.stderr
    assert r.status("auth") == "skip"


def test_other_gateways_get_the_key_as_given(sandbox: EmbeddedSandbox) -> None:
    """Any other gateway (here a loopback one) gets a non-ModelStack key as given: the server
    decides (the sandbox refuses it: the auth check fails, not the key check)."""
    bad = "sk-abcdefghijklmnopqrstuvwx"
    r = doctor(sandbox.base_url, "--json", key=bad)
    assert (r.code, r.cause) == (3, "auth")
    assert "not ModelStack" in r.check("key")["detail"]
    assert bad not in r.stdout + r.stderr


def test_fault_pasted_whitespace_is_a_warning(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", key=f'  "{SECRET}"\n')
    assert r.code == 0 and r.status("key") == "warn"
    assert r.status("auth") == "ok"
    assert SECRET not in r.stdout + r.stderr


def test_fault_invalid_key_401(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", key="sk_test_invalid")
    assert (r.code, r.cause) == (3, "auth")
    assert "401" in r.doc["root_cause"]["detail"]
    assert "MODELSTACK_API_KEY" in r.doc["root_cause"]["fix"]
    assert r.check("models")["detail"] == "skipped: auth failed"


def test_fault_no_credits_402(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", key="sk_test_no_credits")
    assert (r.code, r.cause) == (4, "balance")
    assert "Billing" in r.doc["root_cause"]["fix"]


def test_low_credits_is_a_warning(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", key="sk_test_low_credits")
    assert r.code == 0 and r.status("balance") == "warn"
    strict = doctor(sandbox.base_url, "--json", "--strict", key="sk_test_low_credits")
    assert (strict.code, strict.cause) == (4, "balance")


def test_fault_rate_limited_429(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", key="sk_test_rate_limited")
    assert (r.code, r.cause) == (5, "rate_limit")
    assert "429" in r.doc["root_cause"]["detail"]


def test_a_one_hour_retry_after_says_when_not_retry_more(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", key="sk_test_retry_after_long")
    assert (r.code, r.cause) == (5, "rate_limit")
    fix = r.doc["root_cause"]["fix"]
    assert "wait 60 min: retry after" in fix and "UTC" in fix
    assert "--max-retries" not in fix


def test_a_flaky_server_is_a_warning_not_a_failure(sandbox: EmbeddedSandbox) -> None:
    """sk_test_flaky fails every other request: one retry fixes it for every command, so the
    doctor retries a 5xx once too and reports a flaky server as a warning (exit 0)."""
    r = doctor(sandbox.base_url, "--json", key="sk_test_flaky")
    assert r.code == 0, r.doc["root_cause"]
    assert r.status("http") == "warn" and "then HTTP 200 on a retry" in r.check("http")["detail"]
    assert r.status("models") == "ok" and r.status("balance") == "ok"
    assert doctor(sandbox.base_url, "--json", "--strict", key="sk_test_flaky").code == 7


def test_fault_server_error_500(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", key="sk_test_server_error")
    assert (r.code, r.cause) == (7, "http")
    assert "500" in r.doc["root_cause"]["detail"]


def test_fault_connection_refused(closed_port: int) -> None:
    r = doctor(f"http://127.0.0.1:{closed_port}/v1", "--json")
    assert (r.code, r.cause) == (8, "tcp")
    assert "refused" in r.doc["root_cause"]["detail"]
    assert r.check("http")["detail"] == "skipped: tcp failed"


def test_fault_host_does_not_resolve() -> None:
    r = doctor("https://api.mscli-doctor-test.invalid/v1", "--json")
    assert (r.code, r.cause) == (8, "dns")
    assert "does not resolve" in r.doc["root_cause"]["detail"]
    assert all(r.status(n) == "skip" for n in ("tcp", "tls", "http", "auth"))


def test_fault_tls_to_plain_http_port(sandbox: EmbeddedSandbox) -> None:
    port = sandbox.base_url.split(":")[2].split("/")[0]
    r = doctor(f"https://127.0.0.1:{port}/v1", "--json", timeout="1")
    assert (r.code, r.cause) == (8, "tls")
    detail = r.doc["root_cause"]["detail"]
    assert "plain" in detail and "HTTP" in detail
    assert f"http://127.0.0.1:{port}/v1" in r.doc["root_cause"]["fix"]


def test_fault_server_accepts_and_never_answers(silent_port: int) -> None:
    r = doctor(f"http://127.0.0.1:{silent_port}/v1", "--json", timeout="0.3")
    assert (r.code, r.cause) == (8, "http")
    assert r.status("tcp") == "ok"
    assert "no answer" in r.doc["root_cause"]["detail"]


def test_fault_base_url_serves_html(html_server: str) -> None:
    r = doctor(f"{html_server}/v1", "--json")
    assert (r.code, r.cause) == (9, "api")
    assert (
        "HTML" in r.doc["root_cause"]["detail"]
        and "Welcome to ModelStack" in r.doc["root_cause"]["detail"]
    )
    assert r.status("http") == "ok"


def test_html_page_at_a_url_without_v1_names_the_url_as_given(html_server: str) -> None:
    r = doctor(html_server, "--json")
    assert (r.code, r.cause) == (9, "api")
    fix = r.doc["root_cause"]["fix"]
    assert f"The base URL {html_server} has no /v1 (mscli tried {html_server}/v1)" in fix


def test_given_timeout_is_the_doctors_step_limit(silent_port: int) -> None:
    """ "Raise --timeout if it is only slow" must be advice that works: an explicit --timeout sets
    the per-step limit; the silent server's detail says the limit used."""
    r = doctor(f"http://127.0.0.1:{silent_port}/v1", "--json", timeout="1.5")
    assert (r.code, r.cause) == (8, "http")
    assert "within 1.5 s" in r.doc["root_cause"]["detail"]
    assert r.check("http")["duration_ms"] >= 1400


def test_a_doubled_v1_fix_says_how_to_change_it_where_it_is_set(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/v1/v1"
    env_run = run(
        "doctor", "--json", env={"MODELSTACK_BASE_URL": url, "MODELSTACK_API_KEY": SECRET}
    )
    assert env_run.code == 10
    fix = env_run.doc["root_cause"]["fix"]
    assert f"export MODELSTACK_BASE_URL=http://127.0.0.1:{closed_port}/v1." in fix
    assert "environment variable MODELSTACK_BASE_URL" in env_run.doc["root_cause"]["detail"]
    flag_run = doctor(url, "--json")
    assert (
        f"pass --base-url http://127.0.0.1:{closed_port}/v1." in flag_run.doc["root_cause"]["fix"]
    )


def test_fault_base_url_missing_v1(sandbox: EmbeddedSandbox) -> None:
    bare = sandbox.base_url.removesuffix("/v1")
    r = doctor(bare, "--json")
    assert r.code == 0 and r.doc["ok"] is True
    assert r.status("base_url") == "warn"
    detail = r.check("base_url")["detail"]
    assert "appended" in detail and sandbox.base_url in detail
    assert r.doc["base_url_form"] == "appended_v1"
    assert r.status("models") == "ok"  # mscli used the /v1 form, so everything works
    strict = doctor(bare, "--json", "--strict")
    assert (strict.code, strict.cause) == (10, "base_url")


def test_fault_http_to_non_loopback_host_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network I/O attempted")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    r = doctor("http://example.com/v1", "--json")
    assert (r.code, r.cause) == (10, "base_url")
    assert "nothing was sent" in r.doc["root_cause"]["detail"]
    assert all(r.status(n) == "skip" for n in ("dns", "tcp", "tls", "http", "auth"))


def test_fault_lookalike_host_is_not_contacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(AssertionError("dns"))
    )
    r = doctor("https://api.modelstack.com/v1", "--json")
    assert (r.code, r.cause) == (10, "base_url")
    assert "misspelling" in r.doc["root_cause"]["detail"]


def test_fault_corrupt_config(sandbox: EmbeddedSandbox) -> None:
    _config('[profiles.default\napi_key = "sk_broken"\n')
    r = doctor(sandbox.base_url, "--json", key=None)
    assert (r.code, r.cause) == (10, "config")
    assert "config.toml" in r.doc["root_cause"]["detail"]
    # the key may be in the broken file: the key check is skipped, not failed again
    assert r.status("key") == "skip"
    # with the key in the environment, the rest still runs against flags and environment
    r2 = doctor(sandbox.base_url, "--json")
    assert (r2.code, r2.cause) == (10, "config") and r2.status("models") == "ok"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_fault_key_in_world_readable_config(sandbox: EmbeddedSandbox) -> None:
    p = _config(f'[profiles.default]\napi_key = "{SECRET}"\n', mode=0o644)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    r = doctor(sandbox.base_url, "--json", key=None)
    assert r.code == 0 and r.status("config") == "warn"
    warning = r.doc["warnings"][0]
    assert warning["check"] == "config" and "chmod 600" in warning["fix"]
    assert r.status("auth") == "ok"  # the key still works
    strict = doctor(sandbox.base_url, "--json", "--strict", key=None)
    assert (strict.code, strict.cause) == (10, "config")
    assert SECRET not in r.stdout + r.stderr + strict.stdout


# --- options -----------------------------------------------------------------------------------------


def test_only_runs_prerequisites_and_skip_reports(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", "--only", "tcp")
    assert r.code == 0
    assert [c["name"] for c in r.doc["checks"]] == ["base_url", "proxy", "dns", "tcp"]
    s = doctor(sandbox.base_url, "--json", "--skip", "balance,models")
    assert s.status("balance") == "skip" and s.check("balance")["detail"] == "skipped (--skip)"
    assert s.status("default_model") == "ok" or s.status("default_model") == "skip"


def test_unknown_check_name_is_a_usage_error(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--only", "nope")
    assert r.code == 2
    assert "unknown check" in r.stderr


def test_live_reports_time_to_first_token(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", "--live")
    assert r.code == 0, r.stdout
    assert r.status("live") == "ok"
    assert "first token after" in r.check("live")["detail"]


def test_live_uses_the_cheapest_served_model(
    sandbox: EmbeddedSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mscli import pricing

    # a server that does not serve gemini-2.5-flash (the table's cheapest) or gemini-2.5-pro
    served = tuple(m for m in pricing.CATALOGUE if not m.id.startswith("gemini"))
    monkeypatch.setattr(pricing, "CATALOGUE", served)
    r = doctor(sandbox.base_url, "--json", "--live")
    assert r.code == 0, r.stdout
    assert r.check("live")["detail"].startswith("claude-haiku-4-5: ")
    assert "--live and balance --probe use claude-haiku-4-5" in r.check("models")["detail"]


def test_live_on_empty_balance_is_skipped_not_charged(sandbox: EmbeddedSandbox) -> None:
    r = doctor(sandbox.base_url, "--json", "--live", key="sk_test_no_credits")
    assert (r.code, r.cause) == (4, "balance")
    assert r.check("live")["detail"] == "skipped: balance failed"


def test_default_model_not_served(sandbox: EmbeddedSandbox) -> None:
    _config('[profiles.default]\ndefault_model = "claude-sonet-4-5"\n')
    r = doctor(sandbox.base_url, "--json")
    assert (r.code, r.cause) == (6, "default_model")
    assert "claude-sonnet-4-5" in r.doc["root_cause"]["detail"]


def test_bundle_is_redacted_and_private(sandbox: EmbeddedSandbox, tmp_path: Path) -> None:
    target = tmp_path / "bundle.json"
    r = doctor(sandbox.base_url, "--bundle", str(target))
    assert r.code == 0
    text = target.read_text()
    assert SECRET not in text
    doc = json.loads(text)
    assert doc["kind"] == "mscli-doctor-bundle"
    assert doc["versions"]["mscli"]
    rows = {row["name"]: row for row in doc["settings"]}
    assert rows["api_key"]["source"] == "env:MODELSTACK_API_KEY" and rows["api_key"][
        "value"
    ].endswith("4242")
    assert rows["base_url"]["source"] == "flag"
    assert doc["report"]["schema_version"] == 1
    assert any("GET" in line for line in doc["traces"])
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "base_url",
    [
        "http://bob:s3cretPW@127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1?token=s3cretPW",
        "https://api.modelstack.cc/v1?password=s3cretPW",
    ],
)
def test_credentials_in_the_base_url_never_show(base_url: str, tmp_path: Path) -> None:
    """A base URL carrying a password or token is refused (exit 10), and the secret appears in
    neither the checklist, the JSON report, the bundle nor `config show`."""
    target = tmp_path / "bundle.json"
    shown = doctor(base_url)
    as_json = doctor(base_url, "--json", "--bundle", str(target))
    config = run("--base-url", base_url, "config", "show")
    assert shown.code == as_json.code == 10
    bundle = target.read_text()
    for text in (shown.stdout, shown.stderr, as_json.stdout, as_json.stderr, bundle):
        assert "s3cretPW" not in text
    assert "s3cretPW" not in config.stdout + config.stderr
    host = "api.modelstack.cc" if "modelstack" in base_url else "127.0.0.1:9"
    for text in (shown.stdout, as_json.stdout, bundle, config.stdout):
        assert host in text  # the URL is still shown, without its secret


@pytest.mark.parametrize("skipped", ["http", "base_url", "key", "dns"])
def test_skip_also_skips_what_needs_it_instead_of_failing_it(
    sandbox: EmbeddedSandbox, skipped: str
) -> None:
    """`--skip http` must not leave `api` judging a reply that never came (it failed with exit 9);
    `--skip key` must not send no key to `auth` (exit 3); dependents are skipped, naming it."""
    r = doctor(sandbox.base_url, "--json", "--skip", skipped)
    assert r.code == 0, r.doc["root_cause"]
    assert not [c["name"] for c in r.doc["checks"] if c["status"] == "fail"]
    assert r.check(skipped)["detail"] == "skipped (--skip)"
    assert r.check("auth")["detail"] == f"skipped: needs {skipped}, skipped with --skip"


def test_list_checks() -> None:
    r = run("doctor", "--list")
    assert r.code == 0
    assert "tls" in r.stdout and "balance" in r.stdout


def test_doctor_help_imports_nothing_heavy() -> None:
    import subprocess

    code = (
        "import sys; from mscli.app import app; import mscli.commands.doctor, mscli.commands.balance; "
        "print('httpx' in sys.modules, 'pydantic' in sys.modules, 'mscli.doctor.checks' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False", "False"]


def test_a_failed_proxy_check_skips_the_network_instead_of_failing_it_again(
    closed_port: int,
) -> None:
    """A missing SSL_CERT_FILE fails `proxy` once (exit 10); DNS, TCP and TLS, which would use
    that trust store and route, are skipped, not failed a second time."""
    r = doctor(
        f"https://127.0.0.1:{closed_port}/v1", "--json", env={"SSL_CERT_FILE": "/nonexistent.pem"}
    )
    assert r.code == 10, r.stdout + r.stderr
    failed = [c["name"] for c in r.doc["checks"] if c["status"] == "fail"]
    assert failed == ["proxy"] and r.doc["root_cause"]["check"] == "proxy"
    for name in ("dns", "tcp", "tls", "http"):
        assert r.check(name)["status"] == "skip"


def test_bundle_into_a_missing_directory_is_refused_before_the_checks(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "b.json"
    r = run("--sandbox", "--json", "doctor", "--bundle", str(target))
    assert r.code == 2 and r.stdout == ""  # refused before any check ran
    assert "does not exist" in json.loads(r.stderr)["error"]["message"]
    assert not (tmp_path / "no").exists()  # no directory was created
