"""GatewayClient against pytest-httpx: retries, hints, redirects, transport, mapping, redaction."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock, IteratorStream

import mscli
from mscli.api import client as client_module
from mscli.api.client import ClientConfig, GatewayClient
from mscli.api.models import ChatRequest
from mscli.api.retry import RetryNotice
from mscli.api.transport import map_transport_error
from mscli.errors import (
    ApiError,
    InsecureTransportError,
    KeyFormatError,
    NetworkError,
    NotApiError,
    ProtocolError,
    RateLimitWaitTooLongError,
    RedirectError,
    ResponseTooLargeError,
)

BASE = "https://api.test.example/v1"
MODELS = f"{BASE}/models"
CHAT = f"{BASE}/chat/completions"
BALANCE = f"{BASE}/balance"
KEY = "sk_test0123456789abcdefghijklmnopqa1b2"
NOW = 1696004797.0


@dataclass
class Harness:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)
    notices: list[RetryNotice] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def client(self, **overrides: Any) -> GatewayClient:
        cfg: dict[str, Any] = {"base_url": BASE, "api_key": KEY}
        cfg.update(overrides)
        return GatewayClient(
            ClientConfig(**cfg),
            sleep=self.sleep,
            clock=self.clock,
            rand=lambda: 1.0,
            wall_clock=lambda: NOW,
            on_retry=self.notices.append,
            trace=self.trace.append,
        )


@pytest.fixture()
def h() -> Harness:
    return Harness()


def models_json(*ids: str) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": i, "object": "model", "owned_by": "x"} for i in ids]}


def completion(
    content: Any = "Hello!", finish: str | None = "stop", **extra: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "claude-sonnet-4-5",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 15, "total_tokens": 25},
        **extra,
    }


REQ = ChatRequest(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])


# --- basics ----------------------------------------------------------------------------------------


def test_list_models_and_request_headers(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=MODELS, json=models_json("a", "b"), headers={"x-request-id": "req_9"}
    )
    with h.client() as c:
        models = c.list_models()
        assert models.ids == ["a", "b"]
        assert c.last_request_id == "req_9"
        assert c.last_latency_ms is not None
        assert c.attempts == 1
    (request,) = httpx_mock.get_requests()
    assert request.method == "GET"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"] == f"mscli/{mscli.__version__}"
    assert request.headers["accept"] == "application/json"
    assert "x-retry-count" not in request.headers
    assert h.sleeps == [] and h.notices == []


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        ([{"id": "bare-list"}], ["bare-list"]),
        ({"data": ["s1", "s2"]}, ["s1", "s2"]),
        (
            {"data": [{"id": "x", "created": "not a number", "owned_by": 5, "context": 200000}]},
            ["x"],
        ),
        ({"object": "list", "data": []}, []),
    ],
)
def test_models_odd_shapes(httpx_mock: HTTPXMock, h: Harness, body: Any, ids: list[str]) -> None:
    httpx_mock.add_response(url=MODELS, json=body)
    models = h.client().list_models()
    assert models.ids == ids


def test_models_extra_fields_kept(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, json={"data": [{"id": "m", "pricing": {"in": 1}}]})
    entry = h.client().list_models().data[0]
    assert entry.model_extra == {"pricing": {"in": 1}}


@pytest.mark.parametrize(
    "body", [{"data": [{"owned_by": "x"}]}, {"data": "nope"}, {"models": 3}, {"data": [{"id": ""}]}]
)
def test_models_missing_id_is_protocol_error(httpx_mock: HTTPXMock, h: Harness, body: Any) -> None:
    httpx_mock.add_response(url=MODELS, json=body)
    with pytest.raises(ProtocolError):
        h.client().list_models()


def test_one_bad_entry_is_left_out_not_the_whole_list(httpx_mock: HTTPXMock, h: Harness) -> None:
    """A list where one entry has no usable id still serves the others (and counts the skip);
    a list with no usable entry at all stays a protocol error (above)."""
    body = {"data": [{"id": "good"}, {"owned_by": "x"}, {"id": "  "}, 7, "also-good"]}
    httpx_mock.add_response(url=MODELS, json=body)
    models = h.client().list_models()
    assert models.ids == ["good", "also-good"] and models.skipped == 3


def test_json_as_text_plain_accepted(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=MODELS,
        content=json.dumps(models_json("a")).encode(),
        headers={"content-type": "text/plain"},
    )
    assert h.client().list_models().ids == ["a"]


def test_json_without_content_type_accepted(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, content=json.dumps(models_json("a")).encode())
    assert h.client().list_models().ids == ["a"]


def test_200_html_is_not_api(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=MODELS, html="<html><head><title>Welcome to nginx!</title></head></html>"
    )
    with pytest.raises(NotApiError) as info:
        h.client().list_models()
    assert info.value.facts["title"] == "Welcome to nginx!"
    assert info.value.advice_key == "protocol.not_api"
    assert len(httpx_mock.get_requests()) == 1  # never retried


def test_200_html_without_content_type(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, content=b"  <!DOCTYPE html><html></html>")
    with pytest.raises(NotApiError):
        h.client().list_models()


@pytest.mark.parametrize("content", [b"not json at all", b""])
def test_200_not_json(httpx_mock: HTTPXMock, h: Harness, content: bytes) -> None:
    httpx_mock.add_response(
        url=MODELS, content=content, headers={"content-type": "application/json"}
    )
    with pytest.raises(ProtocolError) as info:
        h.client().list_models()
    assert not isinstance(info.value, NotApiError)


def test_200_with_error_body_is_api_error(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, json={"error": {"message": "upstream down", "code": 503}})
    with pytest.raises(ApiError) as info:
        h.client().list_models()
    assert info.value.status == 503


def test_body_cap(httpx_mock: HTTPXMock, h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "MAX_BODY", 1000)
    big = json.dumps(models_json(*[f"model-{i}" for i in range(200)])).encode()
    httpx_mock.add_response(url=MODELS, stream=IteratorStream([big[:600], big[600:]]))
    with pytest.raises(ResponseTooLargeError):
        h.client().list_models()


def test_body_cap_by_content_length(
    httpx_mock: HTTPXMock, h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_BODY", 10)
    httpx_mock.add_response(url=MODELS, json=models_json("a", "b", "c"))
    with pytest.raises(ResponseTooLargeError):
        h.client().list_models()


# --- retries ---------------------------------------------------------------------------------------


def test_503_then_success_waits_and_notifies(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=503)
    httpx_mock.add_response(url=MODELS, status_code=502, text="<html><title>502</title></html>")
    httpx_mock.add_response(url=MODELS, json=models_json("a"))
    c = h.client()
    assert c.list_models().ids == ["a"]
    assert h.sleeps == [0.5, 1.0]  # full jitter with rand=1.0: 0.5 * 2**n
    assert [(n.attempt, n.max_attempts, n.reason) for n in h.notices] == [
        (2, 4, "Server error (503)"),
        (3, 4, "Server error (502)"),
    ]
    requests = httpx_mock.get_requests()
    assert [r.headers.get("x-retry-count") for r in requests] == [None, "1", "2"]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in requests)
    assert c.attempts == 3


def test_retry_after_honoured(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=429, headers={"retry-after": "7"})
    httpx_mock.add_response(url=MODELS, json=models_json("a"))
    h.client().list_models()
    assert h.sleeps == [7.0]
    assert str(h.notices[0]) == "Rate limited (429), retrying in 7.0 s, attempt 2 of 4"
    assert h.notices[0].status == 429  # what `mscli batch` pauses every worker for


def test_retry_after_ms_and_http_date(httpx_mock: HTTPXMock, h: Harness) -> None:
    import email.utils

    httpx_mock.add_response(url=MODELS, status_code=429, headers={"retry-after-ms": "1500"})
    httpx_mock.add_response(
        url=MODELS,
        status_code=503,
        headers={"retry-after": email.utils.formatdate(NOW + 12, usegmt=True)},
    )
    httpx_mock.add_response(url=MODELS, json=models_json("a"))
    h.client().list_models()
    assert h.sleeps == [1.5, 12.0]


def test_garbage_retry_after_falls_back_to_backoff(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=429, headers={"retry-after": "nan"})
    httpx_mock.add_response(url=MODELS, json=models_json("a"))
    h.client().list_models()
    assert h.sleeps == [0.5]


def test_over_max_wait_fails_at_once_without_sleeping(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=MODELS,
        status_code=429,
        headers={"retry-after": "120", "x-request-id": "req_rl"},
        json={
            "error": {
                "message": "Rate limit exceeded. Please retry after a short delay.",
                "type": "rate_limit_error",
                "code": 429,
            }
        },
    )
    with pytest.raises(RateLimitWaitTooLongError) as info:
        h.client(max_wait=60).list_models()
    err = info.value
    assert err.retry_after == 120.0
    assert err.status == 429 and err.request_id == "req_rl"
    assert err.advice_key == "rate_limit.wait_too_long"
    assert err.facts["max_wait"] == 60
    assert "120 s" in err.message
    assert h.sleeps == [] and h.notices == []
    assert len(httpx_mock.get_requests()) == 1


def test_over_max_wait_on_503_is_api_error_with_retry_after(
    httpx_mock: HTTPXMock, h: Harness
) -> None:
    httpx_mock.add_response(url=MODELS, status_code=503, headers={"retry-after": "3600"})
    with pytest.raises(ApiError) as info:
        h.client().list_models()
    assert not isinstance(info.value, RateLimitWaitTooLongError)
    assert info.value.retry_after == 3600.0
    assert info.value.advice_key == "server"
    assert h.sleeps == []


def test_ratelimit_reset_header_on_429(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=MODELS, status_code=429, headers={"x-ratelimit-reset-requests": "2s"}
    )
    httpx_mock.add_response(url=MODELS, json=models_json())
    h.client().list_models()
    assert h.sleeps == [2.0]


def test_429_storm_exhausts_retries(httpx_mock: HTTPXMock, h: Harness) -> None:
    for _ in range(4):
        httpx_mock.add_response(
            url=MODELS,
            status_code=429,
            json={"error": {"message": "slow down", "type": "rate_limit_error", "code": 429}},
        )
    with pytest.raises(ApiError) as info:
        h.client().list_models()
    err = info.value
    assert err.status == 429 and err.attempts == 4 and err.retries == 3
    assert err.advice_key == "rate_limit"
    assert h.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413, 422])
def test_never_retried_statuses(httpx_mock: HTTPXMock, h: Harness, status: int) -> None:
    httpx_mock.add_response(
        url=MODELS, status_code=status, json={"error": {"message": "no", "code": status}}
    )
    with pytest.raises(ApiError) as info:
        h.client().list_models()
    assert info.value.status == status
    assert info.value.attempts == 1
    assert h.sleeps == []
    assert len(httpx_mock.get_requests()) == 1


def test_x_should_retry_true_on_400(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=400, headers={"x-should-retry": "true"})
    httpx_mock.add_response(url=MODELS, json=models_json("a"))
    assert h.client().list_models().ids == ["a"]
    assert len(h.sleeps) == 1


def test_x_should_retry_false_on_503(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=503, headers={"x-should-retry": "false"})
    with pytest.raises(ApiError):
        h.client().list_models()
    assert h.sleeps == []


def test_max_retries_zero(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=503)
    with pytest.raises(ApiError) as info:
        h.client(max_retries=0).list_models()
    assert info.value.attempts == 1 and h.sleeps == []


def test_overall_deadline_stops_retrying(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=503, headers={"retry-after": "3"})
    httpx_mock.add_response(url=MODELS, status_code=503, headers={"retry-after": "3"})
    with pytest.raises(ApiError) as info:
        h.client(timeout=5).list_models()
    assert h.sleeps == [3.0]  # the second 3 s sleep would pass the 5 s deadline
    assert info.value.status == 503 and info.value.attempts == 2
    assert info.value.facts["deadline_wait"] == 3.0  # the advice says why it gave up


def test_a_wait_past_the_deadline_is_said_in_the_advice(httpx_mock: HTTPXMock, h: Harness) -> None:
    """Retry-After 30 with --timeout 3: no retry, and the panel says the wait would pass the
    deadline and to raise --timeout (not the generic 'raise --max-retries')."""
    from mscli.advice import advise

    httpx_mock.add_response(url=MODELS, status_code=429, headers={"retry-after": "30"})
    with pytest.raises(ApiError) as info:
        h.client(timeout=3).list_models()
    assert h.sleeps == []
    adv = advise(info.value)
    assert ("gave_up", "the next wait (30 s) would pass --timeout") in adv.details
    assert adv.fix[0].startswith("Raise --timeout")


def test_a_status_that_is_never_retried_says_so(httpx_mock: HTTPXMock, h: Harness) -> None:
    from mscli.advice import advise

    httpx_mock.add_response(url=MODELS, status_code=501, json={"error": {"message": "nope"}})
    with pytest.raises(ApiError) as info:
        h.client().list_models()
    assert h.sleeps == [] and info.value.attempts == 1
    assert ("retried", "no: HTTP 501 is not worth retrying") in advise(info.value).details


@pytest.mark.parametrize(("status", "key"), [(408, "request.timeout"), (409, "request.conflict")])
def test_408_and_409_are_retried_then_named(
    httpx_mock: HTTPXMock, h: Harness, status: int, key: str
) -> None:
    from mscli.advice import advise

    for _ in range(4):
        httpx_mock.add_response(url=MODELS, status_code=status)
    with pytest.raises(ApiError) as info:
        h.client().list_models()
    adv = advise(info.value)
    assert len(h.sleeps) == 3 and adv.key == key and str(status) in adv.title
    assert ("retried", "3 times with backoff, all failed") in adv.details
    assert "temperature" not in " ".join(adv.fix)


def test_keyboard_interrupt_during_sleep_propagates(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS, status_code=503)

    def sleep(_: float) -> None:
        raise KeyboardInterrupt

    c = GatewayClient(ClientConfig(base_url=BASE, api_key=KEY), sleep=sleep, rand=lambda: 0.0)
    with pytest.raises(KeyboardInterrupt):
        c.list_models()


# --- redirects and transport security --------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_not_followed(httpx_mock: HTTPXMock, h: Harness, status: int) -> None:
    httpx_mock.add_response(
        url=MODELS, status_code=status, headers={"location": "https://evil.example/v1/models"}
    )
    with pytest.raises(RedirectError) as info:
        h.client().list_models()
    assert info.value.status == status
    assert info.value.location == "https://evil.example/v1/models"
    assert info.value.advice_key == "config.redirect"
    (request,) = httpx_mock.get_requests()  # no second request, to anywhere
    assert request.url.host == "api.test.example"
    assert h.sleeps == []


def test_redirect_on_post_not_followed(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT, method="POST", status_code=302, headers={"location": "/login"}
    )
    with pytest.raises(RedirectError):
        h.client().chat(REQ)
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    "url",
    ["http://api.modelstack.cc/v1", "http://192.168.1.10:8080/v1", "http://localhost.evil.com/v1"],
)
def test_http_non_loopback_refused_before_any_request(httpx_mock: HTTPXMock, url: str) -> None:
    with pytest.raises(InsecureTransportError):
        GatewayClient(ClientConfig(base_url=url, api_key=KEY))
    assert httpx_mock.get_requests() == []


def test_http_loopback_allowed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="http://127.0.0.1:8765/v1/models", json=models_json("a"))
    c = GatewayClient(ClientConfig(base_url="http://127.0.0.1:8765/v1", api_key=KEY))
    assert c.list_models().ids == ["a"]


def test_http_allowed_when_opted_in(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="http://gw.internal/v1/models", json=models_json("a"))
    c = GatewayClient(
        ClientConfig(base_url="http://gw.internal", api_key=KEY, allow_insecure_http=True)
    )
    assert c.base_url == "http://gw.internal/v1"
    assert c.list_models().ids == ["a"]


@pytest.mark.parametrize(
    "key", ["sk_abc\ndef0123456789", "sk_ü0123456789abcdef", "sk_abc def0123456789"]
)
def test_unsendable_key_refused(key: str) -> None:
    with pytest.raises(KeyFormatError):
        GatewayClient(ClientConfig(base_url=BASE, api_key=key))


def test_no_key_sends_no_authorization(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS, json=models_json())
    GatewayClient(ClientConfig(base_url=BASE, api_key=None)).list_models()
    assert "authorization" not in httpx_mock.get_requests()[0].headers


def test_config_repr_hides_key() -> None:
    assert KEY not in repr(ClientConfig(base_url=BASE, api_key=KEY))


# --- network errors ---------------------------------------------------------------------------------


def with_cause(exc: Exception, cause: BaseException) -> Exception:
    exc.__cause__ = cause
    return exc


NETWORK_CASES: list[tuple[Exception, str]] = [
    (httpx.ConnectError("[Errno -3] Temporary failure in name resolution"), "dns"),
    (
        with_cause(httpx.ConnectError("boom"), socket.gaierror(-3, "Temporary failure")),
        "dns",
    ),
    (httpx.ConnectError("[Errno 111] Connection refused"), "refused"),
    (
        with_cause(httpx.ConnectError("x"), ConnectionRefusedError(111, "Connection refused")),
        "refused",
    ),
    (httpx.ConnectTimeout("timed out"), "connect_timeout"),
    (httpx.ReadTimeout("timed out"), "read_timeout"),
    (httpx.PoolTimeout("pool"), "timeout"),
    (httpx.ProxyError("407 Proxy Authentication Required"), "proxy"),
    (httpx.ReadError("[Errno 104] Connection reset by peer"), "reset"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), "reset"),
    (httpx.ConnectError("[Errno 101] Network is unreachable"), "other"),
]


@pytest.mark.parametrize(("exc", "kind"), NETWORK_CASES)
def test_network_errors_mapped_and_retried(
    httpx_mock: HTTPXMock, h: Harness, exc: Exception, kind: str
) -> None:
    httpx_mock.add_exception(exc, url=MODELS, is_reusable=True)
    with pytest.raises(NetworkError) as info:
        h.client(max_retries=2).list_models()
    err = info.value
    # a server that says nothing is asked once more only (client.SILENT_RETRIES)
    attempts = 2 if kind == "read_timeout" else 3
    assert err.kind == kind
    assert err.attempts == attempts
    assert err.host == "api.test.example"
    assert err.advice_key == f"network.{kind}"
    assert len(httpx_mock.get_requests()) == attempts
    assert len(h.sleeps) == attempts - 1
    assert len(h.notices) == attempts - 1


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno -2] Name or service not known"),
        httpx.ConnectError("[Errno 8] nodename nor servname provided, or not known"),
        with_cause(httpx.ConnectError("boom"), socket.gaierror(-2, "Name or service not known")),
    ],
)
def test_a_name_that_does_not_exist_is_not_retried(
    httpx_mock: HTTPXMock, h: Harness, exc: Exception
) -> None:
    httpx_mock.add_exception(exc, url=MODELS)
    with pytest.raises(NetworkError) as info:
        h.client(max_retries=2).list_models()
    assert info.value.kind == "dns" and info.value.facts["dns_temporary"] is False
    assert info.value.attempts == 1
    assert len(httpx_mock.get_requests()) == 1
    assert h.sleeps == [] and h.notices == []


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1000)"
        ),
        httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)"),
        with_cause(
            httpx.ConnectError("x"), ssl.SSLCertVerificationError(1, "certificate verify failed")
        ),
    ],
)
def test_tls_errors_mapped_and_not_retried(
    httpx_mock: HTTPXMock, h: Harness, exc: Exception
) -> None:
    httpx_mock.add_exception(exc, url=MODELS)
    with pytest.raises(NetworkError) as info:
        h.client().list_models()
    assert info.value.kind == "tls"
    assert info.value.attempts == 1
    assert h.sleeps == []


def test_tls_verify_fact() -> None:
    err = map_transport_error(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] x"), host="h")
    assert err.facts["tls_verify"] is True


def test_dns_temporary_fact() -> None:
    assert map_transport_error(
        httpx.ConnectError("Temporary failure in name resolution"), host="h"
    ).facts["dns_temporary"]
    assert not map_transport_error(httpx.ConnectError("Name or service not known"), host="h").facts[
        "dns_temporary"
    ]


def test_connect_timeout_then_success_one_notice(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_exception(httpx.ConnectTimeout("timed out"), url=MODELS)
    httpx_mock.add_response(url=MODELS, json=models_json("a"))
    assert h.client().list_models().ids == ["a"]
    assert len(h.notices) == 1
    assert h.notices[0].reason == "Connection timed out"
    assert h.notices[0].attempt == 2
    assert h.notices[0].status is None  # no HTTP answer


def test_read_error_in_non_stream_body_is_retried(httpx_mock: HTTPXMock, h: Harness) -> None:
    def broken() -> Iterator[bytes]:
        yield b'{"object": "list", "da'
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )

    httpx_mock.add_response(url=MODELS, stream=IteratorStream(broken()))
    httpx_mock.add_response(url=MODELS, json=models_json("a"))
    assert h.client().list_models().ids == ["a"]
    assert [n.reason for n in h.notices] == ["Connection reset"]


def test_read_timeout_on_chat_is_not_retried(httpx_mock: HTTPXMock, h: Harness) -> None:
    """A chat that got no answer may be generating (and charged): it is not sent again."""
    httpx_mock.add_exception(httpx.ReadTimeout("read timed out"), url=CHAT)
    with pytest.raises(NetworkError) as info:
        h.client().chat(REQ)
    assert info.value.kind == "read_timeout" and info.value.attempts == 1
    assert len(httpx_mock.get_requests()) == 1 and h.notices == []


# --- chat (non-streamed) --------------------------------------------------------------------------


def test_chat_payload_and_result(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, method="POST", json=completion())
    req = ChatRequest(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.2,
        max_tokens=5,
        stop=["x"],
    )
    result = h.client().chat(req)
    assert (result.id, result.model, result.content, result.finish_reason) == (
        "chatcmpl-1",
        "claude-sonnet-4-5",
        "Hello!",
        "stop",
    )
    assert result.usage is not None and result.usage.total_tokens == 25
    assert result.done_seen is False
    body = json.loads(httpx_mock.get_requests()[0].content)
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "max_tokens": 5,
        "stop": ["x"],
        "stream": False,
    }


def test_chat_content_null(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, json=completion(content=None, finish="tool_calls"))
    result = h.client().chat(REQ)
    assert result.content == "" and result.finish_reason == "tool_calls"


def test_chat_content_parts(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT,
        json=completion(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]),
    )
    assert h.client().chat(REQ).content == "ab"


def test_chat_no_choices_is_protocol_error(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=CHAT, json={"id": "x", "choices": []})
    with pytest.raises(ProtocolError):
        h.client().chat(REQ)


def test_chat_200_error_body(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT, json={"object": "error", "message": "context too long", "code": 400}
    )
    with pytest.raises(ApiError) as info:
        h.client().chat(REQ)
    assert info.value.status == 400 and info.value.server_message == "context too long"


def test_chat_unsupported_model(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=CHAT,
        status_code=400,
        json={
            "error": {
                "message": 'Unsupported model: "gpt-5". Supported models include: a, b',
                "type": "invalid_request_error",
                "code": 400,
            }
        },
    )
    with pytest.raises(ApiError) as info:
        h.client().chat(REQ)
    assert info.value.advice_key == "model.unsupported"


# --- balance ---------------------------------------------------------------------------------------


def test_balance(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=BALANCE,
        json={
            "object": "balance",
            "plan": "pro",
            "rate_limit_rpm": 40,
            "subscription_credits": 512.5,
            "lifetime_credits": "100",
            "next_refill_at": "2026-01-01T10:00:00Z",
            "weekly_cap": 6000,
            "new_field": True,
        },
    )
    b = h.client().get_balance()
    assert b.plan == "pro" and b.rate_limit_rpm == 40
    assert b.subscription_credits == 512.5 and b.lifetime_credits == 100.0
    assert b.spendable == 612.5
    assert b.next_refill is not None and b.next_refill.year == 2026
    assert b.model_extra == {"new_field": True}


def test_balance_lenient_garbage(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=BALANCE,
        json={"subscription_credits": "lots", "rate_limit_rpm": None, "next_refill_at": "soon"},
    )
    b = h.client().get_balance()
    assert b.subscription_credits is None and b.next_refill is None and b.spendable is None


def test_balance_404(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=BALANCE,
        status_code=404,
        json={"error": {"message": "Not found", "type": "not_found", "code": 404}},
    )
    with pytest.raises(ApiError) as info:
        h.client().get_balance()
    assert info.value.advice_key == "not_found"


def test_balance_not_object(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=BALANCE, json=[1, 2])
    with pytest.raises(ProtocolError):
        h.client().get_balance()


# --- request_raw (doctor) ---------------------------------------------------------------------------


def test_request_raw_returns_error_status(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=BALANCE,
        status_code=404,
        text="x" * 5000,
        headers={"X-Request-Id": "r1", "Content-Type": "text/plain"},
    )
    raw = h.client().request_raw("GET", "/balance")
    assert raw.status == 404 and raw.reason == "Not Found"
    assert len(raw.body) == 2048 and raw.truncated
    assert raw.headers["x-request-id"] == "r1"
    assert raw.content_type == "text/plain"
    assert raw.request_id == "r1"
    assert raw.latency_ms >= 0
    assert raw.text == "x" * 2048
    assert not raw.is_html
    assert h.sleeps == []


def test_request_raw_not_retried(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=503, html="<title>down</title>")
    raw = h.client().request_raw("GET", "/models")
    assert raw.status == 503 and raw.is_html
    assert len(httpx_mock.get_requests()) == 1


def test_request_raw_redirect_raises(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=MODELS, status_code=301, headers={"location": "https://other/v1/models"}
    )
    with pytest.raises(RedirectError):
        h.client().request_raw("GET", "/models")


def test_request_raw_network_error_raises(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), url=MODELS)
    with pytest.raises(NetworkError) as info:
        h.client().request_raw("GET", "/models")
    assert info.value.kind == "refused"


# --- the key never leaks --------------------------------------------------------------------------


def test_key_never_in_trace_or_error_text(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(
        url=MODELS,
        status_code=401,
        headers={"x-request-id": "req_1", "set-cookie": "session=s3cr3t"},
        json={
            "error": {
                "message": f"Incorrect API key provided: {KEY}",
                "type": "authentication_error",
                "code": 401,
            }
        },
    )
    with pytest.raises(ApiError) as info:
        h.client().list_models()
    err = info.value
    texts = [
        err.message,
        str(err),
        err.server_message or "",
        json.dumps(err.facts, default=str),
        *h.trace,
    ]
    assert all(KEY not in t for t in texts)
    assert "Incorrect API key provided: sk_…a1b2" in err.message
    assert f"> GET {MODELS}" in h.trace
    assert "> authorization: Bearer sk_…a1b2" in h.trace
    assert any(
        line.startswith("< HTTP/1.1 401 Unauthorized (") and "request id req_1" in line
        for line in h.trace
    )
    assert "< set-cookie: <redacted>" in h.trace
    assert err.advice_key == "auth.invalid"


def test_key_not_in_network_error(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_exception(
        httpx.ConnectError(f"failed for Bearer {KEY}"), url=MODELS, is_reusable=True
    )
    with pytest.raises(NetworkError) as info:
        h.client(max_retries=0).list_models()
    assert KEY not in json.dumps(info.value.facts, default=str) and KEY not in str(info.value)


def test_trace_shows_retry_line(httpx_mock: HTTPXMock, h: Harness) -> None:
    httpx_mock.add_response(url=MODELS, status_code=503)
    httpx_mock.add_response(url=MODELS, json=models_json())
    h.client().list_models()
    assert "* Server error (503), retrying in 0.5 s, attempt 2 of 4" in h.trace
    assert "> x-retry-count: 1" in h.trace


# --- a proxy that cannot be reached is named as the proxy ------------------------------------------


def test_unreachable_proxy_is_a_proxy_error_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY points where nothing listens: a real connection attempt (no mock) fails at the
    proxy, and the error says so instead of blaming the API host."""
    from mscli.errors import NetworkError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = {"HTTPS_PROXY": f"http://user:secret@127.0.0.1:{port}"}
    monkeypatch.setenv("HTTPS_PROXY", proxy["HTTPS_PROXY"])  # httpx's own reading of it
    client = GatewayClient(
        ClientConfig(
            base_url="https://api.modelstack.cc/v1",
            api_key="sk_test_x1234567890",
            max_retries=0,
            proxy_env=proxy,
        )
    )
    with pytest.raises(NetworkError) as info:
        client.list_models()
    err = info.value
    assert err.kind == "proxy" and err.advice_key == "network.proxy"
    assert err.message == (
        f"Could not reach the proxy http://127.0.0.1:{port} (from HTTPS_PROXY): connection refused"
    )
    assert "secret" not in err.message and "secret" not in str(err.facts)
    assert "add api.modelstack.cc to NO_PROXY" in err.facts["fix"]


