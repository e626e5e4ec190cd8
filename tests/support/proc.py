"""What a child process is doing, seen from outside (Linux /proc), so a test synchronises on an
event (the child blocked waiting for input) instead of a pause."""

from __future__ import annotations

import os
import platform
import time

import pytest

#: System calls a process waiting for input is blocked in (read, poll, select, recvfrom, epoll).
_WAITING = {
    "x86_64": {"0", "7", "23", "45", "232", "270", "271", "281"},
    "aarch64": {"63", "73", "72", "207", "22"},
}


def wait_blocked_reading(pid: int, timeout: float = 30.0) -> None:
    """Wait until the process is blocked waiting for input (Linux: /proc/PID/syscall); skip the
    test where that cannot be seen, rather than guess with a pause."""
    waiting = _WAITING.get(platform.machine())
    path = f"/proc/{pid}/syscall"
    if waiting is None or not os.path.exists(path):
        pytest.skip("cannot see what the child is blocked in (/proc/PID/syscall)")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                fields = f.read().split()
        except OSError:  # the child is gone; the caller's wait reports how it ended
            return
        if fields and fields[0] in waiting:
            return
        assert time.monotonic() < deadline, f"the child never waited for input ({fields})"
        time.sleep(0.005)  # polling the event, not waiting for time to pass
