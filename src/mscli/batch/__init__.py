"""The engine of `mscli batch` (no Typer here; `commands/batch.py` is the thin command).

- `inputs`: JSON lines (or plain text lines) to validated `Line`s, every problem with its line number.
- `pacer`: which RPM applies and the `Pacer` that spaces requests at most one every 60/RPM seconds,
  with an injectable clock and wait, and a pause every worker honours after a 429.
- `output`: the output writer (one strict JSON line per finished line, flushed, fsynced to a file)
  and `--resume` (which ids already succeeded).
- `runner`: the workers (added as the pace needs them) and the stop rules (401/402/config
  errors, Ctrl-C); `sender`: one line through the API client; `summary`: the totals.
- `engine`: the steps the command calls (prepare, rate, estimate, execute), the ledger.
"""