def test_no_proxy_keeps_the_api_host_in_the_message() -> None:
    from mscli.api.urls import env_getter, proxy_for

    getenv = env_getter({"https_proxy": "proxy.corp:3128", "NO_PROXY": ".modelstack.cc"})
    assert proxy_for("https", "api.modelstack.cc", getenv) is None
    found = proxy_for("https", "api.openai.com", getenv)
    assert found is not None and (found.url, found.variable) == (
        "http://proxy.corp:3128",
        "HTTPS_PROXY",
    )
    err = map_transport_error(ConnectionRefusedError(111, "refused"), host="api.modelstack.cc")
    assert err.kind == "refused" and "api.modelstack.cc refused" in err.message


def test_a_timeout_says_which_limit_ran_out() -> None:
    """A server that accepts and never answers: the error names the limit (real socket)."""
    import socket

    from mscli.errors import NetworkError

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        base = f"http://127.0.0.1:{srv.getsockname()[1]}/v1"
        client = GatewayClient(ClientConfig(base_url=base, api_key=KEY, max_retries=0, timeout=0.6))
        with pytest.raises(NetworkError) as info:
            client.list_models()
    assert info.value.kind == "read_timeout"
    assert info.value.message == "No response from 127.0.0.1 (within 0.6 s)"


@pytest.mark.parametrize(
    ("base_url", "proxy", "loads"),
    [
        ("http://127.0.0.1:8080/v1", None, False),  # the loopback sandbox: no TLS possible
        ("https://api.modelstack.cc/v1", None, True),
        ("http://127.0.0.1:8080/v1", "https://proxy.corp:3128", True),  # the proxy may be TLS
    ],
)
def test_ca_bundle_loaded_only_when_a_connection_can_use_tls(
    monkeypatch: pytest.MonkeyPatch, base_url: str, proxy: str | None, loads: bool
) -> None:
    loaded: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded.append(args or kwargs)
        real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    proxy_env = {"HTTP_PROXY": proxy} if proxy else {}
    for name, value in proxy_env.items():
        monkeypatch.setenv(name, value)  # httpx's own reading of it
    c = GatewayClient(ClientConfig(base_url=base_url, api_key=KEY, proxy_env=proxy_env))
    c.close()
    assert bool(loaded) is loads
    loaded.clear()  # an environment not known: TLS is possible
    GatewayClient(ClientConfig(base_url=base_url, api_key=KEY)).close()
    assert loaded
