"""Chat in one place: `exchange` (one exchange's data), `engine` (`Chat`: sends an exchange and
streams it into a view), `recorder` (the ledger and the history), `session` (the interactive
prompt_toolkit loop). Commands build these from the app context; nothing here reads it."""
