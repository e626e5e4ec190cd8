"""The ordered registry of the doctor's checks: each `Check` names its function and the checks it
`needs`; the runner walks `CHECKS` in this order.

Order is the path a request takes: local facts first (versions, config, key, base URL, proxy and CA
variables), then the network one layer at a time (DNS, TCP, TLS, HTTP), then what the API says
(is it the API, does it take the key, rate limit, models, default model, balance), then the opt-in
live completion. A check lists the checks it `needs`; when one of them failed, it is reported as
`skip` naming that failure instead of failing again, so the first failure is the root cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mscli.doctor.base import CheckResult, DoctorState
from mscli.doctor.http_checks import (
    check_api,
    check_auth,
    check_balance,
    check_default_model,
    check_http,
    check_live,
    check_models,
    check_rate_limit,
)
from mscli.doctor.local_checks import (
    check_base_url,
    check_config,
    check_key,
    check_proxy,
    check_versions,
)
from mscli.doctor.network_checks import check_dns, check_tcp, check_tls


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    fn: Callable[[DoctorState], CheckResult]
    #: checks that must not have failed for this one to run
    needs: tuple[str, ...] = ()


CHECKS: tuple[Check, ...] = (
    Check("versions", "mscli and Python versions", check_versions),
    Check("config", "config file parses, permissions", check_config),
    Check("key", "API key present, source, format", check_key),
    Check("base_url", "base URL: https, /v1, host", check_base_url),
    Check("proxy", "proxy and CA bundle variables", check_proxy),
    Check("dns", "DNS resolution", check_dns, ("base_url", "proxy")),
    Check("tcp", "TCP connect", check_tcp, ("dns",)),
    Check("tls", "TLS handshake and certificate", check_tls, ("tcp",)),
    Check("http", "HTTP reachability and latency", check_http, ("tls", "tcp", "proxy")),
    Check("api", "the reply is the API, not a web page", check_api, ("http",)),
    Check("auth", "authentication", check_auth, ("api", "key")),
    Check("rate_limit", "rate-limit headroom for the plan", check_rate_limit, ("auth",)),
    Check("models", "the model list", check_models, ("auth", "rate_limit")),
    Check("default_model", "the default model is served", check_default_model, ("models",)),
    Check("balance", "credit balance", check_balance, ("auth", "rate_limit")),
    Check("live", "a tiny streamed completion (--live)", check_live, ("models", "balance")),
)

CHECK_NAMES: tuple[str, ...] = tuple(c.name for c in CHECKS)
BY_NAME: dict[str, Check] = {c.name: c for c in CHECKS}
