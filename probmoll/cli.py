"""Command line: ``probmoll [--debug] {demo,train,evaluate,corrupt,sweep} ...``.

Each sub-command lives with the code it drives; this module only dispatches. A
sub-command module provides ``add_arguments(parser)`` and ``run(args) -> int``.

Only the module of the command being run is imported, so ``probmoll --help`` answers at
once (``import torch`` alone takes seconds on a small machine).

Errors look the same in every command: one line, ``probmoll COMMAND: error: ...`` on
stderr, and exit status 2. The traceback is shown only with ``--debug`` (before or after
the command name) or with the environment variable ``PROBMOLL_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "DEBUG_ENV", "build_parser", "error_line", "main"]

# name -> (module providing add_arguments/run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("probmoll.demo", "mollify a batch of real images and write a PNG grid"),
    "train": (
        "probmoll.train.cli",
        "train a classifier from a YAML config with key=value overrides",
    ),
    "evaluate": ("probmoll.evaluate.cli", "evaluate a checkpoint on clean and corrupted data"),
    "corrupt": (
        "probmoll.data.corruptions.cli",
        "generate a corrupted (-C style) copy of a dataset",
    ),
    "sweep": ("probmoll.train.sweep", "run a grid of training runs and collect their results"),
}
# Set to 1 (or true/yes) to see the traceback of any error, as --debug does.
DEBUG_ENV = "PROBMOLL_DEBUG"


def _debug_parent(top_level: bool) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug",
        action="store_true",
        # On a sub-command the flag must not reset a --debug given before the command.
        default=False if top_level else argparse.SUPPRESS,
        help=f"show the traceback of an error (also: {DEBUG_ENV}=1)",
    )
    return parent


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``probmoll`` parser.

    Parameters
    ----------
    command : str, optional
        Import and fill in only this sub-command's arguments (the others keep their name
        and help, which is all ``probmoll --help`` shows). Default: all of them.
    """
    parser = argparse.ArgumentParser(
        prog="probmoll",
        description="probmoll: robust, calibrated classifiers by data mollification.",
        parents=[_debug_parent(top_level=True)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(
            name, help=help_text, description=help_text, parents=[_debug_parent(top_level=False)]
        )
        if command is None or name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_run=module.run)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv``: the first word that is one (None if none is)."""
    for word in argv:
        if word in COMMANDS:
            return word
        if not word.startswith("-"):
            return None
    return None


def error_line(error: BaseException) -> str:
    """``error`` as one line: its message with line breaks folded (its type when empty)."""
    text = " ".join(str(error).split())
    if isinstance(error, KeyError) and len(error.args) == 1:
        text = f"missing key {error.args[0]!r}"
    return text or type(error).__name__


def _debug_requested(argv: Sequence[str]) -> bool:
    if os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    return "--debug" in argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``probmoll`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    debug = _debug_requested(argv)
    try:
        parser = build_parser(command if command is not None else "")
        args = parser.parse_args(argv)
        return int(args._run(args) or 0)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:
        if debug:
            raise
        prefix = f"probmoll {command}" if command else "probmoll"
        hint = f"--debug or {DEBUG_ENV}=1 shows the traceback"
        print(f"{prefix}: error: {error_line(error)} ({hint})", file=sys.stderr)
        return 2
