"""Tab completion through the real entry point: `python -m mscli` started the way the generated
scripts start it at tab time (`_MSCLI_COMPLETE=complete_<shell>` plus the shell's variables), with a
partial command line. Values come from a temporary models cache, config file and history db."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mscli import catalogue, completers
from support.paths import run_paths

ROOT = Path(__file__).resolve().parents[2]
CACHED = ["gpt-test-one", "gpt-test-two", "claude-test-x"]
CONFIG = """
active_profile = "work"

[profiles.default]
base_url = "https://api.modelstack.cc/v1"

[profiles.work]
base_url = "https://gateway.example.com/v1"

[profiles.staging]

[roles.reviewer]
model = "gpt-5.1"

[roles.french]
system = "Answer in French"
"""


@pytest.fixture()
def state(isolation: Path) -> Path:
    """A models cache and a config file with three profiles, in the isolated home."""
    catalogue.save(
        run_paths().cache_dir,
        "https://api.modelstack.cc/v1",
        [{"id": i, "object": "model"} for i in CACHED],
    )
    config_dir = Path(os.environ["MSCLI_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text(CONFIG, encoding="utf-8")
    return isolation


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "mscli"], capture_output=True, text=True, env=env, timeout=60
    )


def bash(line: str) -> list[str]:
    """Complete `line` as bash does: COMP_WORDS and the index of the word under the cursor."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    proc = _run({"_MSCLI_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def zsh(line: str) -> str:
    proc = _run({"_MSCLI_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": line})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fish(line: str) -> list[str]:
    proc = _run(
        {
            "_MSCLI_COMPLETE": "complete_fish",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
            "_TYPER_COMPLETE_ARGS": line,
        }
    )
    assert proc.returncode == 0, proc.stderr
    return [row.split("\t")[0] for row in proc.stdout.splitlines()]


def powershell(line: str, word: str) -> list[str]:
    proc = _run(
        {
            "_MSCLI_COMPLETE": "complete_powershell",
            "_TYPER_COMPLETE_ARGS": line,
            "_TYPER_COMPLETE_WORD_TO_COMPLETE": word,
        }
    )
    assert proc.returncode == 0, proc.stderr
    return [row.split(":::")[0] for row in proc.stdout.splitlines()]


# --- bash ----------------------------------------------------------------------------------------


def test_bash_commands(state: Path) -> None:
    assert bash("mscli ch") == ["chat"]
    assert {"chat", "models", "keys", "config", "completion", "doctor"} <= set(bash("mscli "))


def test_bash_options(state: Path) -> None:
    assert bash("mscli --sa") == ["--sandbox"]
    assert "--max-retries" in bash("mscli --max")


def test_bash_subcommands(state: Path) -> None:
    assert bash("mscli models ch") == ["check"]
    assert bash("mscli completion ") == ["show", "install"]


def test_bash_model_ids_from_the_cache(state: Path) -> None:
    assert bash("mscli models check gpt-") == ["gpt-test-one", "gpt-test-two"]
    assert bash("mscli models check ") == CACHED


def test_bash_profiles_from_the_config_file(state: Path) -> None:
    assert bash("mscli --profile ") == ["default", "work", "staging"]
    assert bash("mscli -p st") == ["staging"]


def test_bash_role_names_from_the_config_file(state: Path) -> None:
    assert bash("mscli chat --role ") == ["reviewer", "french"]
    assert bash("mscli chat -r fr") == ["french"]
    assert completers.complete_role("r") == [("reviewer", "role, gpt-5.1")]


def test_bash_shells(state: Path) -> None:
    assert bash("mscli completion install ") == ["bash", "zsh", "fish", "powershell"]
    assert bash("mscli completion show p") == ["powershell"]


def test_bash_doctor_check_names_and_colour_modes(state: Path) -> None:
    assert bash("mscli doctor --only t") == ["tcp", "tls"]
    assert bash("mscli doctor --skip dns,t") == ["dns,tcp", "dns,tls"]
    assert "dns,dns" not in bash("mscli doctor --only dns,")  # a name is not offered twice
    assert bash("mscli --color a") == ["auto", "always"]


# --- zsh -----------------------------------------------------------------------------------------


def test_zsh_commands_with_help(state: Path) -> None:
    out = zsh("mscli ch")
    assert out.startswith("_arguments '*: :((") and '"chat"' in out
    assert '"models"' not in out


def test_zsh_options_and_values(state: Path) -> None:
    assert '"--sandbox"' in zsh("mscli --sa")
    out = zsh("mscli models check gpt-")
    assert '"gpt-test-one"' in out and '"gpt-test-two"' in out and "claude" not in out
    out = zsh("mscli --profile ")
    assert '"work":"active, https\\\\://gateway.example.com/v1"' in out
    assert '"staging"' in out


def test_zsh_nothing_to_offer_falls_back_to_files(state: Path) -> None:
    assert zsh("mscli models check zzz").strip() == "_files"


# --- fish and PowerShell -------------------------------------------------------------------------


def test_fish(state: Path) -> None:
    assert fish("mscli ch") == ["chat"]
    assert fish("mscli models check gpt-") == ["gpt-test-one", "gpt-test-two"]
    assert fish("mscli --profile w") == ["work"]


def test_powershell(state: Path) -> None:
    assert powershell("mscli ch", "ch") == ["chat"]
    assert powershell("mscli --profile ", "") == ["default", "work", "staging"]


# --- the completers themselves --------------------------------------------------------------------


