"""The one exit-code table (reliability.md §5.2). Everything that ends the process uses these."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    BALANCE = 4
    RATE_LIMIT = 5
    REJECTED = 6
    SERVER = 7
    NETWORK = 8
    PROTOCOL = 9
    CONFIG = 10
    PARTIAL = 11
    INTERRUPTED = 130


#: One line per code, for --help epilogs, the man page and the README (one source of truth).
EXIT_CODE_DOCS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "unexpected internal failure (a bug): please report it",
    ExitCode.USAGE: "usage error: unknown option, bad value, missing argument",
    ExitCode.AUTH: "authentication: key missing, malformed, invalid or revoked (401, 403)",
    ExitCode.BALANCE: "insufficient balance (402), or below (or not known for) `balance --min`",
    ExitCode.RATE_LIMIT: "rate limited: retries used up, or the server asked to wait longer than --max-wait (429)",
    ExitCode.REJECTED: "request rejected: unsupported model, invalid field, not found (400, 404, 409, 413, 422)",
    ExitCode.SERVER: "server error after retries (500, 502, 503, 504)",
    ExitCode.NETWORK: "network: DNS, connection refused or reset, TLS, timeouts",
    ExitCode.PROTOCOL: "protocol: malformed or truncated response or stream, HTML instead of the API",
    ExitCode.CONFIG: "configuration: corrupt config, insecure http refused, bad base URL, redirect refused",
    ExitCode.PARTIAL: "batch finished with failed lines (each carries its error in the output; invalid ones too)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C; SIGTERM and SIGHUP stop the same way with 143 and 129)",
}
