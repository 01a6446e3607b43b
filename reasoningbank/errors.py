"""One exception tree for the whole library.

    ReasoningBankError
    ├── InvalidPattern      bad input: nothing was stored
    ├── NotFound            no pattern with that id
    ├── BankClosed          the bank was used after close()
    ├── StorageError        the backend failed (sqlite3 / IndexedDB errors, ``from exc``)
    │   ├── NotABank        the file exists but is not a ReasoningBank; it was not touched
    │   ├── NoBank          nothing at that location, and the caller asked not to create one
    │   ├── ReadOnlyBank    the bank can be read but not written (read-only file or mount)
    │   └── SchemaTooNew    written by a newer version; it was not touched
    ├── ImportFailed        an import file could not be read or verified
    ├── ServeError          ``serve`` cannot run (missing files, a busy port); says the fix
    ├── InvalidTrajectory   a trajectory ``learn`` cannot read (wrong shape, too large)
    ├── LLMError            the user's LLM failed; nothing was stored
    │   ├── LLMCallFailed   the call itself failed (non-zero exit, HTTP error, timeout)
    │   └── LLMAnswerError  the answer stayed malformed after one retry
    └── BusError            neural bus failures (see ``reasoningbank.bus``)

Foreign errors are translated at the boundary that sees them and re-raised ``from exc``.
"""

from __future__ import annotations

__all__ = [
    "BankClosed",
    "BusError",
    "ImportFailed",
    "InvalidPattern",
    "InvalidTrajectory",
    "LLMAnswerError",
    "LLMCallFailed",
    "LLMError",
    "NoBank",
    "NotABank",
    "NotFound",
    "ReadOnlyBank",
    "ReasoningBankError",
    "SchemaTooNew",
    "ServeError",
    "StorageError",
]


class ReasoningBankError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidPattern(ReasoningBankError, ValueError):
    """A pattern (or an argument describing one) failed validation."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ReasoningBankError, LookupError):
    """No pattern with the given id exists in the bank."""

    def __init__(self, pattern_id: str) -> None:
        super().__init__(f"no pattern with id {pattern_id!r}")
        self.pattern_id = pattern_id


class BankClosed(ReasoningBankError, RuntimeError):
    """The bank was used after ``close()``."""


class StorageError(ReasoningBankError):
    """The storage backend failed; the original error is the ``__cause__``."""


class NotABank(StorageError):
    """The location holds data that is not a ReasoningBank; it is left untouched."""


class NoBank(StorageError):
    """No bank exists at the location and the caller asked not to create one (read commands
    never create a bank: a mistyped path must not leave an empty one behind)."""


class ReadOnlyBank(StorageError):
    """A write was asked of a bank opened read-only (a read-only file or mount)."""


class SchemaTooNew(StorageError):
    """The bank was written by a newer schema than this version understands."""


class ImportFailed(ReasoningBankError):
    """An import or bundle could not be read, or failed verification."""


class ServeError(ReasoningBankError, RuntimeError):
    """The app cannot be served; the message says how to fix it."""


class BusError(ReasoningBankError):
    """Base class of neural-bus errors; subclasses carry a wire ``error_code``."""


class InvalidTrajectory(ReasoningBankError, ValueError):
    """A trajectory handed to ``learn`` has the wrong shape or exceeds its size limit."""


class LLMError(ReasoningBankError):
    """The LLM the caller supplied could not give a usable answer; nothing was stored."""


class LLMCallFailed(LLMError):
    """The LLM call failed (a command's non-zero exit, an HTTP error, a timeout)."""


class LLMAnswerError(LLMError):
    """The LLM's answer was malformed twice (the first answer and one retry).

    ``answer`` holds the last answer (truncated) so the caller can see what went wrong.
    """

    def __init__(self, message: str, *, answer: str = "") -> None:
        super().__init__(message)
        self.answer = answer[:500]
