"""The root group loads a command's module only when that command is looked up to run or show its
help (`app.LazyGroup`); `mscli --help` lists the commands from `app.COMMANDS`, kept in step here."""

from __future__ import annotations

import inspect
import pkgutil
import subprocess
import sys

import pytest
import typer

import mscli.commands
from mscli.app import COMMANDS, command, load_command

PROBE = """
import sys
sys.argv = ["mscli", *{args!r}]
from mscli.app import main
try:
    main()
except SystemExit:
    pass
loaded = sorted(m for m in sys.modules if m.startswith("mscli.commands.") and "._" not in m)
sys.stderr.write("LOADED=" + ",".join(loaded) + "\\n")
"""


def _loaded_commands(args: list[str], env: dict[str, str]) -> tuple[str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "100", "NO_COLOR": "1"},
        timeout=60,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("LOADED=")]
    assert len(lines) == 1, proc.stderr
    return proc.stdout, [m for m in lines[0][len("LOADED=") :].split(",") if m]


def test_the_table_names_every_command_module() -> None:
    modules = {m.name for m in pkgutil.iter_modules(mscli.commands.__path__)}
    assert {module for module, _, _ in COMMANDS.values()} == {
        m for m in modules if not m.startswith("_")
    }


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_help_is_the_first_paragraph_of_the_commands_own(name: str) -> None:
    cmd = load_command(name)
    assert cmd.name == name
    own = inspect.cleandoc(cmd.short_help or cmd.help or "").split("\n\n")[0].strip()
    assert COMMANDS[name][2] == own


def test_root_help_is_the_same_with_every_command_loaded(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    root = command()
    ctx = typer.Context(root, info_name="mscli", **root.context_settings)
    root.get_help(ctx)
    listed = capsys.readouterr().out
    for name in root.list_commands(ctx):
        assert root.get_command(ctx, name) is root.commands[name]  # loaded (a listing loads none)
    root.get_help(ctx)
    assert capsys.readouterr().out == listed
    assert all(name in listed for name in COMMANDS)


def test_root_help_lists_every_command_and_loads_none(subprocess_env: dict[str, str]) -> None:
    out, loaded = _loaded_commands(["--help"], subprocess_env)
    assert loaded == []
    for name, (_, _, text) in COMMANDS.items():
        assert f"│ {name} " in out
        assert text.split()[0] in out


def test_a_command_loads_only_its_own_module(subprocess_env: dict[str, str]) -> None:
    out, loaded = _loaded_commands(["config", "path"], subprocess_env)
    assert loaded == ["mscli.commands.config_cmd"]
    assert out.strip()
    _, loaded = _loaded_commands(["chat", "--help"], subprocess_env)
    assert loaded == ["mscli.commands.chat"]


def test_an_unknown_command_still_gets_a_suggestion(subprocess_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mscli", "chta"],
        capture_output=True,
        text=True,
        env={**subprocess_env, "COLUMNS": "200", "NO_COLOR": "1"},
        timeout=60,
    )
    assert proc.returncode == 2
    assert "No such command 'chta'. Did you mean 'chat'?" in proc.stderr
