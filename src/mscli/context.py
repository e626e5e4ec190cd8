"""AppContext: built once per run by the root callback and handed to every command (gh's Factory,
hatch's Application). Everything heavy is built lazily, on first use."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mscli.jsontext import dumps
from mscli.terminal import Terminal

if TYPE_CHECKING:
    import typer
    from rich.console import Console

    from mscli.advice import AdviceContext
    from mscli.api.client import GatewayClient
    from mscli.api.retry import RetryNotice
    from mscli.catalogue import Catalogue
    from mscli.config_store import ConfigStore
    from mscli.paths import Paths
    from mscli.sandbox.embedded import EmbeddedSandbox
    from mscli.settings import GlobalOptions, Settings

#: The context of the running command, for the error funnel in app.main (one per process).
_current: AppContext | None = None


def current() -> AppContext | None:
    return _current


def forget() -> None:
    """No current context (`app.main` starts each run with this)."""
    global _current
    _current = None


class AppContext:
    """The run's options, its terminal, and what is built from them on first use: the settings
    (resolved once), the two consoles, the embedded sandbox and API clients."""

    def __init__(self, options: GlobalOptions, terminal: Terminal | None = None) -> None:
        global _current
        self.options = options
        self.terminal = terminal if terminal is not None else Terminal.system()
        self._sandbox: EmbeddedSandbox | None = None
        self._closers: list[Callable[[], None]] = []
        self._warned: set[str] = set()
        _current = self

    @property
    def env(self) -> Mapping[str, str]:
        return self.terminal.env

    def adopt(self, *, json: bool = False, profile: str | None = None) -> None:
        """A subcommand's own --json/--profile join the global ones. Call before anything is
        resolved: they are part of the options the settings are resolved from."""
        changes: dict[str, Any] = {}
        if json and not self.options.json:
            changes["json"] = True
        if profile is not None and profile != self.options.profile:
            from mscli.config_schema import check_profile_name

            changes["profile"] = check_profile_name(profile)
        if changes:
            self.options = self.options._replace(**changes)
            for name in ("settings", "out", "err"):
                self.__dict__.pop(name, None)

    # --- modes -------------------------------------------------------------------------------

    @property
    def json(self) -> bool:
        return self.options.json

    @property
    def colour(self) -> str:
        return self.terminal.colour_mode(self.options.color)

    @cached_property
    def out(self) -> Console:
        from mscli.output.console import make_console

        return make_console(self.terminal, "out", self.colour, json_mode=self.json)

    @cached_property
    def err(self) -> Console:
        from mscli.output.console import make_console

        return make_console(self.terminal, "err", self.colour)

    @property
    def stderr_interactive(self) -> bool:
        return self.terminal.stderr_tty

    # --- configuration -----------------------------------------------------------------------

    @cached_property
    def paths(self) -> Paths:
        """Where this run's files live (the same as `settings.paths`, without resolving the
        settings: the config store is read by them, and `history` needs no settings)."""
        from mscli.paths import Paths

        return Paths.from_env(self.env)

    @cached_property
    def store(self) -> ConfigStore:
        from mscli.config_store import ConfigStore

        return ConfigStore(self.paths.config_dir)

    @cached_property
    def settings(self) -> Settings:
        from mscli.settings import resolve, sandbox_requested

        pair = None
        if sandbox_requested(self.options, self.env):
            sb = self.sandbox()
            pair = (sb.base_url, sb.api_key)
        return resolve(self.options, self.env, self.store, sandbox=pair)

    def sandbox(self) -> EmbeddedSandbox:
        if self._sandbox is None:
            from mscli.sandbox.embedded import start_embedded

            self._sandbox = start_embedded()
            self._closers.append(self._sandbox.stop)
        return self._sandbox

    # --- the API client ----------------------------------------------------------------------

    def api_key(self, *, required: bool = True) -> str | None:
        """The key to send, after the host policy and the key rules; raises before any request
        when the base URL is refused or the key is unusable."""
        s = self.settings
        s.check_base_url()
        key = s.key(required=required)
        if key is not None and s.api_key.source.startswith("profile:"):
            warning = self.store.permission_warning()
            if warning:
                self.warn_once(warning)
        return key

    def client(
        self,
        *,
        require_key: bool = True,
        on_retry: Callable[[RetryNotice], None] | None = None,
        **overrides: Any,
    ) -> GatewayClient:
        """A client for this run; `on_retry` also hears every retry notice (after the run's own)."""
        from mscli.api.client import GatewayClient

        key = self.api_key(required=require_key)
        config = self.settings.client_config()._replace(api_key=key, **overrides)
        host = self.settings.host
        if key and host.insecure:
            self.warn_once(
                f"Sending the API key over plain http:// to {host.url.host if host.url else '?'} "
                "(allow_insecure_http is on): anyone on the network path can read it. Use "
                "https:// unless this is a trusted private network."
            )
        if host.trusted:
            self.warn_once(
                f"Using {host.trusted}, which looks like ModelStack's API host but is not, "
                "because trusted_host names it."
            )
        notify = self._on_retry
        if on_retry is not None:

            def notify(notice: RetryNotice) -> None:
                self._on_retry(notice)
                on_retry(notice)

        return GatewayClient(
            config, on_retry=notify, trace=self._trace if self.options.verbose else None
        )

    def catalogue(self) -> Catalogue:
        """The models this run's API serves. The key is checked first (present, well formed),
        so `models check X && ...` fails with no usable key even when the answer could come
        from the cache; only the server can tell a revoked key (`mscli keys check`)."""
        from mscli.catalogue import Catalogue

        self.api_key(required=True)
        s = self.settings
        return Catalogue(
            s.paths.cache_dir, s.base_url.value, self.client, warn=self.warn, waiting=self.waiting
        )

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        """While mscli waits for the server: on a terminal, a spinner on stderr with the time
        waited so far; nothing in pipes, under --json, or with --verbose (the trace says it)."""
        if self.json or self.options.verbose or not self.terminal.stderr_tty:
            yield
            return
        with self.err.status(_Elapsed(what), spinner="dots"):
            yield

    def warn_once(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            self.warn(text)

    def _on_retry(self, notice: Any) -> None:
        # With --verbose the client's trace already carries the retry line; print it once.
        if self.options.verbose or not self.stderr_interactive:
            return
        from rich.text import Text

        attempt, total = notice.attempt, notice.max_attempts
        self.err.print(
            Text(
                f"{notice.reason}, retrying in {notice.wait:.1f} s, attempt {attempt} of {total}",
                style="warn",
            )
        )

    def _trace(self, line: str) -> None:
        from rich.text import Text

        self.err.print(Text(self.redact(line), style="muted"), soft_wrap=True)

    # --- output helpers ----------------------------------------------------------------------

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every value to mask: from the settings, or, when they could not be resolved, from
        the same rule applied to what was given (`settings.known_secrets`)."""
        if "settings" in self.__dict__:
            return self.settings.secrets
        from mscli.settings import known_secrets

        return known_secrets(self.options, self.env)

    def redact(self, text: str) -> str:
        from mscli.redact import Redactor

        return Redactor(secrets=self.secrets).text(text)

    def emit_json(self, obj: Any) -> None:
        """One JSON document on stdout: never coloured, never wrapped."""
        text = dumps(obj, indent=2, default=_json_default) + "\n"
        try:
            self.terminal.write(self.terminal.stdout, text, escape=False)
        except UnicodeEncodeError:  # a stdout that cannot take UTF-8 (PYTHONIOENCODING=ascii)
            text = dumps(obj, indent=2, ensure_ascii=True, default=_json_default) + "\n"
            self.terminal.write(self.terminal.stdout, text)

    def warn(self, text: str) -> None:
        """A warning on stderr; with --json, one `{"warning": {"message": ...}}` line, so that
        stderr stays JSON lines a script can parse (at most one of them an error)."""
        if self.json:
            line = dumps({"warning": {"message": self.redact(text)}}, ensure_ascii=True) + "\n"
            self.terminal.write(self.terminal.stderr, line)
            return
        from rich.text import Text

        self.err.print(Text("Warning: ", style="warn") + Text(text))

    def note(self, text: str) -> None:
        """A hint for a person on stderr; none with --json (stderr holds only JSON there)."""
        if self.json:
            return
        from rich.text import Text

        self.err.print(Text(text, style="muted"))

    def advice_context(self, settings: Settings | None = None) -> AdviceContext:
        """What the advice may use of this run's settings (`settings`: others than the run's,
        e.g. the doctor's file-less ones)."""
        from mscli.advice import AdviceContext

        actx = AdviceContext()
        try:
            s = settings if settings is not None else self.settings
        except Exception:
            return actx
        actx.key_source = s.api_key.source if s.api_key.value else None
        actx.profile = s.profile.value
        actx.base_url = s.base_url.value
        actx.config_path = s.config_path
        actx.plan = s.plan.value
        if not s.host.modelstack and s.host.url is not None:
            actx.gateway = s.host.url.host
        try:
            from mscli.catalogue import cached_ids

            actx.known_models = cached_ids(s.paths.cache_dir, s.base_url.value)
        except Exception:
            pass
        return actx

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:
                pass


class _Elapsed:
    """``what… 3 s``: re-rendered by the spinner at each refresh."""

    def __init__(self, what: str) -> None:
        import time

        self.what, self._clock = what, time.monotonic
        self._start = self._clock()

    def __rich__(self) -> Any:
        from rich.text import Text

        waited = self._clock() - self._start
        return Text(
            f"{self.what}… {waited:.0f} s" if waited >= 1 else f"{self.what}…", style="muted"
        )


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def get_app_context(
    ctx: typer.Context, *, json: bool = False, profile: str | None = None
) -> AppContext:
    """The AppContext of this run; a command's own --json (and --profile) join the global ones."""
    root = ctx.find_root()
    actx = root.obj
    if not isinstance(actx, AppContext):
        from mscli.settings import GlobalOptions

        actx = AppContext(GlobalOptions())
        root.obj = actx
    actx.adopt(json=json, profile=profile)
    return actx
