"""End to end: the real `mscli chat` in a subprocess against the sandbox, for every magic key.
The exit code must be the one `mscli sandbox keys` documents (keys.py is the one table)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from mscli.sandbox.keys import TABLE, MagicKey


def _key_for(row: MagicKey) -> str:
    if row.kind == "account":
        return "sk_test_e2e_fresh_account"
    if row.kind == "not_test":
        return "sk_live_0123456789abcdef"
    return row.key


def _params() -> list:
    return [pytest.param(row, id=row.key) for row in TABLE]


def _isolated_env(home: str) -> dict[str, str]:
    """Like tests/conftest.py's `isolation` (a module fixture runs before it): a private home,
    none of the user's ModelStack/mscli variables or proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODELSTACK_", "MSCLI_", "XDG_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(
        HOME=home,
        XDG_CONFIG_HOME=os.path.join(home, ".config"),
        XDG_CACHE_HOME=os.path.join(home, ".cache"),
        XDG_DATA_HOME=os.path.join(home, ".local", "share"),
        XDG_STATE_HOME=os.path.join(home, ".local", "state"),
        NO_COLOR="1",
        COLUMNS="100",
        TERM="dumb",
    )
    return env


@pytest.fixture(scope="module")
def exit_codes(tmp_path_factory):
    """Run every key once, in parallel, against one sandbox; {key: (returncode, stderr)}."""
    from mscli.sandbox.embedded import start_embedded

    sb = start_embedded(slow_ms=300)
    home = str(tmp_path_factory.mktemp("e2e-home"))
    base_env = _isolated_env(home)

    def run(row: MagicKey) -> tuple[str, tuple[int, str]]:
        env = dict(
            base_env,
            MODELSTACK_BASE_URL=sb.base_url,
            MODELSTACK_API_KEY=_key_for(row),
            MSCLI_MAX_RETRIES="1",  # keep the suite fast; one retry still rescues the flaky key
            MSCLI_CONFIG_DIR=os.path.join(home, f"cfg-{row.kind}-{abs(hash(row.key))}"),
        )
        r = subprocess.run(
            [sys.executable, "-m", "mscli", "chat", "-m", "gpt-4o", "Hello"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return row.key, (r.returncode, r.stderr)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(pool.map(run, TABLE))
    finally:
        sb.stop()


@pytest.mark.slow
@pytest.mark.parametrize("row", _params())
def test_mscli_exit_code_matches_the_key_table(exit_codes, row):
    code, stderr = exit_codes[row.key]
    assert code == int(row.exit_code), stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--sandbox",), {}),
        ((), {"MSCLI_SANDBOX": "1"}),
    ],
    ids=["flag", "env"],
)
def test_sandbox_uses_a_magic_key_given_in_the_environment(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    """`MODELSTACK_API_KEY=sk_test_no_credits mscli --sandbox chat …`: the in-process sandbox
    answers as that key (402, exit 4) instead of replacing it with a fresh account's key."""
    from support.cli import run

    r = run(
        *args,
        "chat",
        "-m",
        "gpt-4o",
        "hi",
        env={**env, "MODELSTACK_API_KEY": "sk_test_no_credits"},
    )
    assert r.code == 4, r.stderr
    assert "Traceback" not in r.stderr
