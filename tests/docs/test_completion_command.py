"""`mscli completion show|install [SHELL]`: the committed scripts, installed where shells look."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer._click.shell_completion import get_completion_class
from typer.testing import CliRunner

from mscli.app import app, main
from mscli.commands import completion

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_shell_classes_are_registered_despite_add_completion_false() -> None:
    for shell in ("bash", "zsh", "fish", "powershell"):
        assert get_completion_class(shell) is not None


@pytest.mark.parametrize("shell", completion.SHELL_NAMES)
def test_show_prints_the_committed_file(shell: str) -> None:
    result = runner.invoke(app, ["completion", "show", shell])
    assert result.exit_code == 0, result.output
    committed = (ROOT / "completions" / completion.COMMITTED_FILES[shell]).read_text(
        encoding="utf-8"
    )
    assert result.stdout == committed


def test_show_bash_equals_committed_file_byte_for_byte(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["completion", "show", "bash"])
    assert exc.value.code in (0, None)
    assert capsys.readouterr().out == (ROOT / "completions" / "mscli.bash").read_text(
        encoding="utf-8"
    )


def test_scripts_call_back_mscli_with_the_completion_variable() -> None:
    for shell in completion.SHELL_NAMES:
        text = completion.script(shell)
        assert "_MSCLI_COMPLETE" in text and f"complete_{shell}" in text
    zsh = completion.script("zsh")
    assert zsh.startswith("#compdef mscli\n")  # first line, for compinit's autoload
    assert "loadautofunc" in zsh and "compdef _mscli_completion mscli" in zsh


def test_show_detects_the_shell_from_SHELL(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    result = runner.invoke(app, ["completion", "show"])
    assert result.exit_code == 0
    assert result.stdout == completion.script("zsh")
    monkeypatch.setenv("SHELL", "/opt/homebrew/bin/fish")
    assert runner.invoke(app, ["completion", "show"]).stdout == completion.script("fish")
    assert runner.invoke(app, ["completion", "show", "pwsh"]).stdout == completion.script(
        "powershell"
    )


def test_unknown_or_undetectable_shell_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["completion", "show", "tcsh"])
    assert exc.value.code == 2
    assert "tcsh" in capsys.readouterr().err
    monkeypatch.setenv("SHELL", "/bin/sh")
    with pytest.raises(SystemExit) as exc:
        main(["completion", "install"])
    assert exc.value.code == 2
    assert "SHELL" in capsys.readouterr().err


def test_install_bash(isolation: Path) -> None:
    result = runner.invoke(app, ["completion", "install", "bash"])
    assert result.exit_code == 0, result.output
    path = Path(os.environ["XDG_DATA_HOME"]) / "bash-completion" / "completions" / "mscli"
    assert path.read_text(encoding="utf-8") == completion.script("bash")
    assert f"Installed bash completion in {path}" in result.stdout
    again = runner.invoke(app, ["completion", "install", "bash"])
    assert "Already up to date" in again.stdout
    path.write_text("old script")
    assert "Updated" in runner.invoke(app, ["completion", "install", "bash"]).stdout
    assert path.read_text(encoding="utf-8") == completion.script("bash")


def test_install_bash_default_location_without_xdg(
    isolation: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.delenv("BASH_COMPLETION_USER_DIR", raising=False)
    assert (
        completion.install_path("bash", dict(os.environ), home=isolation)
        == isolation / ".local/share/bash-completion/completions/mscli"
    )


def test_install_zsh_gives_the_fpath_hint(isolation: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL", "/bin/zsh")
    result = runner.invoke(app, ["completion", "install"])
    assert result.exit_code == 0, result.output
    path = isolation / ".zfunc" / "_mscli"
    assert path.read_text(encoding="utf-8") == completion.script("zsh")
    assert "fpath=(~/.zfunc $fpath)" in result.stdout
    assert not (isolation / ".zshrc").exists()  # mscli never edits rc files


def test_install_fish(isolation: Path) -> None:
    result = runner.invoke(app, ["completion", "install", "fish"])
    assert result.exit_code == 0, result.output
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "fish" / "completions" / "mscli.fish"
    assert path.read_text(encoding="utf-8") == completion.script("fish")


def test_install_powershell_prints_the_profile_line(isolation: Path) -> None:
    result = runner.invoke(app, ["completion", "install", "powershell"])
    assert result.exit_code == 0, result.output
    assert completion.POWERSHELL_PROFILE_LINE in result.stdout


def test_install_json(isolation: Path) -> None:
    result = runner.invoke(app, ["--json", "completion", "install", "fish"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (
        doc["shell"] == "fish"
        and doc["action"] == "installed"
        and doc["path"].endswith("mscli.fish")
    )
