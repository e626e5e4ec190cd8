"""DNS failures, told apart (issue 11 item 4; reliability §6 row 27): a name that does not exist
is not retried and its advice depends on the name (a misspelling, or the API's own name while
offline); a resolver that did not answer is retried and says so. The real CLI runs in-process
through httpx; only `socket.getaddrinfo` is replaced, to answer as a resolver would."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from support.cli import run

KEY = "sk_test0123456789abcdefghijklmnopqa1b2"


def resolver(code: int, calls: list[str]) -> Callable[..., Any]:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("127.0.0.1", "localhost", "::1"):
            return real(host, *args, **kwargs)
        calls.append(str(host))
        raise socket.gaierror(code, "resolver says no")

    return getaddrinfo


def models(base_url: str, *options: str) -> Any:
    return run(
        "--base-url", base_url, "--json", *options, "models", env={"MODELSTACK_API_KEY": KEY}
    )


@pytest.mark.parametrize(
    ("host", "wanted", "unwanted"),
    [
        ("api.modelstack.cc", "offline", "spelling"),
        ("gateway.example.org", "spelling", "offline"),
    ],
)
def test_a_name_that_does_not_exist_is_not_retried_and_the_advice_fits_the_name(
    monkeypatch: pytest.MonkeyPatch, host: str, wanted: str, unwanted: str
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", resolver(socket.EAI_NONAME, calls))
    res = models(f"https://{host}/v1")
    assert res.code == 8, res.stderr
    assert calls == [host]  # one lookup: not retried
    error = res.error()
    assert error["type"] == "network.dns"
    assert "no such name" in error["message"]
    assert wanted in error["advice"] and unwanted not in error["advice"]


def test_a_resolver_that_does_not_answer_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", resolver(socket.EAI_AGAIN, calls))
    res = models("https://api.modelstack.cc/v1", "--max-retries", "2")
    assert res.code == 8, res.stderr
    assert len(calls) == 3  # the first try and two retries
    error = res.error()
    assert "did not answer" in error["message"]
    assert "did not answer" in error["advice"] and "spelling" not in error["advice"]
    assert error["details"]["attempts"] == "3"
