"""The network checks, one layer at a time: DNS, TCP connect, TLS handshake and certificate.
Standard library sockets and ssl only, with the doctor's short timeouts."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import ssl
import tempfile
import threading
import time
from typing import Any

from mscli.api.urls import dns_fix
from mscli.doctor.base import API_HOST, CheckResult, DoctorState, fail, fmt_ms, ok, skip, warn

#: A certificate expiring within this many days is a warning.
CERT_WARN_DAYS = 14
#: Reasons OpenSSL gives when the other end does not speak TLS at all.
_NOT_TLS_REASONS = (
    "WRONG_VERSION_NUMBER",
    "HTTP_REQUEST",
    "UNKNOWN_PROTOCOL",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "UNEXPECTED_MESSAGE",
)
#: Issuer names of common TLS-inspecting proxies and security products.
_INTERCEPTORS = (
    "zscaler",
    "netskope",
    "fortinet",
    "fortigate",
    "palo alto",
    "bluecoat",
    "blue coat",
    "symantec web",
    "forcepoint",
    "sophos",
    "cisco umbrella",
    "mitmproxy",
    "charles proxy",
    "fiddler",
    "kaspersky",
    "avast",
    "eset",
    "checkpoint",
    "check point",
)


def _host_port(state: DoctorState) -> tuple[str, int]:
    """Where the connection goes: the proxy when one applies, else the API host."""
    if state.proxy_target is not None:
        return state.proxy_target
    assert state.url is not None
    port = state.url.port or (443 if state.url.scheme == "https" else 80)
    return state.url.host, port


def _proxy_fix(state: DoctorState, first: str) -> str:
    """The fix when the proxy, not the API, is what fails: start or correct it, or go direct."""
    assert state.url is not None
    var = state.proxy_var or "HTTPS_PROXY"
    return f"{first} To connect directly instead, unset {var} or add {state.url.host} to NO_PROXY."


def _fmt_addr(sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _getaddrinfo(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """socket.getaddrinfo with a timeout (it has none of its own: run it in a daemon thread)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc

    t = threading.Thread(target=work, name="mscli-doctor-dns", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"no answer from DNS within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return list(box["result"])


def check_dns(state: DoctorState) -> CheckResult:
    host, port = _host_port(state)
    what = "proxy host " if state.proxy_target else ""
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host.strip("[]"))
        state.addrs = _getaddrinfo(host.strip("[]"), port, state.timeout)
        return ok(f"{what}{host} is an IP address, no lookup needed")
    try:
        infos = _getaddrinfo(host, port, state.timeout)
    except socket.gaierror as exc:
        code = exc.args[0] if exc.args else None
        if code in (socket.EAI_AGAIN,):
            why = "the DNS server could not be reached or did not answer (EAI_AGAIN)"
            fix = dns_fix(host, temporary=True)
        elif code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            why = "the name does not exist"
            fix = dns_fix(host, temporary=False)
        else:
            why = str(exc.strerror or exc)
            fix = None
        if state.proxy_target is not None and code != socket.EAI_AGAIN:
            fix = _proxy_fix(state, f"Correct the proxy's host name in {state.proxy_var}.")
        return fail(f"{what}{host} does not resolve: {why}", key="network.dns", fix=fix)
    except TimeoutError as exc:
        return fail(
            f"{what}{host}: {exc}",
            key="network.dns",
            fix="Check your DNS settings and connection; a slow resolver delays every request.",
        )
    except OSError as exc:
        return fail(f"{what}{host} does not resolve: {exc}", key="network.dns")
    state.addrs = infos
    shown = list(dict.fromkeys(str(info[4][0]) for info in infos))
    more = f" (+{len(shown) - 3} more)" if len(shown) > 3 else ""
    return ok(f"{what}{host} → {', '.join(shown[:3])}{more}")


