"""A small terminal emulator for the pty tests: replays what a program wrote to a terminal and gives
the text left on the screen (scrollback included), so a test can tell what the user finally sees
from what was drawn and erased again (Rich's live region redraws its lines many times).

It knows what Rich and prompt_toolkit emit: printable text with deferred auto-wrap (DECAWM, which
prompt_toolkit switches off while it draws), CR, LF, BS, and the CSI cursor moves and erases
(A B C D G H f K J), SGR and modes ignored, OSC strings skipped.
"""

from __future__ import annotations

import re

from rich.cells import cell_len

_CSI = re.compile(r"\x1b\[([0-9;?<=>]*)[ -/]*([@-~])")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


class Screen:
    def __init__(self, cols: int, rows: int) -> None:
        self.cols = cols
        self.rows = rows
        self.lines: list[list[str]] = [[]]
        self.top = 0  # index of the first visible line
        self.row = 0
        self.col = 0
        self.wrap_pending = False
        self.autowrap = True

    # -- output -----------------------------------------------------------------------------

    def feed(self, data: bytes | str) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == "\x1b":
                m = _CSI.match(text, i)
                if m:
                    self._csi(m.group(1), m.group(2))
                    i = m.end()
                    continue
                m = _OSC.match(text, i)
                if m:
                    i = m.end()
                    continue
                i += 2  # ESC and one character (ESC 7, ESC =, ...): ignored
                continue
            if ch == "\r":
                self.col, self.wrap_pending = 0, False
            elif ch == "\n":
                self._linefeed()
            elif ch == "\b":
                self.col, self.wrap_pending = max(0, self.col - 1), False
            elif ch >= " " and ch != "\x7f":
                self._put(ch)
            i += 1

    def _line(self) -> list[str]:
        while len(self.lines) <= self.row:
            self.lines.append([])
        return self.lines[self.row]

    def _put(self, ch: str) -> None:
        width = max(1, cell_len(ch))
        if self.wrap_pending or self.col + width > self.cols:
            if self.autowrap:
                self.col = 0
                self._linefeed()
            else:
                self.col = self.cols - width
            self.wrap_pending = False
        line = self._line()
        while len(line) < self.col + width:
            line.append(" ")
        line[self.col] = ch
        for k in range(1, width):
            line[self.col + k] = ""
        self.col += width
        if self.col >= self.cols:
            self.col = self.cols - 1
            self.wrap_pending = True

    def _linefeed(self) -> None:
        self.wrap_pending = False
        self.row += 1
        self._line()
        if self.row - self.top >= self.rows:
            self.top = self.row - self.rows + 1

    def _csi(self, params: str, final: str) -> None:
        private = params.startswith("?")
        nums = [int(p) if p.isdigit() else 0 for p in params.lstrip("?<=>").split(";")]
        n = nums[0] if nums and nums[0] else 1
        if private:
            if final in "hl" and 7 in nums:
                self.autowrap = final == "h"
            return
        self.wrap_pending = False
        if final == "A":
            self.row = max(self.top, self.row - n)
        elif final == "B":
            self.row = min(self.top + self.rows - 1, self.row + n)
            self._line()
        elif final == "C":
            self.col = min(self.cols - 1, self.col + n)
        elif final == "D":
            self.col = max(0, self.col - n)
        elif final == "G":
            self.col = min(self.cols - 1, n - 1)
        elif final in "Hf":
            r = nums[0] if nums and nums[0] else 1
            c = nums[1] if len(nums) > 1 and nums[1] else 1
            self.row = self.top + min(self.rows, r) - 1
            self.col = min(self.cols, c) - 1
            self._line()
        elif final == "K":
            self._erase_line(nums[0] if nums else 0)
        elif final == "J":
            mode = nums[0] if nums else 0
            if mode in (0, 2):
                self._erase_line(0 if mode == 0 else 2)
                del self.lines[self.row + 1 :]
            if mode in (1, 2):
                for r in range(self.top, self.row):
                    self.lines[r] = []
                if mode == 1:
                    self._erase_line(1)

    def _erase_line(self, mode: int) -> None:
        line = self._line()
        if mode == 0:
            del line[self.col :]
        elif mode == 1:
            for k in range(min(len(line), self.col + 1)):
                line[k] = " "
        else:
            line.clear()

    # -- reading ----------------------------------------------------------------------------

    def text_lines(self) -> list[str]:
        """Every line written (scrollback and screen), trailing spaces removed."""
        return ["".join(line).rstrip() for line in self.lines]

    def text(self) -> str:
        return "\n".join(self.text_lines()).rstrip("\n")


def render(data: bytes, cols: int, rows: int) -> Screen:
    screen = Screen(cols, rows)
    screen.feed(data)
    return screen
