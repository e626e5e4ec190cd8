"""The HTTP layer: speaks to the ModelStack gateway. The only code that imports httpx.

This package's ``__init__`` imports nothing on purpose: ``mscli.api.urls`` (standard library only)
is imported at start-up, and must not pull httpx or pydantic in with it.
"""
