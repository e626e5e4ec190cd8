"""After resolution nothing reads os.environ (issue 9 point 1): a run's files go where the run's
terminal environment says (`Terminal.env`, `mscli.paths.Paths.from_env`), whatever the process's
own environment says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mscli.app import main
from mscli.sandbox.embedded import EmbeddedSandbox
from mscli.terminal import Terminal
from support.chat_run import MODEL


def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    term = Terminal.fake(env=env)
    try:
        main(list(args), terminal=term)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = term.stdout.getvalue(), term.stderr.getvalue()  # type: ignore[attr-defined]
    return code, out, err


def test_a_run_keeps_its_files_where_its_terminal_env_says(
    sandbox: EmbeddedSandbox, isolation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    for name in ("CONFIG", "CACHE", "DATA"):
        monkeypatch.setenv(f"MSCLI_{name}_DIR", str(elsewhere / name.lower()))
    data, cache, config = tmp_path / "X", tmp_path / "Y", tmp_path / "Z"
    env = {
        "MSCLI_DATA_DIR": str(data),
        "MSCLI_CACHE_DIR": str(cache),
        "MSCLI_CONFIG_DIR": str(config),
        "MODELSTACK_API_KEY": sandbox.api_key,
        "NO_COLOR": "1",
    }

    code, _, err = _run(env, "config", "set", "default_model", MODEL)
    assert code == 0, err
    code, out, err = _run(env, "--base-url", sandbox.base_url, "chat", "Hello")
    assert code == 0, err
    assert out.strip()
    code, out, err = _run(env, "history", "list", "--json")
    assert code == 0, err
    assert [c["title"] for c in json.loads(out)["data"]] == ["Hello"]

    assert (config / "config.toml").read_text(encoding="utf-8").count(MODEL) == 1
    assert len(list(cache.glob("models-*.json"))) == 1  # the model was checked, its list cached
    assert (data / "history.sqlite3").is_file()
    (entry,) = (data / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(entry)["model"] == MODEL
    # nothing where the process's environment points, nor in the platform's directories
    assert not elsewhere.exists()
    assert list(isolation.rglob("*mscli*")) == []
