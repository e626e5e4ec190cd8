"""Where mscli keeps its files: THE rule, applied once per run to the run's environment.

A directory is its ``MSCLI_*_DIR`` variable when set and non-empty (``~`` expanded, made absolute
from the current directory, so every message names a path that works from anywhere), else the
platform's own (``platformdirs``, imported only then). Nothing else reads these variables: the
settings carry a `Paths` (`Settings.paths`), and every module that keeps a file takes its
directory from its caller. Standard library only at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

CONFIG_DIR_ENV = "MSCLI_CONFIG_DIR"
CACHE_DIR_ENV = "MSCLI_CACHE_DIR"
DATA_DIR_ENV = "MSCLI_DATA_DIR"


class Paths(NamedTuple):
    #: config.toml and its lock
    config_dir: Path
    #: the model-list cache and the gateway notes
    cache_dir: Path
    #: the history database, the spend ledger and the session's input history
    data_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Paths:
        return cls(
            config_dir=_directory(env, CONFIG_DIR_ENV, "user_config_dir"),
            cache_dir=_directory(env, CACHE_DIR_ENV, "user_cache_dir"),
            data_dir=_directory(env, DATA_DIR_ENV, "user_data_dir"),
        )

    @property
    def history(self) -> Path:
        """The conversation database."""
        return self.data_dir / "history.sqlite3"

    @property
    def ledger(self) -> Path:
        """The spend ledger (one JSON line per request)."""
        return self.data_dir / "ledger.jsonl"

    @property
    def input_history(self) -> Path:
        """The interactive session's prompt history (up-arrow)."""
        return self.data_dir / "chat_input_history"


def _directory(env: Mapping[str, str], name: str, platform: str) -> Path:
    """``name``'s directory when set, else the platform's (``platformdirs.<platform>``)."""
    override = env.get(name, "").strip()
    if override:
        return Path(os.path.abspath(Path(override).expanduser()))
    import platformdirs  # only when a directory is not given

    directory: str = getattr(platformdirs, platform)("mscli", appauthor=False)
    return Path(directory)
