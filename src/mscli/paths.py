"""Where mscli keeps its files: THE rule, applied once per run to the run's environment.

A directory is its ``MSCLI_*_DIR`` variable when set and non-empty (``~`` expanded, made absolute
from the current directory, so every message names a path that works from anywhere), else the
platform's own (``platformdirs``, imported only then). Nothing else reads these variables: the
settings carry a `Paths` (`Settings.paths`), and every module that keeps a file takes its
directory from its caller. Standard library only at import time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR_ENV = "MSCLI_CONFIG_DIR"
CACHE_DIR_ENV = "MSCLI_CACHE_DIR"
DATA_DIR_ENV = "MSCLI_DATA_DIR"


@dataclass(frozen=True)
class Paths:
    #: config.toml and its lock
    config_dir: Path
    #: the model-list cache and the gateway notes
    cache_dir: Path
    #: the history database, the spend ledger and the session's input history
    data_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Paths:
        import platformdirs

        return cls(
            config_dir=_directory(env, CONFIG_DIR_ENV, platformdirs.user_config_dir),
            cache_dir=_directory(env, CACHE_DIR_ENV, platformdirs.user_cache_dir),
            data_dir=_directory(env, DATA_DIR_ENV, platformdirs.user_data_dir),
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


def _directory(env: Mapping[str, str], name: str, platform: Callable[..., str]) -> Path:
    override = env.get(name, "").strip()
    if override:
        return Path(os.path.abspath(Path(override).expanduser()))
    return Path(platform("mscli", appauthor=False))
