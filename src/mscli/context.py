"""AppContext: built once per run by the root callback and handed to every command (gh's Factory,
hatch's Application). Everything heavy is built lazily, on first use."""

from __future__ import annotations

import json as _json
import os
import sys
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mscli.settings import GlobalOptions, Settings

if TYPE_CHECKING:
    import typer
    from rich.console import Console

    from mscli.advice import AdviceContext
    from mscli.api.client import GatewayClient
    from mscli.config_store import ConfigStore
    from mscli.sandbox.embedded import EmbeddedSandbox

#: The context of the running command, for the error funnel in app.main (one per process).
_current: AppContext | None = None


def current() -> AppContext | None:
    return _current


class AppContext:
    def __init__(self, options: GlobalOptions, env: dict[str, str] | None = None) -> None:
        global _current
        self.options = options
        self.env = dict(os.environ) if env is None else env
        self._sandbox: EmbeddedSandbox | None = None
        self._closers: list[Callable[[], None]] = []
        self._perm_warned = False
        self._insecure_warned = False
        if not options.sandbox and self.env.get("MSCLI_SANDBOX", "").strip().lower() in (
            "1",
            "true",
            "yes",
            "on",
        ):
            options.sandbox = True
        _current = self

    # --- modes -------------------------------------------------------------------------------

    @property
    def json(self) -> bool:
        return self.options.json

    @cached_property
    def colour(self) -> str:
        from mscli.output.console import colour_mode

        return colour_mode(self.options.color, self.env)

    @cached_property
    def out(self) -> Console:
        from mscli.output.console import stdout_console

        return stdout_console(self.colour, json_mode=self.json)

    @cached_property
    def err(self) -> Console:
        from mscli.output.console import stderr_console

        return stderr_console(self.colour)

    @property
    def stderr_interactive(self) -> bool:
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False

    # --- configuration -----------------------------------------------------------------------

    @cached_property
    def store(self) -> ConfigStore:
        from mscli.config_store import ConfigStore

        return ConfigStore()

    @cached_property
    def settings(self) -> Settings:
        from mscli.settings import resolve

        pair = None
        if self.options.sandbox:
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
        """The resolved key, format-checked. Raises before any request when it is unusable."""
        from mscli.errors import KeyMissingError

        s = self.settings
        key = s.api_key.value
        if key is None:
            if required:
                raise KeyMissingError("No API key is configured.", source=None)
            return None
        from mscli.credentials import check_key_format, normalise_key

        key = normalise_key(key)
        check_key_format(key, s.api_key.source)
        if s.api_key.source.startswith("profile:") and not self._perm_warned:
            self._perm_warned = True
            warning = self.store.permission_warning()
            if warning:
                self.warn(warning)
        return key

    def client(self, *, require_key: bool = True, **overrides: Any) -> GatewayClient:
        from dataclasses import replace

        from mscli.api.client import GatewayClient

        key = self.api_key(required=require_key)
        config = replace(self.settings.client_config(), api_key=key, **overrides)
        if key and not self._insecure_warned:
            self._warn_insecure_http(config.base_url)
        return GatewayClient(
            config, on_retry=self._on_retry, trace=self._trace if self.options.verbose else None
        )

    def _warn_insecure_http(self, base_url: str) -> None:
        """allow_insecure_http lets the key go over plain http to another host: say so, once."""
        from urllib.parse import urlsplit

        from mscli.api.urls import is_loopback_host

        parts = urlsplit(base_url)
        if parts.scheme != "http" or is_loopback_host(parts.hostname or ""):
            return
        self._insecure_warned = True
        self.warn(
            f"Sending the API key over plain http:// to {parts.hostname} (allow_insecure_http is "
            "on): anyone on the network path can read it. Use https:// unless this is a trusted "
            "private network."
        )

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

    def redact(self, text: str) -> str:
        from mscli.redact import Redactor

        secrets: list[str] = []
        key = self.options.api_key or self.env.get("MODELSTACK_API_KEY")
        if key:
            secrets.append(key.strip())
        if "settings" in self.__dict__ and self.settings.api_key.value:
            secrets.append(self.settings.api_key.value)
        return Redactor(secrets=secrets).text(text)

    def emit_json(self, obj: Any) -> None:
        """One JSON document on stdout: never coloured, never wrapped."""
        text = _json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default) + "\n"
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:  # a stdout that cannot take UTF-8 (PYTHONIOENCODING=ascii)
            sys.stdout.write(_json.dumps(obj, indent=2, default=_json_default) + "\n")
        sys.stdout.flush()

    def warn(self, text: str) -> None:
        """A warning on stderr; with --json, one `{"warning": {"message": ...}}` line, so that
        stderr stays JSON lines a script can parse (at most one of them an error)."""
        if self.json:
            sys.stderr.write(_json.dumps({"warning": {"message": self.redact(text)}}) + "\n")
            sys.stderr.flush()
            return
        from rich.text import Text

        self.err.print(Text("Warning: ", style="warn") + Text(text))

    def note(self, text: str) -> None:
        """A hint for a person on stderr; none with --json (stderr holds only JSON there)."""
        if self.json:
            return
        from rich.text import Text

        self.err.print(Text(text, style="muted"))

    def advice_context(self) -> AdviceContext:
        from mscli.advice import AdviceContext

        actx = AdviceContext()
        try:
            s = self.settings
        except Exception:
            return actx
        actx.key_source = s.api_key.source if s.api_key.value else None
        actx.profile = s.profile.value
        actx.base_url = s.base_url.value
        actx.config_path = s.config_path
        actx.plan = s.plan.value
        try:
            from mscli import models_cache

            actx.known_models = models_cache.cached_ids(s.base_url.value)
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


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def get_app_context(ctx: typer.Context, *, json: bool = False) -> AppContext:
    """The AppContext of this run; a command's own --json flag turns JSON mode on."""
    root = ctx.find_root()
    actx = root.obj
    if not isinstance(actx, AppContext):
        actx = AppContext(GlobalOptions())
        root.obj = actx
    if json and not actx.options.json:
        actx.options.json = True
        actx.__dict__.pop("out", None)
    return actx