def test_completers_never_fail(isolation: Path) -> None:
    config_dir = Path(os.environ["MSCLI_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text("not [valid toml", encoding="utf-8")
    assert completers.complete_profile("") == []
    assert completers.complete_role("") == []
    (config_dir / "config.toml").write_text("roles = 3", encoding="utf-8")
    assert completers.complete_role("") == []
    (config_dir / "config.toml").unlink()
    assert completers.complete_profile("") == []
    assert completers.complete_conversation("") == []  # no history db yet
    # no models cache: the documented catalogue, never an error
    assert "claude-sonnet-4-5" in completers.complete_model("claude-")


def test_conversation_ids_newest_first_read_only(isolation: Path) -> None:
    from mscli.history import HistoryStore

    with HistoryStore.open(run_paths().history) as store:
        first = store.new_conversation("About SSE", model="m", system=None, base_url=None, now=1.0)
        second = store.new_conversation(
            "Second   chat", model="m", system=None, base_url=None, now=2.0
        )
    before = run_paths().history.read_bytes()
    assert completers.complete_conversation("") == [
        (str(second), "Second chat"),
        (str(first), "About SSE"),
    ]
    assert completers.complete_conversation(str(first)) == [(str(first), "About SSE")]
    assert run_paths().history.read_bytes() == before


def test_damaged_history_db_gives_no_suggestions(isolation: Path) -> None:

    path = run_paths().history
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not sqlite" * 100)
    assert completers.complete_conversation("") == []


# --- the committed bash script, run by a real bash ------------------------------------------------


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_committed_bash_script_in_a_real_bash(state: Path, tmp_path: Path) -> None:
    shim = tmp_path / "bin" / "mscli"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mscli "$@"\n')
    shim.chmod(0o755)
    script = ROOT / "completions" / "mscli.bash"
    probe = (
        f"source {script}\n"
        "COMP_WORDS=(mscli models check gpt-); COMP_CWORD=3\n"
        "_mscli_completion mscli\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
        "complete -p mscli\n"
    )
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["gpt-test-one", "gpt-test-two"]
    assert lines[2] == "complete -o default -F _mscli_completion mscli"


ZSH_DRIVER = r"""
zmodload zsh/zpty
check() {  # $1: what the user types before Tab, $2: pattern the screen must show, $3: label, $4: how _mscli is loaded
  zpty z 'zsh -f -i'
  zpty -w z "PS1='%% '; PATH=$BINDIR:\$PATH; $4"
  zpty -w -n z "$1"$'\t'
  local screen= chunk= i
  for i in {1..150}; do
    while zpty -r -t z chunk; do screen+=$chunk; done
    if [[ $screen == $~2 ]]; then print -r -- RESULT:$3; break; fi
    sleep 0.1
  done
  zpty -d z
}
autoload_it="fpath=($COMPDIR \$fpath); autoload -Uz compinit; compinit -u -D"
source_it="autoload -Uz compinit; compinit -u -D; source $COMPDIR/_mscli"
check 'mscli models ch' '*mscli models check*' subcommand $autoload_it
check 'mscli -p st' '*mscli -p staging*' profile $autoload_it
check 'mscli models check gpt-test-o' '*check gpt-test-one*' model $autoload_it
check 'mscli models ch' '*mscli models check*' sourced $source_it
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_committed_zsh_script_in_a_real_zsh(state: Path, tmp_path: Path) -> None:
    """The committed _mscli, autoloaded from $fpath by compinit as the wheel installs it (first Tab
    must already complete), driven through a pseudo-terminal."""
    shim = tmp_path / "bin" / "mscli"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mscli "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        "COMPDIR": str(ROOT / "completions"),
        "BINDIR": str(shim.parent),
        "TERM": "dumb",
    }
    proc = subprocess.run(
        ["zsh", "-f", "-c", ZSH_DRIVER], capture_output=True, text=True, env=env, timeout=60
    )
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT:")]
    assert results == ["RESULT:subcommand", "RESULT:profile", "RESULT:model", "RESULT:sourced"], (
        proc.stdout + proc.stderr
    )


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_committed_zsh_script_parses_in_a_real_zsh() -> None:
    proc = subprocess.run(
        ["zsh", "-n", str(ROOT / "completions" / "_mscli")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_committed_fish_script_in_a_real_fish(state: Path, tmp_path: Path) -> None:
    shim = tmp_path / "bin" / "mscli"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mscli "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    script = ROOT / "completions" / "mscli.fish"
    probe = (
        f"source {script}; complete -C 'mscli models check gpt-'; complete -C 'mscli --profile w'"
    )
    proc = subprocess.run(
        ["fish", "--no-config", "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == [
        "gpt-test-one",
        "gpt-test-two",
        "work",
    ]


def test_config_key_completers() -> None:
    names = [n for n, _ in completers.complete_config_key("")]  # type: ignore[misc]
    assert "default_model" in names and "api_key" in names
    settable = [n for n, _ in completers.complete_settable_key("")]  # type: ignore[misc]
    assert "api_key" not in settable and "base_url" in settable
    assert [n for n, _ in completers.complete_config_key("max_")] == ["max_retries", "max_wait"]  # type: ignore[misc]


def test_bash_values_of_other_commands(state: Path) -> None:
    from mscli.history import HistoryStore

    with HistoryStore.open(run_paths().history) as store:
        ident = store.new_conversation("Hello", model="m", system=None, base_url=None)
    assert bash("mscli chat -m gpt-") == ["gpt-test-one", "gpt-test-two"]
    assert bash("mscli chat --conversation ") == [str(ident)]
    assert bash("mscli history show ") == [str(ident)]
    assert bash("mscli config use ") == ["default", "work", "staging"]
    assert bash("mscli keys check --profile w") == ["work"]
    assert bash("mscli config set max") == ["max_retries", "max_wait"]
    assert "api_key" not in bash("mscli config set ")
