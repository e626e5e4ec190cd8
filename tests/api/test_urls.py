"""Base-URL normalisation, the loopback rule and the insecure-http refusal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mscli.api.urls import is_loopback_host, join_url, normalise_base_url
from mscli.errors import BaseUrlError, InsecureTransportError


@pytest.mark.parametrize(
    ("given", "url", "form"),
    [
        ("https://api.modelstack.cc/v1", "https://api.modelstack.cc/v1", "with_v1"),
        ("https://api.modelstack.cc/v1/", "https://api.modelstack.cc/v1", "with_v1"),
        ("https://api.modelstack.cc", "https://api.modelstack.cc/v1", "appended_v1"),
        ("https://api.modelstack.cc/", "https://api.modelstack.cc/v1", "appended_v1"),
        ("  https://API.ModelStack.cc/v1  ", "https://api.modelstack.cc/v1", "with_v1"),
        ("HTTPS://api.modelstack.cc:443/v1", "https://api.modelstack.cc/v1", "with_v1"),
        ("https://gw.example.com:8443/v1", "https://gw.example.com:8443/v1", "with_v1"),
        ("https://gw.example.com/openai/v1", "https://gw.example.com/openai/v1", "with_v1"),
        ("https://gw.example.com/proxy/api", "https://gw.example.com/proxy/api", "custom_path"),
        ("https://gw.example.com/v2/", "https://gw.example.com/v2", "custom_path"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1", "appended_v1"),
        ("http://localhost:9/v1", "http://localhost:9/v1", "with_v1"),
        ("http://[::1]:8000/v1", "http://[::1]:8000/v1", "with_v1"),
    ],
)
def test_normalise_forms(given: str, url: str, form: str) -> None:
    n = normalise_base_url(given)
    assert n.url == url
    assert n.form == form
    assert not n.url.endswith("/")


def test_fields() -> None:
    n = normalise_base_url("https://gw.example.com:8443/v1")
    assert (n.host, n.scheme, n.port) == ("gw.example.com", "https", 8443)
    assert not n.is_loopback


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "api.modelstack.cc/v1",
        "ftp://api.modelstack.cc/v1",
        "file:///etc/passwd",
        "https://",
        "https:///v1",
        "https://api.modelstack.cc:99999/v1",
        "https://api.modelstack.cc/v1?x=1",
        "https://api.modelstack.cc/v1#frag",
        "https://api.modelstack.cc/v 1",
    ],
)
def test_bad_urls(bad: str) -> None:
    with pytest.raises(BaseUrlError):
        normalise_base_url(bad)


@pytest.mark.parametrize(
    "doubled",
    [
        "https://api.modelstack.cc/v1/v1",
        "https://api.modelstack.cc/v1/v1/",
        "https://x.io/api/v1/v1",
    ],
)
def test_doubled_v1_refused(doubled: str) -> None:
    with pytest.raises(BaseUrlError, match="doubled"):
        normalise_base_url(doubled)


def test_userinfo_refused_and_password_not_echoed() -> None:
    with pytest.raises(BaseUrlError) as info:
        normalise_base_url("https://user:hunter2secret@api.modelstack.cc/v1")
    assert "hunter2secret" not in str(info.value)
    assert "hunter2secret" not in info.value.base_url
    assert not isinstance(info.value, InsecureTransportError)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.modelstack.cc/v1",
        "http://10.0.0.5:8080/v1",
        "http://localhost.evil.com/v1",
        "http://[::2]/v1",
    ],
)
def test_http_non_loopback_refused(url: str) -> None:
    with pytest.raises(InsecureTransportError) as info:
        normalise_base_url(url)
    assert info.value.advice_key == "config.insecure_http"


def test_http_non_loopback_allowed_when_asked() -> None:
    n = normalise_base_url("http://gw.internal:8080", allow_insecure_http=True)
    assert n.url == "http://gw.internal:8080/v1"
    assert n.scheme == "http"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("localhost.", True),
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost.evil.com", False),
        ("evil-localhost", False),
        ("foo.localhost", False),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("::2", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected


def test_join_url() -> None:
    assert join_url("https://x/v1", "/models") == "https://x/v1/models"
    assert join_url("https://x/v1/", "models") == "https://x/v1/models"


def test_urls_module_imports_no_httpx_or_pydantic() -> None:
    code = (
        "import sys, mscli.api, mscli.api.urls, mscli.redact\n"
        "bad = [m for m in ('httpx', 'pydantic', 'httpcore') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
