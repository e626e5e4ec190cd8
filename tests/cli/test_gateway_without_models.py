"""A gateway without `GET /v1/models` (issue 11 item 9): the 404 names the path that answered
and does not tell a base URL ending in /v1 to end in /v1; `balance --probe` and `doctor --live`
fall back to the profile's default model (else the catalogue's cheapest) instead of giving up,
since chat works. A loopback gateway plays the server and records what it was sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mscli.pricing import CHEAPEST_MODEL
from support.cli import run
from support.gateway import Gateway, send_json
from support.loopback import Conn

KEY = "sk_test0123456789abcdefghijklmnopqa1b2"
NOT_FOUND = b'{"error": {"message": "Not found", "type": "not_found", "code": 404}}'


def chat_route(conn: Conn) -> None:
    body = json.loads(conn.request_body)
    if body.get("stream"):
        conn.send_headers(200, {"Content-Type": "text/event-stream", "Connection": "close"})
        chunk = {"id": "c1", "choices": [{"index": 0, "delta": {"content": "OK"}}]}
        end = {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
        conn.send_chunk(f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(end)}\n\n".encode())
        conn.send_chunk(b"data: [DONE]\n\n")
        conn.end_chunks()
        return
    reply = {
        "id": "c1",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"content": "OK"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    send_json(conn, 200, json.dumps(reply).encode())


def not_found(conn: Conn) -> None:
    send_json(conn, 404, NOT_FOUND)


def gateway() -> Gateway:
    return Gateway(
        {
            "/v1/models": not_found,
            "/v1/balance": not_found,
            "/v1/chat/completions": chat_route,
            "/api/models": not_found,
        }
    )


def cli(gw: Gateway, *args: str, base: str | None = None) -> Any:
    return run("--base-url", base or gw.base_url, "--json", *args, env={"MODELSTACK_API_KEY": KEY})


def models_sent(gw: Gateway) -> list[str]:
    return [b["model"] for b in gw.bodies if isinstance(b, dict) and "model" in b]


def test_the_404_names_the_path_and_does_not_ask_for_v1_when_it_is_there() -> None:
    with gateway() as gw:
        res = cli(gw, "models")
    assert res.code == 6, res.stderr
    error = res.error()
    assert "GET /v1/models" in error["advice"]  # the path that answered 404 (and in the panel)
    assert "it should end in /v1" not in error["advice"]
    assert "ends in /v1 as it should" in error["advice"]


def test_a_base_url_without_v1_is_told_so() -> None:
    with gateway() as gw:
        res = cli(gw, "models", base=gw.base_url.removesuffix("/v1") + "/api")
    assert res.code == 6, res.stderr
    error = res.error()
    assert "GET /api/models answered 404" in error["advice"]
    assert "does not end in /v1" in error["advice"]


@pytest.mark.parametrize("default_model", [None, "claude-haiku-4-5"])
def test_balance_probe_falls_back_to_the_default_model(default_model: str | None) -> None:
    if default_model:
        assert run("config", "set", "default_model", default_model).code == 0
    with gateway() as gw:
        res = cli(gw, "balance", "--probe")
        sent = models_sent(gw)
    assert res.code == 0, res.stderr
    assert sent == [default_model or CHEAPEST_MODEL]
    assert res.json()["probe"]["sent"] is True


@pytest.mark.parametrize("default_model", [None, "claude-haiku-4-5"])
def test_doctor_live_falls_back_to_the_default_model(default_model: str | None) -> None:
    if default_model:
        assert run("config", "set", "default_model", default_model).code == 0
    with gateway() as gw:
        res = cli(gw, "doctor", "--live")
        sent = models_sent(gw)
    checks = {c["name"]: c for c in res.json()["checks"]}
    assert res.code == 0, (res.stdout, res.stderr)
    assert checks["models"]["status"] == "warn"
    assert checks["live"]["status"] == "ok", checks["live"]
    assert sent == [default_model or CHEAPEST_MODEL]
    # the models check names the model the probe really sends to (not the built-in default)
    assert checks["models"]["detail"].endswith(f"use {default_model or CHEAPEST_MODEL}")


@pytest.mark.parametrize("status", [405, 501])
def test_probe_and_doctor_take_any_missing_model_list_alike(status: int) -> None:
    """Every "no model list" answer (catalogue.no_model_list) is one rule: balance --probe and
    doctor --live fall back as they do on a 404, as chat does."""

    def refused(conn: Conn) -> None:
        send_json(conn, status, b'{"error": {"message": "no", "type": "invalid_request_error"}}')

    routes = {"/v1/models": refused, "/v1/balance": not_found, "/v1/chat/completions": chat_route}
    with Gateway(routes) as gw:
        probe = cli(gw, "balance", "--probe")
        live = cli(gw, "doctor", "--live")
    assert probe.code == 0, probe.stderr
    if status < 500:  # a 5xx on /models is the doctor's http check's failure first
        assert live.code == 0, (live.stdout, live.stderr)
