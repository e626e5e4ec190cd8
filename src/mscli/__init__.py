"""mscli: the command-line tool for calling and diagnosing the ModelStack API.

This module holds the version only and imports nothing, so `mscli --version` stays fast.
"""

__version__ = "0.1.0"
