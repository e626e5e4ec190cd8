"""Thin Typer commands: parse options, call the layers below, hand a result to the output layer.

Rule: module level imports only typer and the stdlib; everything heavy is imported inside the
command function, so `mscli --help` stays fast.
"""
