"""How every posemods command ends when something goes wrong: one ``error:`` line that says what to do.

``posemods-train``, ``posemods-evaluate`` and ``posemods-visualize`` run their work through :func:`run`:

- an argument refused before anything ran (argparse's own checks, and :class:`UsageError`: a device this
  machine does not have, a folder that is not there, a frame size the model cannot take, an output folder
  that cannot be written) exits with status 2 after the usage line, as argparse does;
- anything that fails while the command runs (an unreadable checkpoint, a dataset folder without its
  files, a missing optional dependency, a full disk) exits with status 1.

Either way the last line is ``PROG: error: MESSAGE`` and no traceback is printed: the messages are
written where the problem is found, naming the file, flag or value and what would fix it. ``--debug``
lets the exception through, traceback and all. Nothing here imports the models or the data: each
command supplies its own checks.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

Result = TypeVar("Result")

#: Exit status of a command whose run failed (argparse's ``parser.error`` exits 2 for bad arguments).
RUNTIME_FAILURE = 1
#: Exit status after Ctrl-C, the shell's convention (128 + SIGINT).
INTERRUPTED = 130

# Exceptions whose messages are written to be read by the user (they name what is wrong and how to fix
# it); any other exception is a failure posemods did not foresee, and its line says how to see more.
_EXPLAINED = (ValueError, TypeError, OSError, ImportError)


class UsageError(ValueError):
    """A command-line argument refused before the command did anything: exit 2 with the usage line.

    ``flag`` names the argument (``"--device"``); the message says what was wrong and what to give instead.
    """

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"argument {flag}: {message}")
        self.flag = flag


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug``: show the full traceback of a failure instead of one ``error:`` line."""
    parser.add_argument(
        "--debug", action="store_true", help="on a failure, show the full traceback instead of one error line"
    )


def one_line(error: BaseException) -> str:
    """The error's message on one line: what :func:`run` prints after ``error:``."""
    message = " ".join(str(error).split())
    if isinstance(error, _EXPLAINED) and message:
        return message
    return f"{type(error).__name__}: {message or '(no message)'} (rerun with --debug to see where it failed)"


def run(parser: argparse.ArgumentParser, command: Callable[[argparse.Namespace], Result], argv=None) -> Result:
    """Parse ``argv`` with ``parser`` and return ``command(args)``, turning every failure into one line.

    :class:`UsageError` exits 2 through ``parser.error`` (the usage line, then the error), any other
    exception exits 1, Ctrl-C exits 130; with ``--debug`` (see :func:`add_debug_flag`) the exception
    propagates instead. ``SystemExit`` passes through untouched (argparse's own exits, ``--help``).
    """
    args = parser.parse_args(argv)
    try:
        return command(args)
    except KeyboardInterrupt:
        if getattr(args, "debug", False):
            raise
        parser.exit(INTERRUPTED, f"{parser.prog}: error: interrupted\n")
    except UsageError as error:
        if getattr(args, "debug", False):
            raise
        parser.error(one_line(error))
    except Exception as error:
        if getattr(args, "debug", False):
            raise
        parser.exit(RUNTIME_FAILURE, f"{parser.prog}: error: {one_line(error)}\n")


def check_writable_folder(flag: str, folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and write a temporary file in it, so a run that could not save its
    results fails before it starts; a :class:`UsageError` naming ``flag`` otherwise."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(
            flag, f"cannot write to {os.fspath(folder)!r} ({reason}); give a folder you can write to"
        ) from None
    return path