def check_tcp(state: DoctorState) -> CheckResult:
    host, port = _host_port(state)
    addrs = state.addrs or _getaddrinfo(host, port, state.timeout)
    connect_timeout = min(state.timeout, 10.0)
    last: tuple[str, OSError] | None = None
    for family, socktype, proto, _canon, sockaddr in addrs[:4]:
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(connect_timeout)
        started = time.perf_counter()
        try:
            sock.connect(sockaddr)
        except OSError as err:
            last = (_fmt_addr(sockaddr), err)
            continue
        finally:
            sock.close()
        state.tcp_addr = sockaddr
        took = time.perf_counter() - started
        via = " (the proxy)" if state.proxy_target else ""
        return ok(
            f"connected to {_fmt_addr(sockaddr)}{via}",
            connect_ms=round(took * 1000, 1),
        )
    if last is None:
        return fail(f"{host} has no address to connect to", key="network.other")
    where, exc = last
    proxy = state.proxy_target is not None
    if proxy:
        where = f"the proxy {where} (from {state.proxy_var})"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return fail(
            f"{where} refused the connection: nothing is listening on port {port}",
            key="network.proxy" if proxy else "network.refused",
            fix=_proxy_fix(state, f"Start the proxy, or correct {state.proxy_var} ({state.proxy}).")
            if proxy
            else "Check the host and port in the base URL (the API listens on 443), and that the server is running.",
        )
    if isinstance(exc, TimeoutError):
        return fail(
            f"no answer from {where} within {connect_timeout:g} s (packets dropped: firewall, VPN or wrong address?)",
            key="network.proxy" if proxy else "network.connect_timeout",
            fix=_proxy_fix(state, f"Check that the proxy in {state.proxy_var} is the right one.")
            if proxy
            else None,
        )
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return fail(
            f"{where} is unreachable: {exc.strerror}",
            key="network.other",
            fix="Check your network connection, VPN and routes; a proxy may be required (HTTPS_PROXY).",
        )
    return fail(f"cannot connect to {where}: {exc.strerror or exc}", key="network.other")


def _tls_context(state: DoctorState) -> ssl.SSLContext:
    """The same trust store the client uses: SSL_CERT_FILE / SSL_CERT_DIR, else certifi."""
    cert_file, cert_dir = state.getenv("SSL_CERT_FILE"), state.getenv("SSL_CERT_DIR")
    if cert_file:
        return ssl.create_default_context(cafile=cert_file)
    if cert_dir:
        return ssl.create_default_context(capath=cert_dir)
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def _name(entries: Any, key: str) -> str | None:
    for rdn in entries or ():
        for k, v in rdn:
            if k == key:
                return str(v)
    return None


def _issuer(cert: dict[str, Any]) -> str | None:
    """Who signed a decoded certificate: its issuer's organisation, else its common name."""
    return _name(cert.get("issuer"), "organizationName") or _name(cert.get("issuer"), "commonName")


