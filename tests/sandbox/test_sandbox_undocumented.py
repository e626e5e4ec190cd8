"""One stance for what ModelStack does not document (issue 11 item 10): the sandbox refuses it
with a 400 that names it, whatever it is (a parameter, a message field, a role, a content shape),
never ignores it silently. Its own extensions (`stream_options`, `max_completion_tokens`) are
accepted unless the sandbox runs strict (`stream_options=False`)."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_http import call, chat

USER = {"role": "user", "content": "Hi"}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"n": 2}, "n"),
        ({"seed": 1}, "seed"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"logprobs": True}, "logprobs"),
        ({"user": "me"}, "user"),
        ({"messages": [{**USER, "name": "bob"}]}, "messages[0].name"),
        ({"messages": [{"role": "developer", "content": "x"}, USER]}, "developer"),
        ({"messages": [{"role": "tool", "content": "x"}, USER]}, "tool"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}, "content"),
    ],
)
def test_undocumented_input_is_a_400_that_names_it(
    sandbox: Any, fields: dict[str, Any], named: str
) -> None:
    r = chat(sandbox, **fields)
    assert r.status == 400
    assert r.error["type"] == "invalid_request_error"
    assert named in r.error["message"]


def test_the_documented_fields_and_the_extensions_are_accepted(sandbox: Any) -> None:
    r = chat(
        sandbox,
        messages=[{"role": "system", "content": "Be brief."}, USER],
        stream=False,
        temperature=0.5,
        max_tokens=5,
        top_p=0.9,
        stop=["\n\n"],
    )
    assert r.status == 200, r.body
    assert chat(sandbox, max_completion_tokens=5).status == 200
    assert chat(sandbox, stream=True, stream_options={"include_usage": True}).status == 200


@pytest.mark.parametrize(
    "fields",
    [{"stream": True, "stream_options": {"include_usage": True}}, {"max_completion_tokens": 5}],
)
def test_a_strict_sandbox_refuses_its_extensions_too(
    sandbox_factory: Any, fields: dict[str, Any]
) -> None:
    strict = sandbox_factory(stream_options=False)
    r = chat(strict, **fields)
    assert r.status == 400
    assert next(iter(k for k in fields if k != "stream")) in r.error["message"]
    assert call(strict, "GET", "models").status == 200
