"""The config store: atomic 0600 writes, corrupt files never overwritten, the lock, permissions."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mscli import config_store
from mscli.config_schema import (
    active_profile_name,
    check_value,
    delete_profile,
    get_profile,
    parse_value,
    profile_names,
    set_profile_value,
    unset_profile_value,
    validate,
)
from mscli.config_store import ConfigStore
from mscli.errors import ConfigCorruptError, ConfigError, ConfigLockedError, UsageError
from mscli.paths import Paths

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
KEY = "sk_" + "a1b2" * 8


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def set_model(model: str, profile: str = "default") -> Any:
    def apply(data: dict[str, Any]) -> None:
        set_profile_value(data, profile, "default_model", model)

    return apply


@pytest.fixture()
def store(tmp_path: Path) -> ConfigStore:
    return ConfigStore(tmp_path / "cfg")


# --- location ----------------------------------------------------------------------------------


def test_the_run_store_follows_env(isolation: Path) -> None:
    s = ConfigStore(Paths.from_env(os.environ).config_dir)
    assert s.directory == Path(os.environ["MSCLI_CONFIG_DIR"])
    assert s.path == s.directory / "config.toml"
    assert s.lock_path == s.directory / "config.toml.lock"


# --- reading -----------------------------------------------------------------------------------


def test_missing_file_loads_empty(store: ConfigStore) -> None:
    assert not store.exists()
    assert store.load() == {}
    assert not store.directory.exists()  # reading never creates anything


def test_round_trip_layout(store: ConfigStore) -> None:
    def apply(data: dict[str, Any]) -> None:
        data["active_profile"] = "work"
        set_profile_value(data, "work", "api_key", KEY)
        set_profile_value(data, "work", "timeout", 30)
        set_profile_value(data, "work", "log_history", False)

    store.update(apply)
    text = store.path.read_text()
    assert 'active_profile = "work"' in text
    assert "[profiles.work]" in text
    data = store.load()
    assert active_profile_name(data) == "work"
    assert get_profile(data, "work") == {"api_key": KEY, "timeout": 30, "log_history": False}


def test_corrupt_toml_reports_path_and_line(store: ConfigStore) -> None:
    store.directory.mkdir()
    store.path.write_text('active_profile = "default"\n[profiles.default]\ntimeout = = 3\n')
    with pytest.raises(ConfigCorruptError) as info:
        store.load()
    err = info.value
    assert err.path == str(store.path)
    assert err.line == 3
    assert str(store.path) in str(err)
    assert err.advice_key == "config.corrupt"
    assert "mv " in err.facts["fix"]


def test_corrupt_file_is_never_overwritten(store: ConfigStore) -> None:
    store.directory.mkdir()
    original = b"[profiles.default]\napi_key = 'sk_unterminated\n"
    store.path.write_bytes(original)
    with pytest.raises(ConfigCorruptError):
        store.update(set_model("gpt-4o"))
    assert store.path.read_bytes() == original
    assert [p.name for p in store.directory.iterdir() if p.name.endswith(".tmp")] == []


def test_not_utf8(store: ConfigStore) -> None:
    store.directory.mkdir()
    original = b'[profiles.default]\ndefault_model = "caf\xe9"\n'
    store.path.write_bytes(original)
    with pytest.raises(ConfigCorruptError) as info:
        store.load()
    assert info.value.line == 2
    assert "UTF-8" in str(info.value)
    with pytest.raises(ConfigCorruptError):
        store.update(set_model("x"))
    assert store.path.read_bytes() == original


def test_bom_is_accepted(store: ConfigStore) -> None:
    store.directory.mkdir()
    store.path.write_bytes(b'\xef\xbb\xbf[profiles.default]\nplan = "pro"\n')
    assert get_profile(store.load(), "default") == {"plan": "pro"}


def test_directory_in_place_of_file(store: ConfigStore) -> None:
    store.path.mkdir(parents=True)
    with pytest.raises(ConfigCorruptError) as info:
        store.load()
    assert "directory" in str(info.value)
    assert info.value.path == str(store.path)
    with pytest.raises(ConfigCorruptError):
        store.update(set_model("x"))
    assert store.path.is_dir()


@posix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(store: ConfigStore) -> None:
    store.update(set_model("x"))
    os.chmod(store.path, 0)
    try:
        with pytest.raises(ConfigCorruptError) as info:
            store.load()
        assert "permission denied" in str(info.value)
        assert "chmod 600" in info.value.facts["fix"]
    finally:
        os.chmod(store.path, 0o600)


def test_unreadable_file_simulated(store: ConfigStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The root-skipped test above, for CI (which runs as root): only config.toml is denied."""
    store.update(set_model("x"))
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self == store.path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigCorruptError) as info:
        store.load()
    err = info.value
    assert str(err) == f"cannot read the config file {store.path}: permission denied"
    assert err.advice_key == "config.corrupt"
    assert err.path == str(store.path) and err.line is None
    assert err.facts["detail"] == "Permission denied"
    assert f"chmod 600 {store.path}" in err.facts["fix"]


