"""`mscli batch` on a terminal: one progress bar on stderr (done/total, failed, pace against the
RPM, ETA at the pace, credits so far). Scripts and CI get only the summary line instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

if TYPE_CHECKING:
    from mscli.batch.summary import Summary


class BatchProgress:
    def __init__(self, console: Console, total: int) -> None:
        self._bar = Progress(
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}", markup=False),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task("batch", total=total, info="")
        self._bar.start()

    def update(self, s: Summary) -> None:
        achieved = s.achieved_rpm
        pace = f"{achieved:.0f}/{s.rate.rpm} RPM" if achieved else f"-/{s.rate.rpm} RPM"
        eta = round(max(0, s.lines - s.written) * s.rate.interval)
        info = (
            f"{s.failed} failed · {pace} · ETA {eta // 60}:{eta % 60:02d} · "
            f"≈ {s.credits:.4f} credits"
        )
        self._bar.update(self._task, completed=s.written, info=info)

    def close(self) -> None:
        self._bar.stop()
