"""Every environment variable mscli reads, with its meaning: one table for `--help`, the man page
and the README. Data only (no imports), so `mscli --help` can show it without loading the settings
machinery; `mscli.settings` and `mscli.paths` are where the variables are read."""

from __future__ import annotations

from typing import NamedTuple


class EnvVar(NamedTuple):
    name: str
    meaning: str


#: Every environment variable mscli reads: one table for --help, the man page and the README.
ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar(
        "MODELSTACK_API_KEY",
        "API key (the name the ModelStack docs suggest); beats the profile's api_key_command, "
        "OS keyring and config file",
    ),
    EnvVar("MODELSTACK_BASE_URL", "API base URL (default https://api.modelstack.cc/v1)"),
    EnvVar("MSCLI_PROFILE", "config profile to use (default: the active profile, else 'default')"),
    EnvVar("MSCLI_TIMEOUT", "overall deadline per request in seconds, retries included"),
    EnvVar("MSCLI_MAX_RETRIES", "retries on 408/409/429/5xx and connection failures (0 disables)"),
    EnvVar("MSCLI_MAX_WAIT", "longest single wait mscli accepts before giving up, seconds"),
    EnvVar(
        "MSCLI_CONFIG_DIR", "directory of config.toml (default: the platform's user config dir)"
    ),
    EnvVar("MSCLI_SANDBOX", "1 = run against the built-in sandbox, like --sandbox"),
    EnvVar(
        "MSCLI_CACHE_DIR",
        "directory of the model-list cache (default: the platform's user cache dir)",
    ),
    EnvVar(
        "MSCLI_DATA_DIR",
        "directory of the history database and spend ledger (default: user data dir)",
    ),
    EnvVar("MSCLI_DEBUG", "set: show tracebacks for unexpected errors, like --debug"),
    EnvVar(
        "MSCLI_TRUSTED_HOST",
        "a host you mean to use although it looks like api.modelstack.cc, like trusted_host",
    ),
    EnvVar("MSCLI_COLOR", "auto, always or never, like --color"),
    EnvVar("NO_COLOR", "set and non-empty: no colour (https://no-color.org)"),
    EnvVar("FORCE_COLOR", "set and non-empty: colour even when not a terminal"),
    EnvVar(
        "HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY", "proxies, honoured for every request"
    ),
    EnvVar("SSL_CERT_FILE / SSL_CERT_DIR", "CA bundle used to verify TLS (corporate proxies)"),
)
