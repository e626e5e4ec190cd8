"""`mscli batch` end to end, against the sandbox over real sockets (and a scripted loopback server
for a 429): pacing under the server's limit, a 402 mid-batch, an interrupted batch resumed, input
errors before anything is sent, --dry-run. Interruptions are triggered by events (a line read from
the output, credits running out), never by a sleep; pacing is shown by counts, not by timing."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mscli import ledger
from support.cli import Result, run
from support.loopback import Conn, LoopbackServer
from support.paths import run_paths

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

MODEL = "claude-haiku-4-5"


def _input(tmp_path: Path, n: int, *, max_tokens: int = 8) -> Path:
    path = tmp_path / "in.jsonl"
    rows = [{"prompt": f"Question {i}", "max_tokens": max_tokens} for i in range(1, n + 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _logged(**config: Any) -> dict[str, Any]:
    """Sandbox options that keep its request log in memory."""
    return {"quiet": False, "log": io.StringIO(), **config}


def _log(sb: EmbeddedSandbox) -> list[str]:
    """The sandbox's request lines, once every request has been answered and logged."""
    sb.stop()
    log = sb.config.log
    assert isinstance(log, io.StringIO)
    return log.getvalue().splitlines()


def _chat_lines(lines: list[str], status: int) -> list[str]:
    return [ln for ln in lines if '"POST /v1/chat/completions"' in ln and f'" {status} ' in ln]


def batch(sb: EmbeddedSandbox, *args: str, key: str | None = None, **kw: Any) -> Result:
    env = {"MODELSTACK_API_KEY": key or sb.api_key}
    return run("--base-url", sb.base_url, "batch", "-m", MODEL, *args, env=env, **kw)


def _out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _summary(r: Result) -> dict[str, Any]:
    docs = [json.loads(x) for x in r.stderr.splitlines()]
    summary = [d["summary"] for d in docs if "summary" in d]
    assert len(summary) == 1, r.stderr
    return summary[0]


# --- pacing ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_batch_above_the_servers_limit_finishes_with_no_429(
    sandbox_factory: Callable[..., EmbeddedSandbox], tmp_path: Path
) -> None:
    # The server allows 4 requests per 60 ms (4,000 a minute); the batch holds 1,000 a minute,
    # one start every 60 ms, up to 8 in flight: 20 lines are far above what one window takes.
    sb = sandbox_factory(**_logged(rpm=4, rate_window_seconds=0.06))
    out = tmp_path / "out.jsonl"
    r = batch(sb, str(_input(tmp_path, 20)), "--rpm", "1000", "-o", str(out), "--json")
    assert r.code == 0, r.stderr
    docs = _out(out)
    assert sorted(d["id"] for d in docs) == list(range(1, 21))
    assert all(d["error"] is None and d["content"] for d in docs)
    s = _summary(r)
    assert (s["succeeded"], s["failed"], s["rate_limited"], s["retries"]) == (20, 0, 0, 0)
    assert (s["rpm"], s["rpm_source"]) == (1000, "--rpm")
    logged = _log(sb)
    assert not [ln for ln in logged if '" 429 ' in ln]
    assert len(_chat_lines(logged, 200)) == 20


@pytest.mark.slow
def test_the_same_batch_unpaced_is_rate_limited_by_that_server(
    sandbox_factory: Callable[..., EmbeddedSandbox], tmp_path: Path
) -> None:
    """The check above can fail: without the pace, this server answers 429."""
    sb = sandbox_factory(**_logged(rpm=4, rate_window_seconds=0.06))
    out = tmp_path / "out.jsonl"
    r = run(
        "--base-url", sb.base_url, "--max-retries", "0", "batch", "-m", MODEL,
        str(_input(tmp_path, 40)), "--rpm", "10000000", "-o", str(out), "--json",
        env={"MODELSTACK_API_KEY": sb.api_key},
    )  # fmt: skip
    assert _log(sb) and _summary(r)["rate_limited"] > 0
    assert r.code == 11  # finished, some lines failed: each carries its error
    failed = [d for d in _out(out) if d["error"] is not None]
    assert failed and {d["error"]["type"] for d in failed} == {"rate_limit"}
    assert {d["error"]["status"] for d in failed} == {429}


