"""The paths an in-process run of this test would use: `Paths.from_env` of the process's
environment (`tests/conftest.py` points it at the test's private home)."""

from __future__ import annotations

import os

from mscli.paths import Paths


def run_paths() -> Paths:
    return Paths.from_env(os.environ)
