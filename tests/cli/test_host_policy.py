"""The host policy (api.urls.decide_host), end to end: every command refuses a look-alike of
api.modelstack.cc before any connection, unless trusted_host vouches for it; ModelStack's key
rules apply on its own host only, so another OpenAI-compatible gateway (a LiteLLM proxy with its
`sk-…` virtual keys) works for models and chat, and its auth advice names no ModelStack dashboard.

Nothing here reaches beyond this machine: the look-alike hosts are only ever reached through a
proxy on a loopback port, which records any connection.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.cli import run
from support.loopback import closed_port

KEY = "sk_test_wellformed12345"
LOOKALIKES = [
    "https://api.modelstack.co/v1",  # another TLD
    "https://api.modelstak.cc/v1",  # a typo
    "https://\u0430pi.modelstack.cc/v1",  # a Cyrillic a
    "https://xn--pi-6kc.modelstack.cc/v1",  # the same host in punycode
    "https://api.m0delstack.cc/v1",  # a digit for a letter
    "https://modelstack.cc/v1",  # the website, not the API
]
COMMANDS = [
    ["chat", "-m", "gpt-4o", "--no-log", "hi"],
    ["models"],
    ["models", "check", "gpt-4o"],
    ["keys", "check"],
    ["balance"],
    ["doctor"],
]


@pytest.fixture()
def watched_proxy() -> Iterator[tuple[str, socket.socket]]:
    """A listening loopback socket used as the proxy: any connection attempt shows up in its
    backlog (nothing is ever answered)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", sock
    finally:
        sock.close()


def _connections(sock: socket.socket) -> int:
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


@pytest.mark.parametrize("url", LOOKALIKES)
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_refuses_a_lookalike_without_connecting(
    url: str, args: list[str], watched_proxy: tuple[str, socket.socket]
) -> None:
    proxy, sock = watched_proxy
    env = {"MODELSTACK_API_KEY": KEY, "HTTPS_PROXY": proxy}
    r = run("--base-url", url, "--max-retries", "0", *args, env=env)
    assert r.code == 10, r.output
    text = " ".join(r.output.split())
    assert "your key would go to it" in text and "trusted_host" in text
    assert _connections(sock) == 0
    assert KEY not in r.output


def test_json_error_names_the_lookalike() -> None:
    r = run("--json", "--base-url", LOOKALIKES[0], "models", env={"MODELSTACK_API_KEY": KEY})
    assert r.code == 10
    err = r.error()
    assert err["type"] == "config.base_url" and "api.modelstack.co" in err["message"]


def test_trusted_host_is_an_explicit_per_host_opt_in() -> None:
    """trusted_host names exactly one host: that host is contacted (here: a proxy on a closed
    loopback port, so the run ends in a connection error), with a warning; another look-alike is
    still refused."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {"MODELSTACK_API_KEY": KEY, "HTTPS_PROXY": proxy}
    run("config", "set", "trusted_host", "api.modelstack.co")
    r = run("--base-url", LOOKALIKES[0], "--max-retries", "0", "models", env=env)
    assert r.code == 8, r.output
    assert "looks like ModelStack's API host" in " ".join(r.stderr.split())
    r = run("--base-url", LOOKALIKES[1], "--max-retries", "0", "models", env=env)
    assert r.code == 10
    doc = run("--json", "--base-url", LOOKALIKES[0], "doctor", "--only", "base_url", env=env).json()
    check = next(c for c in doc["checks"] if c["name"] == "base_url")
    assert check["status"] == "warn" and "trusted_host" in check["detail"]


# --- another OpenAI-compatible gateway -------------------------------------------------------

GATEWAY_KEY = "sk-litellm-virtual-key-0001"


class _Gateway(BaseHTTPRequestHandler):
    """A LiteLLM-like proxy: its own `sk-…` keys, /v1/models and streamed /v1/chat/completions."""

    def log_message(self, *args: object) -> None:
        pass

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {GATEWAY_KEY}":
            return True
        body = json.dumps(
            {"error": {"message": "Invalid proxy server token passed", "type": "auth_error"}}
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        body = json.dumps({"object": "list", "data": [{"id": "local-llama", "object": "model"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if not self._authorised():
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for word in ("Hello", " from", " the", " gateway"):
            chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
            chunk["model"] = request.get("model")
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture()
def gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_gateway_with_its_own_key_format_works_for_models_and_chat(gateway: str) -> None:
    env = {"MODELSTACK_API_KEY": GATEWAY_KEY}
    r = run("--base-url", gateway, "models", "--ids", env=env)
    assert (r.code, r.stdout) == (0, "local-llama\n"), r.output
    r = run("--base-url", gateway, "chat", "-m", "local-llama", "hi", env=env)
    assert (r.code, r.stdout) == (0, "Hello from the gateway"), r.output
    assert "warning" not in r.stderr.lower()
    assert GATEWAY_KEY not in r.output


def test_keys_set_stores_a_gateway_key_for_a_gateway_profile(gateway: str) -> None:
    run("config", "set", "base_url", gateway)
    r = run("keys", "set", input=GATEWAY_KEY)
    assert r.code == 0, r.output
    assert run("models", "--ids").stdout == "local-llama\n"


def test_auth_advice_for_another_gateway_names_no_modelstack_dashboard(gateway: str) -> None:
    r = run("--base-url", gateway, "models", env={"MODELSTACK_API_KEY": "sk-wrong-0000000000"})
    assert r.code == 3, r.output
    text = " ".join(r.stderr.split())
    assert "127.0.0.1 is not ModelStack" in text
    assert "dashboard" not in text.lower() and "sk_" not in text


def test_modelstack_host_still_refuses_a_malformed_key_locally() -> None:
    proxy = f"http://127.0.0.1:{closed_port()}"
    r = run("models", env={"MODELSTACK_API_KEY": GATEWAY_KEY, "HTTPS_PROXY": proxy})
    assert r.code == 3, r.output
    assert "sk_" in r.stderr


def test_config_set_base_url_applies_the_same_policy() -> None:
    r = run("config", "set", "base_url", LOOKALIKES[0])
    assert r.code == 10 and "trusted_host" in " ".join(r.stderr.split())
    assert run("config", "get", "base_url").stdout.strip() == "https://api.modelstack.cc/v1"
    assert run("config", "set", "trusted_host", "api.modelstack.co").code == 0
    assert run("config", "set", "base_url", LOOKALIKES[0]).code == 0
    assert run("config", "get", "base_url").stdout.strip() == LOOKALIKES[0]
