"""The ModelStack sandbox: a local, ModelStack-compatible HTTP server (stdlib `ThreadingHTTPServer`).

`server.SandboxServer` is the server, `embedded.start_embedded` runs one in-process for `--sandbox`,
`keys.MAGIC_KEYS` is the table of test keys that trigger fixed behaviour. Nothing here imports
httpx, pydantic or rich: the sandbox is standard library only.
"""
