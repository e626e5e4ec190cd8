"""Pytest fixtures that start the sandbox on a loopback port (filled in by the sandbox work)."""
