"""The ``unistore`` command's subcommands, one module per family; :mod:`unistore.cli` lists them.

Each module offers pairs of functions (one adds a subcommand's arguments, one
runs it and returns the exit status). Only the command line imports them.
"""
