"""Placeholder; replaced by the root app."""
def main() -> None:
    raise SystemExit(0)
