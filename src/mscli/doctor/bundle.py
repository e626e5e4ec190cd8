"""`mscli doctor --bundle FILE`: a redacted report to attach to a support ticket.

Contents: versions and platform, settings with their sources (the key masked), which proxy and CA
variables are set (proxy credentials dropped), every check result, and the last request traces.
Every string passes through the run's redactor, and the finished text is checked once more for
the known key values before it is written (mode 0600).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscli import __version__
from mscli.jsontext import dumps

if TYPE_CHECKING:
    from mscli.doctor.runner import DoctorReport

BUNDLE_SCHEMA_VERSION = 1
_ENV_SHOWN = (
    "MODELSTACK_BASE_URL",
    "MSCLI_PROFILE",
    "MSCLI_TIMEOUT",
    "MSCLI_MAX_RETRIES",
    "MSCLI_MAX_WAIT",
    "MSCLI_CONFIG_DIR",
    "MSCLI_SANDBOX",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
)


def _scrub(obj: Any, redact: Any) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {str(k): _scrub(v, redact) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrub(v, redact) for v in obj]
    return obj


def build(report: DoctorReport) -> dict[str, Any]:
    state = report.state
    assert state is not None
    from mscli.redact import Redactor

    red = Redactor()
    settings: list[dict[str, Any]] = []
    if state.settings is not None:
        for name, value, source in state.settings.as_rows():  # the key is masked here
            settings.append({"name": name, "value": value, "source": source})
        settings.append({"name": "config_path", "value": state.settings.config_path, "source": "-"})
    env: dict[str, str | None] = {}
    for name in _ENV_SHOWN:
        value = state.getenv(name)
        if value is None:
            continue
        env[name] = red.url(value) if name.endswith("_PROXY") and name != "NO_PROXY" else value
    env["MODELSTACK_API_KEY"] = "set (not shown)" if state.env.get("MODELSTACK_API_KEY") else None
    try:
        from importlib.metadata import version

        httpx_version: str | None = version("httpx")
    except Exception:
        httpx_version = None
    doc = {
        "kind": "mscli-doctor-bundle",
        "bundle_schema_version": BUNDLE_SCHEMA_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": {
            "mscli": __version__,
            "python": platform.python_version(),
            "httpx": httpx_version,
            "platform": platform.platform(),
            "executable": sys.executable,
        },
        "settings": settings,
        "environment": env,
        "report": report.as_dict(),
        "traces": list(state.traces),
        "note": "Redacted by mscli: API keys are masked (sk_…last4), proxy credentials dropped.",
    }
    return _scrub(doc, state.redact)  # type: ignore[no-any-return]


def write(report: DoctorReport, path: str) -> Path:
    """Write the bundle to `path` (0600) and return it. Refuses to write if a secret survived."""
    state = report.state
    assert state is not None
    text = dumps(build(report), indent=2, default=str) + "\n"
    for secret in (*state.secrets, state.key):
        if (
            secret and len(secret.strip()) >= 6 and secret.strip() in text
        ):  # pragma: no cover - defence in depth
            text = text.replace(secret.strip(), "****")
    target = Path(path).expanduser()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    if os.name == "posix":
        os.chmod(target, 0o600)
    return target
