"""`mscli doctor`: ordered checks between the terminal and the gateway, each returning a
`CheckResult`; the runner names the root cause (the first failure) and its exit code.

Imported only inside the `doctor` command: nothing here is loaded by `mscli --help`.
"""
