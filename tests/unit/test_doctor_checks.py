"""The doctor's checks one by one, the runner's rules (skips, root cause, strict) and the JSON shape."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mscli.api.urls import lookalike
from mscli.context import AppContext
from mscli.doctor import base, checks, local_checks, network_checks
from mscli.doctor.base import CheckResult, DoctorState
from mscli.doctor.runner import DoctorReport, _blocked, parse_names
from mscli.errors import UsageError
from mscli.settings import GlobalOptions
from mscli.terminal import Terminal


def state_for(
    base_url: str, env: dict[str, str] | None = None, *, upto: str = "tcp"
) -> DoctorState:
    """A state with the local checks (and, up to `upto`, the network ones) already run."""
    actx = AppContext(GlobalOptions(base_url=base_url, timeout=2.0), Terminal.fake(env=env))
    st = DoctorState(actx=actx, timeout=2.0)
    st.resolve_settings()
    order = ["base_url", "proxy", "dns", "tcp"]
    for name in order[: order.index(upto) + 1]:
        result = checks.BY_NAME[name].fn(st)
        st.results[name] = result
        assert result.status != "fail", (name, result.detail)
    return st


# --- base URL rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "flagged"),
    [
        ("api.modelstack.cc", False),
        ("127.0.0.1", False),
        ("localhost", False),
        ("llm-gateway.corp.example", False),
        ("api.openai.com", False),
        ("api.modelstack.com", True),  # .com instead of .cc
        ("modelstack.cc", True),  # the website, not the API
        ("docs.modelstack.cc", True),
        ("api.modelstak.cc", True),  # typo
        ("api.modelstack.app", True),  # a look-alike product
        ("api-modelstack.cc", True),
        ("\u0430pi.modelstack.cc", True),  # Cyrillic a
        ("xn--pi-6kc.modelstack.cc", True),  # the same host in punycode
        ("api.m0delstack.cc", True),  # a digit for a letter
        ("api.rnodelstack.cc", True),  # rn for m
        ("\uff41pi.modelstack.cc", True),  # a fullwidth a
    ],
)
def test_lookalike_hosts(host: str, flagged: bool) -> None:
    assert (lookalike(host) is not None) is flagged


def test_base_url_forms() -> None:
    ok = state_for("https://api.modelstack.cc/v1", upto="base_url")
    assert ok.results["base_url"].status == "ok" and "/v1 present" in ok.results["base_url"].detail
    bare = state_for("https://api.modelstack.cc", upto="base_url")
    r = bare.results["base_url"]
    assert r.status == "warn" and "appended" in r.detail and r.exit_code == 10
    assert "https://api.modelstack.cc/v1" in r.fix


def test_base_url_doubled_v1_and_insecure_fail_with_config_code() -> None:
    for url, words in (
        ("https://api.modelstack.cc/v1/v1", "doubled"),
        ("http://example.com/v1", "nothing was sent"),
    ):
        actx = AppContext(GlobalOptions(base_url=url), Terminal.fake())
        st = DoctorState(actx=actx)
        st.resolve_settings()
        r = local_checks.check_base_url(st)
        assert r.status == "fail" and r.exit_code == 10 and words in r.detail
        assert st.url is None  # nothing downstream will connect


# --- proxy and CA variables ---------------------------------------------------------------------


def test_proxy_rules() -> None:
    st = state_for(
        "https://api.modelstack.cc/v1",
        {"https_proxy": "http://user:pw@proxy.corp:3128"},
        upto="base_url",
    )
    r = local_checks.check_proxy(st)
    assert r.status == "ok" and "proxy.corp:3128" in r.detail and "pw" not in r.detail
    assert "(HTTPS_PROXY)" in r.detail
    assert st.proxy_target == ("proxy.corp", 3128) and st.proxy_var == "HTTPS_PROXY"
    for no_proxy in ("*", "api.modelstack.cc", ".modelstack.cc", "modelstack.cc"):
        st2 = state_for(
            "https://api.modelstack.cc/v1",
            {"HTTPS_PROXY": "proxy:3128", "NO_PROXY": no_proxy},
            upto="base_url",
        )
        assert local_checks.check_proxy(st2).status == "ok"
        assert st2.proxy_target is None and st2.proxy is None, no_proxy


def test_refused_proxy_is_named_as_the_proxy_with_its_variable() -> None:
    """HTTPS_PROXY pointing at a port where nothing listens: the tcp check blames the proxy and
    its variable (not the base URL) and says how to go direct."""
    with socket.socket() as s:  # a free port, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    st = state_for(
        "https://api.modelstack.cc/v1", {"HTTPS_PROXY": f"http://127.0.0.1:{port}"}, upto="dns"
    )
    r = network_checks.check_tcp(st)
    assert r.status == "fail" and r.exit_code == 8
    assert f"the proxy 127.0.0.1:{port} (from HTTPS_PROXY) refused" in r.detail
    assert "unset HTTPS_PROXY or add api.modelstack.cc to NO_PROXY" in r.fix
    assert "base URL" not in r.fix


def test_missing_ca_bundle_fails_and_requests_bundle_warns(tmp_path: Path) -> None:
    st = state_for(
        "https://api.modelstack.cc/v1",
        {"SSL_CERT_FILE": str(tmp_path / "nope.pem")},
        upto="base_url",
    )
    r = local_checks.check_proxy(st)
    assert r.status == "fail" and r.exit_code == 10 and "SSL_CERT_FILE" in r.detail
    st2 = state_for(
        "https://api.modelstack.cc/v1", {"REQUESTS_CA_BUNDLE": "/etc/ssl/x.pem"}, upto="base_url"
    )
    r2 = local_checks.check_proxy(st2)
    assert r2.status == "warn" and 'SSL_CERT_FILE="$REQUESTS_CA_BUNDLE"' in r2.fix


# --- DNS ------------------------------------------------------------------------------------------


def test_dns_unreachable_resolver_is_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    st = state_for("https://api.modelstack.cc/v1", upto="proxy")

    def again(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", again)
    r = network_checks.check_dns(st)
    assert r.status == "fail" and r.exit_code == 8 and "DNS server could not be reached" in r.detail


def test_dns_nonexistent_name() -> None:
    st = state_for("https://does-not-exist.invalid/v1", upto="proxy")
    r = network_checks.check_dns(st)
    assert r.status == "fail" and r.exit_code == 8 and "does not exist" in r.detail


def test_dns_the_api_host_not_found_is_offline_not_a_misspelling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    st = state_for("https://api.modelstack.cc/v1", upto="proxy")

    def noname(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", noname)
    r = network_checks.check_dns(st)
    assert r.status == "fail" and "does not exist" in r.detail
    assert r.fix is not None and "offline" in r.fix and "spelling" not in r.fix


# --- TLS (a loopback TLS server with a throwaway certificate) ----------------------------------------


def _make_cert(tmp: Path, days: int) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-subj", "/CN=localhost/O=Doctor Test CA", "-days", str(days),
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = _make_cert(tmp_path, days=3)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                conn.settimeout(2)
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass
            finally:
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield int(srv.getsockname()[1]), cert
    stop.set()
    t.join(2)
    srv.close()


def test_tls_verification_failure_names_the_ca_variable(tls_server: tuple[int, Path]) -> None:
    port, _cert = tls_server
    st = state_for(f"https://localhost:{port}/v1")
    r = network_checks.check_tls(st)
    assert r.status == "fail" and r.exit_code == 8
    assert "certificate verification failed" in r.detail and "Doctor Test CA" in r.detail
    assert "SSL_CERT_FILE" in r.fix


def test_tls_trusted_but_expiring_soon_warns(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    st = state_for(f"https://localhost:{port}/v1", {"SSL_CERT_FILE": str(cert)})
    r = network_checks.check_tls(st)
    assert r.status == "warn" and "more days" in r.detail
    assert r.data["days_left"] < network_checks.CERT_WARN_DAYS


def test_tls_on_a_plain_http_port(tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        st = state_for(f"https://127.0.0.1:{srv.server_address[1]}/v1")
        st.timeout = 0.5
        r = network_checks.check_tls(st)
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.status == "fail" and r.exit_code == 8 and "plain" in r.detail
    assert f"http://127.0.0.1:{srv.server_address[1]}/v1" in r.fix


# --- the runner's rules -----------------------------------------------------------------------------


def test_parse_names() -> None:
    assert parse_names("dns, TCP,rate-limit", "--only") == ["dns", "tcp", "rate_limit"]
    assert parse_names(None, "--only") == []
    with pytest.raises(UsageError, match="unknown check"):
        parse_names("dns,nope", "--skip")


def test_a_failure_skips_its_dependents_transitively() -> None:
    results = {
        "dns": CheckResult(name="dns", status="fail"),
        "tcp": CheckResult(
            name="tcp", status="skip", detail="skipped: dns failed", blocked_by="dns"
        ),
        "tls": CheckResult(
            name="tls", status="skip", detail="plain http"
        ),  # not applicable: no block
    }
    assert _blocked(("tcp",), results).blocked_by == "dns"  # type: ignore[union-attr]
    assert _blocked(("tls",), results) is None
    assert _blocked(("dns",), results).detail == "skipped: dns failed"  # type: ignore[union-attr]


def test_every_check_has_a_known_prerequisite_order() -> None:
    seen: set[str] = set()
    for c in checks.CHECKS:
        assert all(n in seen for n in c.needs), c.name
        seen.add(c.name)


def _report(*statuses: tuple[str, str, int], strict: bool = False) -> DoctorReport:
    return DoctorReport(
        results=[CheckResult(name=n, status=s, exit_code=code) for n, s, code in statuses],  # type: ignore[arg-type]
        strict=strict,
    )


def test_root_cause_and_exit_code() -> None:
    rep = _report(("base_url", "warn", 10), ("dns", "fail", 8), ("auth", "fail", 3))
    assert rep.root_cause.name == "dns" and rep.exit_code == 8  # type: ignore[union-attr]
    only_warn = _report(("base_url", "warn", 10), ("dns", "ok", 0))
    assert only_warn.root_cause is None and only_warn.exit_code == 0 and only_warn.ok
    strict = _report(("base_url", "warn", 10), ("dns", "ok", 0), strict=True)
    assert strict.root_cause.name == "base_url" and strict.exit_code == 10  # type: ignore[union-attr]
    # with --strict a real failure still wins over an earlier warning
    mixed = _report(("base_url", "warn", 10), ("auth", "fail", 3), strict=True)
    assert mixed.root_cause.name == "auth" and mixed.exit_code == 3  # type: ignore[union-attr]


def test_json_document_keys_are_fixed() -> None:
    doc = _report(("dns", "fail", 8)).as_dict()
    assert set(doc) == {
        "schema_version", "ok", "exit_code", "root_cause", "warnings", "checks", "strict", "live",
        "mscli_version", "python_version", "base_url", "base_url_form", "profile", "duration_ms",
    }  # fmt: skip
    assert set(doc["root_cause"]) == {"check", "detail", "fix", "exit_code"}
    assert set(doc["checks"][0]) == {
        "name",
        "title",
        "status",
        "detail",
        "fix",
        "duration_ms",
        "exit_code",
    }


@pytest.mark.parametrize(
    ("key", "code"),
    [("auth.missing", 3), ("balance.empty", 4), ("rate_limit", 5), ("server", 7), ("network.dns", 8),
     ("protocol.not_api", 9), ("config.corrupt", 10)],
)  # fmt: skip
def test_exit_codes_come_from_the_advice_table(key: str, code: int) -> None:
    from mscli.advice import row_for

    r = base.fail("x", key=key)
    assert r.exit_code == code == int(row_for(key).exit_code)
    assert r.fix  # the table's fix text when the check has no better one


@pytest.mark.parametrize("extra", range(0, 12))
def test_checklist_line_keeps_its_duration_whole(extra: int) -> None:
    """Whatever the detail's length, the wrapped checklist line never splits "(12 ms)"."""
    from mscli.doctor.render import NAME_WIDTH, result_lines

    width = 60
    room = width - (NAME_WIDTH + 3)
    detail = "word " * ((room - 6) // 5) + "x" * extra  # ends near the right edge
    result = CheckResult(name="dns", status="fail", detail=detail.strip(), duration_ms=12.0)
    lines = [line.plain.rstrip() for line in result_lines(result, width)]
    assert all(len(line) <= width for line in lines)
    assert sum(line.count("(12 ms)") for line in lines) == 1
    assert not any(line.endswith("(12") for line in lines)


@pytest.mark.parametrize(
    ("options", "env", "profile_timeout", "expected"),
    [
        ({"timeout": 60.0}, {}, None, 60.0),  # --timeout given: it is the step limit
        ({}, {"MSCLI_TIMEOUT": "45"}, None, 45.0),  # so is MSCLI_TIMEOUT
        ({}, {}, 600, 15.0),  # a profile's long chat timeout is capped
        ({}, {}, None, 15.0),  # the default (600 s) too
        ({"timeout": 2.0}, {}, None, 2.0),
    ],
)
def test_step_timeout(
    options: dict[str, float],
    env: dict[str, str],
    profile_timeout: int | None,
    expected: float,
    tmp_path: Path,
) -> None:
    from mscli.doctor.runner import step_timeout

    cfg = tmp_path / "cfg"
    cfg.mkdir()
    if profile_timeout is not None:
        (cfg / "config.toml").write_text(f"[profiles.default]\ntimeout = {profile_timeout}\n")
    actx = AppContext(
        GlobalOptions(**options), Terminal.fake(env={"MSCLI_CONFIG_DIR": str(cfg), **env})
    )
    st = DoctorState(actx=actx)
    st.resolve_settings()
    assert step_timeout(st, actx) == expected


def test_the_doctors_one_retry_pause_is_the_retry_policys_and_never_longer_than_a_step() -> None:
    from mscli.api.retry import RetryPolicy

    slept: list[float] = []
    st = DoctorState(actx=AppContext(GlobalOptions(), Terminal.fake()))
    st.retry = RetryPolicy(max_retries=1, max_wait=base.STEP_TIMEOUT, sleep=slept.append)
    assert st.pause_before_retry(2.0) is True and slept == [2.0]  # the server's hint, exactly
    assert st.pause_before_retry(45.0) is False and slept == [2.0]  # past a step: no retry
    assert st.pause_before_retry(None) is True and 0 < slept[-1] <= 0.5  # backoff


def test_lookalike_wording_names_the_domain_only_when_it_differs() -> None:
    assert "(.co instead of .cc?)" in str(lookalike("api.modelstack.co"))
    assert "instead of" not in str(lookalike("api.model-stack.cc"))