def _unverified_cert(addr: tuple[Any, ...], host: str, timeout: float) -> dict[str, Any] | None:
    """The server's certificate fetched without verification, decoded (for the diagnosis only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(addr[:2], timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    if not der:
        return None
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(ssl.DER_cert_to_PEM_cert(der))
        return dict(decode(path))
    except Exception:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _speaks_plain_http(addr: tuple[Any, ...], host: str, timeout: float) -> bool:
    try:
        with socket.create_connection(addr[:2], timeout=timeout) as sock:
            sock.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("ascii", "replace"))
            return sock.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def _cert_expiry(cert: dict[str, Any]) -> float | None:
    not_after = cert.get("notAfter")
    if not not_after:
        return None
    try:
        return ssl.cert_time_to_seconds(str(not_after))
    except ValueError:
        return None


def check_tls(state: DoctorState) -> CheckResult:
    assert state.url is not None
    if state.url.scheme != "https":
        return skip("plain http to a loopback host: no TLS")
    if state.proxy_target is not None:
        return skip(
            f"through proxy {state.proxy}: TLS to {state.url.host} is tunnelled, the HTTP check covers it"
        )
    host = state.url.host
    addr = state.tcp_addr or (host, state.url.port or 443)
    timeout = min(state.timeout, 10.0)
    port = addr[1]
    plain_fix = (
        f"Port {port} speaks plain HTTP. Use the API's https port (https://{API_HOST}/v1, port 443); "
        f"for a local server, use http://{host}:{port}/v1 instead of https://."
    )
    try:
        ctx = _tls_context(state)
    except (OSError, ssl.SSLError) as exc:
        return fail(
            f"the CA bundle could not be loaded: {exc}",
            key="network.tls",
            fix="Point SSL_CERT_FILE at a valid PEM bundle, or unset it.",
        )
    started = time.perf_counter()
    try:
        with (
            socket.create_connection(addr[:2], timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            version = tls.version() or "TLS"
            cert = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        code = getattr(exc, "verify_code", None)
        message = getattr(exc, "verify_message", None) or str(exc)
        cert = _unverified_cert(addr, host, timeout) or {}
        issuer = _issuer(cert)
        by = f" (issued by '{issuer}')" if issuer else ""
        if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            when = cert.get("notAfter") or "an earlier date"
            now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            return fail(
                f"{host}'s certificate expired ({when}){by}; this machine's clock says {now}",
                key="network.tls",
                fix="If the clock is wrong, fix the date and time; otherwise the server's certificate really expired: report it.",
            )
        if code == 62 or "hostname mismatch" in message.lower():
            return fail(
                f"{host}'s certificate is for another name{by}: {message}",
                key="network.tls",
                fix="Check the host in the base URL; a proxy or captive portal may be answering in its place.",
            )
        lower = (issuer or "").lower()
        interceptor = any(word in lower for word in _INTERCEPTORS)
        likely = (
            "a TLS-inspecting proxy or security software"
            if interceptor or code in (19, 20, 21)
            else "an unknown authority"
        )
        return fail(
            f"certificate verification failed: {message}{by}; signed by {likely}",
            key="network.tls",
            fix=(
                "Behind a corporate proxy that inspects TLS, export SSL_CERT_FILE=/path/to/its-ca-bundle.pem "
                "(ask IT for it); check the system clock; never turn verification off."
            ),
            issuer=issuer,
        )
    except ssl.SSLError as exc:
        reason = str(getattr(exc, "reason", "") or "")
        plain = _speaks_plain_http(addr, host, timeout)
        if (
            plain
            or any(r in reason.upper() for r in _NOT_TLS_REASONS)
            or "wrong version number" in str(exc).lower()
        ):
            said = "answers plain HTTP" if plain else f"does not speak TLS ({reason or exc})"
            return fail(
                f"{_fmt_addr(addr)} {said}: https:// was used on a plain-HTTP port",
                key="network.tls",
                fix=plain_fix,
            )
        return fail(
            f"TLS handshake with {_fmt_addr(addr)} failed: {reason or exc}", key="network.tls"
        )
    except TimeoutError:
        if _speaks_plain_http(addr, host, timeout):
            return fail(
                f"{_fmt_addr(addr)} did not answer the TLS handshake but answers plain HTTP: "
                "https:// was used on a plain-HTTP port",
                key="network.tls",
                fix=plain_fix,
            )
        return fail(
            f"{_fmt_addr(addr)} accepted the connection but did not answer the TLS handshake within {timeout:g} s",
            key="network.tls",
            fix="Check the port in the base URL; a firewall or proxy may be holding the connection (HTTPS_PROXY).",
        )
    except (ConnectionResetError, ssl.SSLEOFError, EOFError, BrokenPipeError) as exc:
        if _speaks_plain_http(addr, host, timeout):
            return fail(
                f"{_fmt_addr(addr)} closed the TLS handshake and answers plain HTTP",
                key="network.tls",
                fix=plain_fix,
            )
        return fail(
            f"{_fmt_addr(addr)} closed the connection during the TLS handshake ({type(exc).__name__})",
            key="network.tls",
            fix="A firewall or proxy may be cutting TLS connections; check HTTPS_PROXY and your network.",
        )
    except OSError as exc:
        return fail(
            f"TLS connection to {_fmt_addr(addr)} failed: {exc.strerror or exc}", key="network.tls"
        )
    took = time.perf_counter() - started
    issuer = _issuer(cert)
    expiry = _cert_expiry(cert)
    by = f", issued by {issuer}" if issuer else ""
    if expiry is not None:
        days = (expiry - time.time()) / 86400
        until = time.strftime("%Y-%m-%d", time.gmtime(expiry))
        if days < CERT_WARN_DAYS:
            return warn(
                f"{version}, certificate valid for {days:.0f} more days (until {until}){by}",
                key="network.tls",
                fix="Nothing to do on your side unless it lapses; then report it (or check the clock).",
                days_left=round(days, 1),
            )
        return ok(
            f"{version} in {fmt_ms(took)}, certificate valid until {until}{by}",
            days_left=round(days, 1),
        )
    return ok(f"{version} in {fmt_ms(took)}, certificate verified{by}")
