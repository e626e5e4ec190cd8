"""THE rule for mscli's directories (`mscli.paths.Paths.from_env`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mscli.paths import Paths


def test_each_variable_names_its_directory(tmp_path: Path) -> None:
    env = {
        "MSCLI_CONFIG_DIR": str(tmp_path / "c"),
        "MSCLI_CACHE_DIR": str(tmp_path / "k"),
        "MSCLI_DATA_DIR": str(tmp_path / "d"),
    }
    p = Paths.from_env(env)
    assert (p.config_dir, p.cache_dir, p.data_dir) == (
        tmp_path / "c",
        tmp_path / "k",
        tmp_path / "d",
    )
    assert p.history == tmp_path / "d" / "history.sqlite3"
    assert p.ledger == tmp_path / "d" / "ledger.jsonl"
    assert p.input_history == tmp_path / "d" / "chat_input_history"


def test_unset_or_blank_means_the_platform_directory(isolation: Path) -> None:
    blank = Paths.from_env({"MSCLI_CONFIG_DIR": " ", "MSCLI_CACHE_DIR": "", "MSCLI_DATA_DIR": ""})
    assert blank == Paths.from_env({})
    # the XDG homes of tests/conftest.py: platformdirs' own reading of them
    assert blank.config_dir == isolation / ".config" / "mscli"
    assert blank.cache_dir == isolation / ".cache" / "mscli"
    assert blank.data_dir == isolation / ".local" / "share" / "mscli"


def test_a_relative_directory_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    p = Paths.from_env({"MSCLI_DATA_DIR": "rel", "MSCLI_CACHE_DIR": "~/c"})
    assert p.data_dir == tmp_path / "rel" and p.data_dir.is_absolute()
    assert p.cache_dir == Path(os.environ["HOME"]) / "c"


def test_only_the_mapping_given_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSCLI_DATA_DIR", str(tmp_path / "process"))
    assert Paths.from_env({"MSCLI_DATA_DIR": str(tmp_path / "run")}).data_dir == tmp_path / "run"