def test_permission_error_is_reported(store: ConfigStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.update(set_model("x"))
    before = store.path.read_bytes()

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigCorruptError) as info:
        store.load()
    assert info.value.path == str(store.path)
    assert "permission denied" in str(info.value)
    with pytest.raises(ConfigCorruptError):
        store.update(set_model("y"))
    monkeypatch.undo()
    assert store.path.read_bytes() == before


def test_bad_layout_is_corrupt(store: ConfigStore) -> None:
    store.directory.mkdir()
    store.path.write_text('profiles = "nope"\n')
    with pytest.raises(ConfigCorruptError, match="layout"):
        store.load()


# --- writing -----------------------------------------------------------------------------------


@posix_only
def test_new_file_0600_and_dir_0700(store: ConfigStore) -> None:
    old = os.umask(0o022)
    try:
        store.update(set_model("gpt-4o"))
    finally:
        os.umask(old)
    assert mode(store.directory) == 0o700
    assert mode(store.path) == 0o600


@posix_only
def test_rewrite_tightens_loose_file(store: ConfigStore) -> None:
    store.update(set_model("a"))
    os.chmod(store.path, 0o644)
    store.update(set_model("b"))
    assert mode(store.path) == 0o600


@posix_only
def test_write_tightens_an_existing_mscli_directory(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "mscli")
    store.directory.mkdir()
    os.chmod(store.directory, 0o755)
    store.update(set_model("m"))
    assert mode(store.directory) == 0o700