@pytest.mark.slow
def test_without_rpm_or_plan_the_servers_limit_sets_the_pace(
    sandbox_factory: Callable[..., EmbeddedSandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(rpm=6000)
    r = batch(sb, str(_input(tmp_path, 3)), "-o", str(tmp_path / "o.jsonl"), "--json")
    assert r.code == 0, r.stderr
    s = _summary(r)
    assert (s["rpm"], s["rpm_source"]) == (6000, "the server's x-ratelimit-limit-requests")


def _scripted_429(conn: Conn, state: dict[str, int]) -> None:
    """GET /models lists the model; the first chat request gets a 429 with a 30 ms wait; the rest
    get a reply. Keep-alive: several requests per connection."""
    while True:
        head = conn.read_request()
        if not head:
            return
        if head.startswith(b"GET"):
            body = json.dumps({"data": [{"id": MODEL}]}).encode()
            status, headers = 200, {}
        else:
            state["chat"] += 1
            if state["chat"] == 1:
                body = json.dumps({"error": {"message": "Rate limit", "type": "rate_limit_error"}})
                status, headers = 429, {"retry-after-ms": "30"}
                body_bytes = body.encode()
            else:
                status, headers = 200, {}
            if status == 200:
                body_bytes = json.dumps(
                    {
                        "id": f"c{state['chat']}",
                        "object": "chat.completion",
                        "model": MODEL,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "ok"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                    }
                ).encode()
            body = body_bytes
        conn.send_headers(
            status,
            {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers},
            chunked=False,
        )
        conn.send(body)


@pytest.mark.slow
def test_a_429_pauses_the_whole_batch_and_the_line_is_retried(tmp_path: Path) -> None:
    state = {"chat": 0}
    with LoopbackServer(lambda conn: _scripted_429(conn, state)) as server:
        r = run(
            "--base-url", server.base_url, "batch", "-m", MODEL, str(_input(tmp_path, 4)),
            "--rpm", "60000", "-o", str(tmp_path / "o.jsonl"), "--json",
            env={"MODELSTACK_API_KEY": "sk_loopbackKey0123456789"},
        )  # fmt: skip
    assert r.code == 0, r.stderr
    s = _summary(r)
    assert (s["succeeded"], s["rate_limited"], s["retries"], s["pauses"]) == (4, 1, 1, 1)
    assert state["chat"] == 5  # four lines, one of them twice
    assert all(d["error"] is None for d in _out(tmp_path / "o.jsonl"))


# --- a 402 mid-batch, an interrupted batch, --resume -------------------------------------------


@pytest.mark.slow
def test_a_402_mid_batch_stops_and_exits_4_keeping_the_done_lines(
    sandbox_factory: Callable[..., EmbeddedSandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**_logged(subscription_credits=0.0015, lifetime_credits=0.0))
    out = tmp_path / "out.jsonl"
    r = batch(sb, str(_input(tmp_path, 30)), "--rpm", "6000", "-o", str(out), "--json")
    assert r.code == 4, r.stderr
    errors = [json.loads(x)["error"] for x in r.stderr.splitlines() if '"error"' in x]
    assert errors[-1]["type"] == "balance.empty" and errors[-1]["code"] == 4
    docs = _out(out)
    done = [d for d in docs if d["error"] is None]
    refused = [d for d in docs if d["error"] is not None]
    assert done and all(d["content"] and d["usage"] for d in done)
    assert refused and {d["error"]["status"] for d in refused} == {402}
    assert len(docs) < 30  # sending stopped
    s = _summary(r)
    assert s["stopped_by"] == "balance.empty" and s["not_sent"] == 30 - len(docs)
    assert len(_chat_lines(_log(sb), 200)) == len(done)
    assert len(ledger.entries(run_paths().ledger)) == len(done)  # the ledger records every success


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_an_interrupted_batch_resumed_answers_each_id_exactly_once(
    sandbox_factory: Callable[..., EmbeddedSandbox],
    subprocess_env: dict[str, str],
    tmp_path: Path,
) -> None:
    sb = sandbox_factory(**_logged())
    source = _input(tmp_path, 20)
    env = {**subprocess_env, "MODELSTACK_API_KEY": sb.api_key}
    argv = [sys.executable, "-m", "mscli", "--base-url", sb.base_url, "batch", "-m", MODEL]
    proc = subprocess.Popen(
        [*argv, str(source), "--rpm", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = [proc.stdout.readline() for _ in range(3)]  # the event: three lines are out
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 130, err
    assert "Traceback" not in err and "interrupted: with -o FILE, `--resume` sends the rest" in err
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"".join(first) + rest)
    before = _out(out)
    assert 3 <= len(before) < 20 and all(d["error"] is None for d in before)

    r = batch(sb, str(source), "--rpm", "6000", "-o", str(out), "--resume", "--json")
    assert r.code == 0, r.stderr
    s = _summary(r)
    assert s["skipped"] == len(before) and s["succeeded"] == 20 - len(before)
    ids = [d["id"] for d in _out(out)]
    assert sorted(ids) == list(range(1, 21))  # each id exactly once
    assert len(_chat_lines(_log(sb), 200)) == 20  # no id was sent twice for a success
    assert len(ledger.entries(run_paths().ledger)) == 20


@pytest.mark.slow
def test_resume_retries_the_failed_lines_only(
    sandbox_factory: Callable[..., EmbeddedSandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**_logged())
    out = tmp_path / "out.jsonl"
    source = _input(tmp_path, 4)
    good = {"id": 1, "model": MODEL, "content": "x", "finish_reason": "stop", "usage": None}
    bad = {**good, "id": 2, "content": None, "error": {"type": "server"}}
    before = json.dumps({**good, "error": None}) + "\n" + json.dumps(bad) + "\nnot a result\n"
    out.write_text(before)
    r = batch(sb, str(source), "--rpm", "6000", "-o", str(out), "--resume", "--json")
    assert r.code == 0, r.stderr
    assert _summary(r)["skipped"] == 1
    warning = json.loads(r.stderr.splitlines()[0])["warning"]["message"]
    assert "1 line(s) of" in warning and "not batch results" in warning
    text = out.read_text()
    assert text.startswith(before)  # appended, nothing rewritten
    assert sorted(json.loads(x)["id"] for x in text[len(before) :].splitlines()) == [2, 3, 4]
    assert len(_chat_lines(_log(sb), 200)) == 3


# --- input errors, output rules, dry run -----------------------------------------------------


def test_a_malformed_line_stops_everything_before_a_request(
    sandbox_factory: Callable[..., EmbeddedSandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**_logged())
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "fine"}\n{"prompt": "a", "temperature": 9}\nnot json\n')
    r = batch(sb, str(source), "--json")
    assert r.code == 2
    err = r.error()
    assert err["type"] == "usage"
    assert "line 2: temperature must be between 0 and 2" in err["message"]
    assert "line 3: not valid JSON" in err["message"]
    assert r.stdout == ""
    assert _log(sb) == []  # nothing was sent, not even the model check


def test_skip_invalid_sends_the_rest_and_writes_each_invalid_line_with_its_error(
    sandbox: EmbeddedSandbox, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "prompt": "fine"}\n{"id": "b", "prompt": 3}\n')
    r = batch(sandbox, str(source), "--skip-invalid", "--rpm", "6000")
    assert r.code == 11, r.stderr
    docs = {d["id"]: d for d in map(json.loads, r.stdout.splitlines())}
    assert docs["a"]["error"] is None and docs["a"]["content"]
    assert docs["b"]["error"]["type"] == "usage"
    assert docs["b"]["error"]["message"] == "line 2: prompt must be a non-empty string"
    assert "1 succeeded, 0 failed, 1 invalid" in r.stderr


def test_plain_lines_from_stdin(sandbox: EmbeddedSandbox) -> None:
    r = batch(sandbox, "-", "--lines", "--rpm", "6000", input="first\n\nthird\n")
    assert r.code == 0, r.stderr
    docs = [json.loads(x) for x in r.stdout.splitlines()]
    assert sorted(d["id"] for d in docs) == [1, 3]
    assert all(d["model"] == MODEL and d["error"] is None for d in docs)
    assert r.stderr.startswith("batch: 2 succeeded, 0 failed")
    assert len(r.stderr.splitlines()) == 1  # not a terminal: one summary line, nothing else


def test_dry_run_sends_nothing_and_estimates(
    sandbox_factory: Callable[..., EmbeddedSandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**_logged())
    r = batch(sb, str(_input(tmp_path, 10, max_tokens=100)), "--dry-run", "--rpm", "30", "--json")
    assert r.code == 0, r.stderr
    est = r.doc
    assert est["requests"] == 10 and est["rpm"] == 30
    assert est["seconds"] == 18.0  # nine gaps of two seconds
    low, high = est["estimated_credits"]["min"], est["estimated_credits"]["max"]
    # haiku: 10 credits per 1M prompt tokens, 50 per 1M completion tokens
    assert low == pytest.approx(est["prompt_tokens_estimate"] * 10 / 1e6)
    assert high == pytest.approx(low + 10 * 100 * 50 / 1e6)
    assert _log(sb) == []


def test_output_rules(sandbox: EmbeddedSandbox, tmp_path: Path) -> None:
    source = str(_input(tmp_path, 1))
    r = batch(sandbox, source, "--resume")
    assert r.code == 2 and "--resume needs -o OUTPUT" in r.stderr
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": 1}\n')
    r = batch(sandbox, source, "-o", str(out))
    assert r.code == 2 and "already has results" in r.stderr
    assert out.read_text() == '{"id": 1}\n'  # not overwritten
    r = batch(sandbox, source, "-o", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert r.code == 2 and "Cannot write" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="pty")
def test_on_a_terminal_a_progress_bar_then_the_summary(
    sandbox: EmbeddedSandbox, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    import os
    import pty

    from support.vt import render

    out = tmp_path / "out.jsonl"
    env = {**subprocess_env, "MODELSTACK_API_KEY": sandbox.api_key, "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mscli", "--base-url", sandbox.base_url, "batch", "-m", MODEL,
         str(_input(tmp_path, 10)), "--rpm", "6000", "-o", str(out)],
        stdin=slave, stdout=slave, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    raw = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the program closed the terminal
            break
        if not data:
            break
        raw += data
    os.close(master)
    assert proc.wait(timeout=60) == 0
    drawn = raw.decode("utf-8", "replace")
    assert "10/10" in drawn and "0 failed · " in drawn and "/6000 RPM" in drawn
    screen = render(raw, 100, 40).text()
    assert "batch: 10 succeeded, 0 failed" in screen
    assert "━" not in screen  # the bar was erased once the batch ended
    assert len(_out(out)) == 10


def test_a_rejected_key_stops_before_any_completion_is_sent(
    sandbox_factory: Callable[..., EmbeddedSandbox], tmp_path: Path
) -> None:
    sb = sandbox_factory(**_logged())
    out = tmp_path / "out.jsonl"
    r = batch(
        sb,
        str(_input(tmp_path, 5)),
        "--rpm",
        "6000",
        "-o",
        str(out),
        "--json",
        key="sk_test_invalid",
    )
    assert r.code == 3
    assert r.error()["type"] == "auth.invalid"
    assert out.read_text() == ""
    logged = _log(sb)
    assert logged and all("/v1/models" in ln for ln in logged)  # the model check found it
    assert not [ln for ln in logged if "chat/completions" in ln]


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_the_batch_quietly(
    sandbox: EmbeddedSandbox, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**subprocess_env, "MODELSTACK_API_KEY": sandbox.api_key}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mscli", "--base-url", sandbox.base_url, "batch", "-m", MODEL,
         str(_input(tmp_path, 30)), "--rpm", "1200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["error"] is None
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err


def test_a_batch_on_stdin_is_read_whole_past_the_chat_message_limit(
    sandbox: EmbeddedSandbox,
) -> None:
    """Stdin holds many messages: the 4 MiB limit of one chat message must not cut it short."""
    from mscli.limits import INPUT_HARD_BYTES

    row = json.dumps({"prompt": "x" * 1000}) + "\n"
    lines = INPUT_HARD_BYTES // len(row) + 500
    r = batch(sandbox, "-", "--dry-run", "--rpm", "6000", "--json", input=row * lines)
    assert r.code == 0, r.stderr
    assert r.doc["requests"] == lines
