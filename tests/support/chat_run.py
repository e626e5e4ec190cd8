"""Helpers for the chat/history CLI tests: run `mscli` in-process through main(), ask the sandbox
for its non-streamed reply (the reference the streamed bytes must equal)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from support.cli import run as run_cli

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

MODEL = "claude-haiku-4-5"


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8")


def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    """`mscli ARGS` in-process through main() (support.cli.run), stdout kept as bytes."""
    r = run_cli(*args, input=input, env=env)
    return Result(r.code, r.stdout_bytes, r.stderr)


def chat(
    sb: EmbeddedSandbox, *args: str, key: str | None = None, input: str | bytes | None = None
) -> Result:
    return run(
        "--base-url",
        sb.base_url,
        "chat",
        "-m",
        MODEL,
        *args,
        input=input,
        env={"MODELSTACK_API_KEY": key or sb.api_key},
    )


def completion(
    sb: EmbeddedSandbox, messages: list[dict[str, str]], **params: Any
) -> dict[str, Any]:
    """The sandbox's non-streamed answer for the same conversation (the reference for byte checks)."""
    body = {"model": MODEL, "messages": messages, "stream": False, **params}
    r = httpx.post(
        sb.url("chat/completions"), json=body, headers={"Authorization": f"Bearer {sb.new_key()}"}
    )
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def content(sb: EmbeddedSandbox, prompt: str, **params: Any) -> str:
    return str(
        completion(sb, [{"role": "user", "content": prompt}], **params)["choices"][0]["message"][
            "content"
        ]
    )


def history_json(*args: str) -> Any:
    res = run("history", *args, "--json")
    assert res.code == 0, res.stderr
    return json.loads(res.stdout)


def flat(text: str) -> str:
    return " ".join(text.split())
