"""Running one parsed command: the CLI's only ``asyncio.run``, output path and error line.

A handler takes the parsed arguments and returns an ``Output`` (or a coroutine giving one):
a JSON-able document for ``--json`` and the text to print otherwise. A long-running server
prints as it goes and returns ``None``. ``run_command`` alone prints: errors become one
line on stderr (exit 1), so no handler repeats ``asyncio.run``, ``json.dump`` or ``except``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ReasoningBankError

__all__ = ["Handler", "Output", "one_line", "run_command"]


@dataclass(frozen=True, slots=True)
class Output:
    """What a command gives back; ``run_command`` prints it."""

    doc: Any
    """The document ``--json`` prints."""
    text: str | None
    """What is printed without ``--json`` (``None``: nothing)."""
    status: int = 0
    """The exit status (non-zero for a refusal that still has a report to print)."""
    errors: str = ""
    """Lines for stderr, printed with or without ``--json`` (a refusal's details)."""


Handler = Callable[[argparse.Namespace], Output | None | Awaitable[Output | None]]


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) made one space."""
    return " ".join(text.split())


def _say(prefix: str, message: str) -> None:
    print(one_line(f"{prefix}: {message}"), file=sys.stderr)


def _emit(out: Output, as_json: bool) -> None:
    if out.errors:
        print(out.errors, file=sys.stderr)
    if as_json:
        json.dump(out.doc, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif out.text is not None:
        print(out.text)


def run_command(args: argparse.Namespace, handler: Handler) -> int:
    """Run ``handler(args)`` and print its output; returns the exit status.

    Why one place: every command then has the same error line (``reasoningbank: error: ...``,
    or the command's own ``error_prefix``), the same ``--json`` and the same exit codes
    (1 error, 130 interrupted). ``REASONINGBANK_DEBUG=1`` shows an unexpected traceback.
    """
    prefix = getattr(args, "error_prefix", "reasoningbank: error")
    try:
        result = handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        if isinstance(result, Output):
            _emit(result, bool(getattr(args, "json", False)))
            return result.status
        return 0
    except ReasoningBankError as exc:
        _say(prefix, str(exc))
        return 1
    except KeyboardInterrupt:
        _say("reasoningbank", "interrupted")
        return 130
    except BrokenPipeError:  # e.g. `reasoningbank stats | head -1`: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's flush quiet
        return 0
    except Exception as exc:  # the last resort: a bug still gets one line, not a traceback
        if os.environ.get("REASONINGBANK_DEBUG"):
            raise
        _say(
            prefix,
            f"unexpected {type(exc).__name__}: {exc} "
            "(a bug: please report it; REASONINGBANK_DEBUG=1 shows the traceback)",
        )
        return 1