@posix_only
def test_write_tightens_the_platform_default_directory(
    isolation: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MSCLI_CONFIG_DIR")
    store = ConfigStore(Paths.from_env(os.environ).config_dir)
    assert store.directory == Paths.from_env({}).config_dir and store.owns_directory()
    store.directory.mkdir(parents=True)
    os.chmod(store.directory, 0o775)
    store.update(lambda d: set_profile_value(d, "default", "api_key", KEY))
    assert mode(store.directory) == 0o700
    assert store.permission_warning() is None


@posix_only
def test_a_chosen_directory_is_left_alone_and_named_in_the_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = tmp_path / "dotfiles"
    monkeypatch.setenv("MSCLI_CONFIG_DIR", str(chosen))
    chosen.mkdir()
    os.chmod(chosen, 0o755)
    store = ConfigStore(Paths.from_env(os.environ).config_dir)
    assert not store.owns_directory()
    store.update(set_model("m"))
    assert mode(chosen) == 0o755
    assert store.permission_warning() is None  # no key in it: nothing to protect
    store.update(lambda d: set_profile_value(d, "default", "api_key", KEY))
    assert mode(chosen) == 0o755 and mode(store.path) == 0o600
    warning = store.permission_warning()
    assert warning is not None
    assert f"its directory {chosen} is open to others (mode 0755)" in warning
    assert warning.endswith(f"Fix: chmod 700 {chosen}")
    assert "chmod 600" not in warning and KEY not in warning
    os.chmod(store.path, 0o640)
    os.chmod(chosen, 0o750)
    warning = store.permission_warning() or ""
    assert "readable by your group" in warning and "open to your group" in warning
    assert warning.endswith(f"Fix: chmod 600 {store.path} && chmod 700 {chosen}")
    os.chmod(store.path, 0o600)
    os.chmod(chosen, 0o700)
    assert store.permission_warning() is None


def test_owns_directory(tmp_path: Path) -> None:
    assert ConfigStore(tmp_path / "mscli").owns_directory()
    assert not ConfigStore(tmp_path / "cfg").owns_directory()  # a directory the user chose
    named = Paths.from_env({"MSCLI_CONFIG_DIR": str(tmp_path / "x" / "mscli")})
    assert ConfigStore(named.config_dir).owns_directory()
    assert ConfigStore(Paths.from_env({}).config_dir).owns_directory()  # the platform's


def test_failed_replace_leaves_old_file_and_no_temp(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.update(set_model("old-model"))
    before = store.path.read_bytes()

    def boom(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_store.os, "replace", boom)
    with pytest.raises(ConfigError, match="No space left"):
        store.update(set_model("new-model"))
    assert store.path.read_bytes() == before
    leftovers = [
        p.name
        for p in store.directory.iterdir()
        if p.name not in ("config.toml", "config.toml.lock")
    ]
    assert leftovers == []


def test_failed_write_mid_way_leaves_old_file(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.update(set_model("old-model"))
    before = store.path.read_bytes()

    def boom(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(config_store.os, "fsync", boom)
    with pytest.raises(ConfigError):
        store.update(set_model("new-model"))
    assert store.path.read_bytes() == before
    assert not [p for p in store.directory.iterdir() if p.name.endswith(".tmp")]


def test_exception_in_fn_writes_nothing(store: ConfigStore) -> None:
    store.update(set_model("keep"))
    before = store.path.read_bytes()

    def bad(data: dict[str, Any]) -> None:
        data["profiles"]["default"]["default_model"] = "changed"
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        store.update(bad)
    assert store.path.read_bytes() == before


def test_update_validates_before_writing(store: ConfigStore) -> None:
    store.update(set_model("keep"))
    before = store.path.read_bytes()

    def bad(data: dict[str, Any]) -> None:
        data["profiles"]["default"]["timeout"] = "soon"

    with pytest.raises(ConfigError) as info:
        store.update(bad)
    assert store.path.read_bytes() == before
    err = info.value
    assert "timeout in the config file, profile 'default'" in err.message
    assert err.facts["path"] == str(store.path)
    # a fix that can be run as shown (the funnel capitalises it: "Set it with ...")
    assert err.facts["fix"].startswith("set it with `mscli config set timeout VALUE`")
    assert "`mscli config unset timeout`" in err.facts["fix"]


def test_none_means_unset(store: ConfigStore) -> None:
    store.update(set_model("m"))
    store.update(lambda d: d["profiles"]["default"].update(default_model=None))
    assert get_profile(store.load(), "default") == {}


def test_unknown_keys_in_file_are_kept(store: ConfigStore) -> None:
    store.directory.mkdir()
    store.path.write_text("[profiles.default]\nfuture_setting = 3\n[extra]\nx = 1\n")
    store.update(set_model("m"))
    data = store.load()
    assert data["extra"] == {"x": 1}
    assert get_profile(data, "default") == {"future_setting": 3, "default_model": "m"}


@posix_only
def test_symlinked_config_is_followed(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "mscli.toml"
    real.write_text('[profiles.default]\nplan = "pro"\n')
    store = ConfigStore(tmp_path / "cfg")
    store.directory.mkdir()
    store.path.symlink_to(real)
    store.update(set_model("gpt-4o"))
    assert store.path.is_symlink()
    assert os.readlink(store.path) == str(real)
    assert get_profile(store.load(), "default") == {"plan": "pro", "default_model": "gpt-4o"}
    assert "gpt-4o" in real.read_text()
    assert mode(real) == 0o600
    assert not [p for p in dotfiles.iterdir() if p.name.endswith(".tmp")]


@posix_only
def test_dangling_symlink_creates_target(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "cfg")
    store.directory.mkdir()
    target = tmp_path / "elsewhere.toml"
    store.path.symlink_to(target)
    assert store.load() == {}
    store.update(set_model("m"))
    assert store.path.is_symlink() and target.is_file()


def test_file_in_place_of_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "cfg"
    blocker.write_text("not a dir")
    with pytest.raises(ConfigError, match="a file is in its place"):
        ConfigStore(blocker).update(set_model("m"))


# --- permissions -------------------------------------------------------------------------------


@posix_only
def test_world_readable_key_warns(store: ConfigStore) -> None:
    store.update(lambda d: set_profile_value(d, "default", "api_key", KEY))
    assert store.permission_warning() is None
    os.chmod(store.path, 0o644)
    warning = store.permission_warning()
    assert warning is not None
    assert str(store.path) in warning
    assert f"chmod 600 {store.path}" in warning
    assert KEY not in warning
    os.chmod(store.path, 0o640)
    assert "group" in (store.permission_warning() or "")


@posix_only
def test_readable_file_without_key_is_fine(store: ConfigStore) -> None:
    store.update(set_model("m"))
    os.chmod(store.path, 0o644)
    assert store.permission_warning() is None


def test_no_file_no_warning(store: ConfigStore) -> None:
    assert store.permission_warning() is None


# --- locking -----------------------------------------------------------------------------------


def test_lock_timeout_raises_config_locked(tmp_path: Path) -> None:
    from filelock import FileLock

    store = ConfigStore(tmp_path / "cfg", lock_timeout=0)
    store.update(set_model("before"))
    before = store.path.read_bytes()
    holder = FileLock(str(store.lock_path))
    with holder:
        with pytest.raises(ConfigLockedError) as info:
            store.update(set_model("after"))
    assert str(store.lock_path) in info.value.facts["fix"]
    assert info.value.advice_key == "config.locked"
    assert store.path.read_bytes() == before
    store.update(set_model("after"))  # free again
    assert get_profile(store.load(), "default")["default_model"] == "after"


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mscli.config_schema import set_profile_value
    from mscli.config_store import ConfigStore

    directory, index, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    store = ConfigStore(directory, lock_timeout=60)
    sys.stdin.readline()  # start together
    for r in range(rounds):
        store.update(lambda d: set_profile_value(d, f"p{index}", "default_model", f"m{index}-{r}"))
    """
)


@pytest.mark.slow
def test_concurrent_writers_in_separate_processes(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    writers, rounds = 6, 15
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(directory), str(i), str(rounds)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    for p in procs:  # release them all at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    data = ConfigStore(directory).load()
    assert sorted(profile_names(data)) == [f"p{i}" for i in range(writers)]
    for i in range(writers):
        assert get_profile(data, f"p{i}") == {"default_model": f"m{i}-{rounds - 1}"}
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


# --- known keys and profile helpers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("timeout", "600", 600),
        ("timeout", "2.5", 2.5),
        ("max_retries", "0", 0),
        ("max_wait", "0", 0),
        ("log_history", "yes", True),
        ("log_history", "False", False),
        ("plan", "Pro", "pro"),
        ("default_model", " gpt-4o ", "gpt-4o"),
        ("base_url", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
    ],
)
def test_parse_value(key: str, text: str, value: Any) -> None:
    assert parse_value(key, text) == value
    assert type(parse_value(key, text)) is type(value)


@pytest.mark.parametrize(
    ("key", "text", "accepted"),
    [
        ("timeout", "soon", "a number of seconds greater than 0 and at most 86400"),
        ("timeout", "0", "a number of seconds greater than 0 and at most 86400"),
        ("timeout", "nan", "a number of seconds greater than 0 and at most 86400"),
        ("timeout", "1e308", "a number of seconds greater than 0 and at most 86400"),
        ("max_retries", "1.5", "a whole number from 0 to 100"),
        ("max_retries", "-1", "a whole number from 0 to 100"),
        ("max_retries", "101", "a whole number from 0 to 100"),
        ("max_wait", "86401", "a number of seconds from 0 to 86400"),
        ("log_history", "maybe", "true or false"),
        ("allow_insecure_http", "sure", "true or false"),
        ("plan", "gold", "one of starter, pro, max, topup"),
        ("base_url", "api.modelstack.cc", "an http(s) URL"),
        ("base_url", "", "an http(s) URL"),
        ("default_model", "two words", "non-empty text without spaces"),
        ("default_model", "", "non-empty text without spaces"),
    ],
)
def test_parse_value_rejects_as_a_usage_error(key: str, text: str, accepted: str) -> None:
    """A bad value typed on the command line is a usage error (exit 2) naming the key, the value
    and what the key accepts (not a config error pointing back at `mscli config set`)."""
    with pytest.raises(UsageError) as info:
        parse_value(key, text)
    assert str(info.value).startswith(f"{key} must be {accepted}")
    assert str(info.value).endswith(f"not {text!r}")


def test_stored_values_are_checked_with_the_same_words() -> None:
    with pytest.raises(ConfigError) as info:
        check_value("timeout", 100000, where="profiles.x.timeout")
    assert str(info.value) == (
        "profiles.x.timeout must be a number of seconds greater than 0 and at most 86400, "
        "not 100000"
    )


def test_unknown_key_is_usage_error() -> None:
    with pytest.raises(UsageError, match="known keys"):
        parse_value("colour", "red")


def test_check_value_types() -> None:
    assert check_value("timeout", 600) == 600
    with pytest.raises(ConfigError):
        check_value("max_retries", True)
    with pytest.raises(ConfigError):
        check_value("log_history", 1)


def test_profile_helpers() -> None:
    data: dict[str, Any] = {}
    assert active_profile_name(data) == "default"
    set_profile_value(data, "a", "plan", "max")
    set_profile_value(data, "b", "timeout", 5)
    data["active_profile"] = "b"
    assert profile_names(data) == ["a", "b"]
    assert get_profile(data, "missing") == {}
    assert unset_profile_value(data, "b", "timeout") is True
    assert unset_profile_value(data, "b", "timeout") is False
    assert delete_profile(data, "b") is True
    assert "active_profile" not in data
    assert delete_profile(data, "b") is False
    with pytest.raises(UsageError):
        set_profile_value(data, "bad name", "plan", "pro")
    validate(data)


def test_validate_rejects_bad_layout() -> None:
    with pytest.raises(ConfigError):
        validate({"profiles": {"x": 3}})
    with pytest.raises(ConfigError):
        validate({"active_profile": 3})
