"""Roles: `[roles.NAME]` tables in config.toml, `mscli chat --role NAME` (explicit flags win) and
`mscli roles`, end to end against the sandbox through main()."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.chat_run import MODEL, history_json, run

if TYPE_CHECKING:
    from mscli.sandbox.embedded import EmbeddedSandbox

ROLES = """
[roles.reviewer]
system = "You review code tersely."
model = "gpt-5-mini"
temperature = 0.2
max_tokens = 5

[roles.french]
system = "Answer in French"
"""


def _config(text: str) -> Path:
    path = Path(os.environ["MSCLI_CONFIG_DIR"]) / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _chat(sb: EmbeddedSandbox, *args: str) -> tuple[int, str]:
    res = run(
        "--base-url", sb.base_url, "chat", *args, env={"MODELSTACK_API_KEY": sb.api_key}
    )  # fmt: skip
    return res.code, " ".join(res.stderr.replace("│", " ").split())


def _sent() -> list[dict[str, object]]:
    """The model and parameters of every exchange sent (and so saved), oldest first."""
    convs = sorted(c["id"] for c in history_json("list")["data"])
    return [
        {"model": e["model"], **e["params"]}
        for cid in convs
        for e in history_json("show", str(cid))["exchanges"]
    ]


def test_a_role_sets_system_model_temperature_and_max_tokens(sandbox: EmbeddedSandbox) -> None:
    _config(ROLES)
    code, err = _chat(sandbox, "--role", "reviewer", "Hello")
    assert code == 0, err
    code, err = _chat(sandbox, "-r", "french", "-m", MODEL, "--max-tokens", "3", "Hello")
    assert code == 0, err
    assert _sent() == [
        {"model": "gpt-5-mini", "system": "You review code tersely.", "temperature": 0.2,
         "max_tokens": 5},
        {"model": MODEL, "system": "Answer in French", "max_tokens": 3},
    ]  # fmt: skip


def test_explicit_flags_win_over_the_role(sandbox: EmbeddedSandbox) -> None:
    _config(ROLES)
    args = ("-m", MODEL, "-s", "Be brief", "--temperature", "1.5", "--max-tokens", "4")
    code, err = _chat(sandbox, "--role", "reviewer", *args, "Hello")
    assert code == 0, err
    assert _sent() == [{"model": MODEL, "system": "Be brief", "temperature": 1.5, "max_tokens": 4}]


def test_an_unknown_role_is_a_usage_error_naming_the_roles(sandbox: EmbeddedSandbox) -> None:
    path = _config(ROLES)
    code, err = _chat(sandbox, "-r", "reviwer", "-m", MODEL, "Hello")
    assert code == 2
    assert f"There is no role 'reviwer' in {path} (roles: reviewer, french)" in err
    assert run("history", "list", "--json").code != 0 or _sent() == []


@pytest.mark.parametrize(
    ("table", "says"),
    [
        (
            "temperature = 3",
            "temperature of role 'bad' in {path} must be a number from 0 to 2, not 3",
        ),
        (
            "max_tokens = 0",
            "max_tokens of role 'bad' in {path} must be a whole number of at least 1",
        ),
        ("max_tokens = 2.5", "max_tokens of role 'bad' in {path} must be a whole number"),
        ('system = "  "', "system of role 'bad' in {path} must be text that is not blank"),
        ('model = "gpt 5"', "model of role 'bad' in {path} must be non-empty text without spaces"),
        ("temprature = 1", "role 'bad' in {path} has an unknown key 'temprature'"),
    ],
)
def test_a_bad_role_is_a_config_error_naming_file_role_and_key(
    sandbox: EmbeddedSandbox, table: str, says: str
) -> None:
    path = _config(ROLES + f"\n[roles.bad]\n{table}\n")
    code, err = _chat(sandbox, "-r", "french", "-m", MODEL, "Hello")
    assert code == 10
    assert says.format(path=path) in err
    res = run("roles", "--json")
    assert res.code == 10
    error = json.loads(res.stderr)["error"]
    assert error["message"].startswith(says.format(path=path))
    assert error["details"] == {"path": str(path)}


def test_chat_without_a_role_ignores_the_roles(sandbox: EmbeddedSandbox) -> None:
    _config("[roles.bad]\ntemperature = 9\n")
    code, err = _chat(sandbox, "-m", MODEL, "--max-tokens", "3", "Hello")
    assert code == 0, err


def test_roles_lists_them_as_a_table_and_as_json() -> None:
    res = run("roles")
    assert res.code == 0 and "No roles yet" in res.stderr
    assert run("roles", "--json").stdout == b'{\n  "object": "list",\n  "data": []\n}\n'
    _config(ROLES)
    res = run("roles")
    assert res.code == 0, res.stderr
    lines = res.text.splitlines()
    assert lines[0].split() == ["ROLE", "MODEL", "TEMPERATURE", "MAX", "TOKENS", "SYSTEM"]
    assert lines[1].split() == ["reviewer", "gpt-5-mini", "0.2", "5", "You", "review", "code",
                                "tersely."]  # fmt: skip
    assert lines[2].split() == ["french", "Answer", "in", "French"]
    doc = json.loads(run("--json", "roles").stdout)
    assert doc["data"] == [
        {"name": "reviewer", "system": "You review code tersely.", "model": "gpt-5-mini",
         "temperature": 0.2, "max_tokens": 5},
        {"name": "french", "system": "Answer in French", "model": None, "temperature": None,
         "max_tokens": None},
    ]  # fmt: skip
