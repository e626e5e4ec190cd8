"""`mscli sandbox serve` and `mscli sandbox keys`, in-process and in a subprocess."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from mscli.commands.sandbox import app
from mscli.sandbox.keys import TABLE

runner = CliRunner()


def test_keys_lists_every_row():
    r = runner.invoke(app, ["keys"], catch_exceptions=False)
    assert r.exit_code == 0
    for row in TABLE:
        assert row.key in r.output
    assert re.search(r"sk_test_invalid\s+3\s+401", r.output)


def test_keys_json():
    r = runner.invoke(app, ["keys", "--json"], catch_exceptions=False)
    assert r.exit_code == 0
    rows = json.loads(r.output)["keys"]
    assert [x["key"] for x in rows] == [row.key for row in TABLE]
    by_key = {x["key"]: x for x in rows}
    assert by_key["sk_test_rate_limited"]["exit_code"] == 5
    assert by_key["sk_test_no_credits"]["exit_code"] == 4
    assert by_key["sk_test_cutoff"]["exit_code"] == 9
    assert by_key["sk_test_server_error"]["exit_code"] == 7
    assert by_key["sk_test_max"]["plan"] == "max"


@pytest.mark.parametrize(
    "argv",
    [("--json", "sandbox", "keys"), ("sandbox", "keys", "--json")],
    ids=["global", "own"],
)
def test_keys_json_through_the_real_cli(argv: tuple[str, ...]) -> None:
    from support.cli import run

    r = run(*argv)
    assert r.code == 0, r.stderr
    assert [x["key"] for x in r.doc["keys"]] == [row.key for row in TABLE]
    assert r.stderr == ""


def test_module_top_imports_no_server():
    code = (
        "import sys; import mscli.commands.sandbox; "
        "bad = [m for m in ('mscli.sandbox.server', 'http.server', 'httpx', 'pydantic') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


class Served:
    def __init__(self, proc: subprocess.Popen, base_url: str, key: str, banner: str) -> None:
        self.proc, self.base_url, self.api_key, self.banner = proc, base_url, key, banner


def serve(env, *args: str) -> Served:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mscli", "sandbox", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    banner = "".join(lines)
    url = re.search(r"listening on (http://\S+/v1)", banner)
    key = re.search(r"Test key: (sk_test_\w+)", banner)
    if not (url and key):
        proc.kill()
        pytest.fail(f"no banner: {banner!r} {proc.stderr.read()!r}")
    return Served(proc, url.group(1), key.group(1), banner)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_url_and_key_serves_and_stops_cleanly(subprocess_env, sig):
    from sandbox_http import call, chat

    s = serve(subprocess_env, "--plan", "max", "--seed", "4")
    try:
        assert "curl" in s.banner and "MODELSTACK_API_KEY=" in s.banner
        assert call(s, "GET", "balance").json()["plan"] == "max"
        assert chat(s, "hi").status == 200
        assert call(s, "GET", "nope").status == 404
    finally:
        s.proc.send_signal(sig)
        _out, err = s.proc.communicate(timeout=10)
    assert s.proc.returncode == 0, err
    assert "Traceback" not in err
    assert '"POST /v1/chat/completions" 200' in err, err  # one log line per request
    assert "Sandbox stopped." in err


@pytest.mark.slow
def test_serve_on_a_non_loopback_host_warns(subprocess_env):
    s = serve(subprocess_env, "--host", "0.0.0.0", "--quiet")
    s.proc.send_signal(signal.SIGINT)
    _, err = s.proc.communicate(timeout=10)
    assert "Warning: listening on 0.0.0.0" in " ".join(err.split())
    assert s.base_url.startswith("http://127.0.0.1:")
    assert s.proc.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("where", ["after", "before"])
def test_serve_json_prints_one_line_a_script_can_read(subprocess_env, where):
    """`--port 0` in a script: the URL and key come as one JSON line, not prose."""
    import json

    from sandbox_http import chat

    argv = ["sandbox", "serve", "--port", "0", "--quiet"]
    argv = [*argv, "--json"] if where == "after" else ["--json", *argv]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mscli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env,
    )
    try:
        doc = json.loads(proc.stdout.readline())
        assert set(doc) == {"base_url", "api_key", "plan", "pid"} and doc["pid"] == proc.pid
        assert chat(Served(proc, doc["base_url"], doc["api_key"], ""), "hi").status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out == "" and err == ""


@pytest.mark.slow
def test_openai_sdk_against_sandbox_serve(subprocess_env):
    """Issue 3: the official `openai` package works against `mscli sandbox serve` (the process a
    user starts), not only against the in-process server the other SDK tests use."""
    openai = pytest.importorskip("openai")
    s = serve(subprocess_env, "--quiet")
    try:
        client = openai.OpenAI(api_key=s.api_key, base_url=s.base_url, max_retries=0, timeout=20)
        ids = [m.id for m in client.models.list()]
        assert "claude-sonnet-4-5" in ids and "gemini-2.5-flash" in ids
        stream = client.chat.completions.create(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": "Hello from the SDK"}],
            stream=True,
            max_tokens=30,
            stream_options={"include_usage": True},
        )
        parts, finish, usage = [], None, None
        for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage:
                usage = chunk.usage
        assert len(parts) > 1 and "".join(parts).strip()
        assert finish == "length" and usage is not None and usage.completion_tokens == 30
    finally:
        s.proc.send_signal(signal.SIGINT)
        _out, err = s.proc.communicate(timeout=10)
    assert s.proc.returncode == 0, err
    assert "Traceback" not in err


def test_the_readme_lists_every_serve_option():
    from pathlib import Path

    import typer.main

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Testing your scripts against the sandbox", 1)[1].split("\n## ", 1)[0]
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    names = [n for p in serve.params for n in p.opts if n not in ("--help", "-h")]
    assert len(names) >= 13
    missing = [n for n in names if not re.search(rf"`{re.escape(n)}[ `]", section)]
    assert not missing, f"README's sandbox section does not list {missing}"


def test_a_port_in_use_is_a_local_problem_not_a_usage_mistake() -> None:

    from support.cli import run

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run("sandbox", "serve", "--port", str(port))
        assert r.code == 10, r.stderr
        text = " ".join(r.stderr.split())
        assert f"Cannot listen on 127.0.0.1:{port}" in text and "--port 0" in text
        assert "mscli --help" not in text
        r = run("--json", "sandbox", "serve", "--port", str(port))
        assert r.code == 10 and r.error()["type"] == "config.port"
