"""Numbers a server sends are bounded before mscli uses or stores them (issue 11 item 1; reliability
§6 row 31's family: valid JSON, hostile values). A loopback server plays the gateway, the real CLI
runs in-process; every JSON document mscli writes must parse under strict RFC 8259 rules."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.cli import run
from support.gateway import Gateway
from support.loopback import Conn, LoopbackServer

KEY = "sk_test0123456789abcdefghijklmnopqa1b2"
MODEL = "claude-haiku-4-5"

#: Hostile values, written as raw JSON text (Python's json would refuse or normalise some of them).
HOSTILE = ["1" + "0" * 30, "1e400", "-1e400", "NaN", "Infinity", "-7", "2.5", '"1e999"', "1e300"]


def strict(text: str) -> Any:
    """Parse `text` as RFC 8259 JSON: NaN/Infinity literals and overflowing numbers are errors."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    def finite(text: str) -> float:
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"number out of range: {text}")
        return value

    return json.loads(text, parse_constant=refuse, parse_float=finite)


@pytest.fixture()
def gateway() -> Iterator[Callable[[dict[str, bytes]], LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(routes: dict[str, bytes]) -> LoopbackServer:
        server = Gateway(dict(routes)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def models_body(created: str = "1700000000", extra: str = "1") -> bytes:
    text = (
        '{"object":"list","data":[{"id":"MODEL","object":"model","owned_by":"x",'
        '"created":CREATED,"context_length":EXTRA}]}'
    )
    return text.replace("MODEL", MODEL).replace("CREATED", created).replace("EXTRA", extra).encode()


def completion_body(value: str) -> bytes:
    text = (
        '{"id":"c1","object":"chat.completion","model":"MODEL","choices":[{"index":0,'
        '"message":{"role":"assistant","content":"Hi."},"finish_reason":"stop"}],'
        '"usage":{"prompt_tokens":N,"completion_tokens":N,"total_tokens":N}}'
    )
    return text.replace("MODEL", MODEL).replace("N", value).encode()


def cli(server: LoopbackServer, *args: str) -> Any:
    return run(
        "--base-url",
        server.base_url,
        "--max-retries",
        "0",
        *args,
        env={"MODELSTACK_API_KEY": KEY},
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_usage_counts_are_unknown_not_stored_or_printed(
    gateway: Callable[[dict[str, bytes]], LoopbackServer], value: str, isolation: Path
) -> None:
    server = gateway({"/v1/chat/completions": completion_body(value), "/v1/models": models_body()})
    res = cli(server, "chat", "-m", MODEL, "--no-stream", "--json", "Hello")
    assert res.code == 0, res.stderr
    doc = strict(res.stdout)
    assert doc["content"] == "Hi."
    assert doc["usage"] is None  # no count survived: the usage is unknown, not invented
    credits = doc["estimated_credits"]
    assert credits is None or 0 <= credits < 1e6
    # the exchange is in the history, and the ledger holds only finite, non-negative figures
    shown = run("history", "show", "1", "--json")
    assert shown.code == 0, shown.stderr
    assert strict(shown.stdout)["exchanges"][0]["reply"] == "Hi."
    for ledger in isolation.rglob("ledger.jsonl"):
        for line in ledger.read_text().splitlines():
            entry = strict(line)
            assert 0 <= entry["credits"] < 1e6
            assert 0 <= entry["prompt_tokens"] <= 10**12
    bal = run("--base-url", server.base_url, "balance", "--json", env={"MODELSTACK_API_KEY": KEY})
    strict(bal.stdout)


def test_sane_usage_is_kept(gateway: Callable[[dict[str, bytes]], LoopbackServer]) -> None:
    server = gateway({"/v1/chat/completions": completion_body("12"), "/v1/models": models_body()})
    res = cli(server, "chat", "-m", MODEL, "--no-stream", "--json", "Hello")
    assert res.code == 0, res.stderr
    assert strict(res.stdout)["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 12,
        "total_tokens": 12,
    }


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_model_timestamps_and_extra_numbers(
    gateway: Callable[[dict[str, bytes]], LoopbackServer], value: str
) -> None:
    server = gateway({"/v1/models": models_body(created=value, extra=value)})
    table = cli(server, "models")
    assert table.code == 0, table.stderr
    assert MODEL in table.stdout
    assert "inf" not in table.stdout.lower() and "nan" not in table.stdout.lower()
    res = cli(server, "models", "--json")
    assert res.code == 0, res.stderr
    doc = strict(res.stdout)
    text = json.dumps(doc)
    assert MODEL in text


def test_a_damaged_ledger_line_is_skipped_not_summed(
    gateway: Callable[[dict[str, bytes]], LoopbackServer], isolation: Path
) -> None:
    server = gateway({"/v1/chat/completions": completion_body("10"), "/v1/models": models_body()})
    assert cli(server, "chat", "-m", MODEL, "--no-stream", "Hello").code == 0
    (ledger,) = isolation.rglob("ledger.jsonl")
    good = ledger.read_text()
    bad = [
        '{"ts": 1e400, "base_url": "x", "model": "m", "prompt_tokens": 1, "completion_tokens": 1, "credits": 1}',
        '{"ts": %f, "base_url": "%s", "model": "m", "prompt_tokens": 1e400, "completion_tokens": 1, "credits": 1}',
        '{"ts": %f, "base_url": "%s", "model": "m", "prompt_tokens": 1, "completion_tokens": 1, "credits": Infinity}',
        '{"ts": %f, "base_url": "%s", "model": "m", "prompt_tokens": 1, "completion_tokens": 1, "credits": -5}',
    ]
    ts = json.loads(good.splitlines()[0])["ts"]
    lines = [bad[0]] + [b % (ts, server.base_url) for b in bad[1:]]
    ledger.write_text(good + "\n".join(lines) + "\n")
    res = cli(server, "balance", "--json")
    doc = strict(res.stdout)
    spent = json.dumps(doc)
    assert "Infinity" not in spent and "-5" not in spent


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_usage_in_the_final_stream_chunk(value: str, isolation: Path) -> None:
    def stream(conn: Conn) -> None:
        conn.send_headers(200, {"Content-Type": "text/event-stream", "Connection": "close"})
        conn.send_chunk(
            b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hi."},'
            b'"finish_reason":"stop"}]}\n\n'
        )
        usage = '{"prompt_tokens":V,"completion_tokens":V,"total_tokens":V}'.replace("V", value)
        conn.send_chunk(f'data: {{"id":"c1","choices":[],"usage":{usage}}}\n\n'.encode())
        conn.send_chunk(b"data: [DONE]\n\n")
        conn.end_chunks()

    with Gateway({"/v1/models": models_body(), "/v1/chat/completions": stream}) as server:
        res = cli(server, "chat", "-m", MODEL, "--json", "Hello")
    assert res.code == 0, res.stderr
    doc = strict(res.stdout)
    assert doc["content"] == "Hi." and doc["usage"] is None
    for ledger in isolation.rglob("ledger.jsonl"):
        for line in ledger.read_text().splitlines():
            assert 0 <= strict(line)["credits"] < 1e6
