"""Private, all-or-nothing files and bounded reads of untrusted ones.

Keys, trust lists and whatever else a command writes for the user are owner-only (0600),
appear whole or not at all, and are never written through a symbolic link. Input files are
decoded as UTF-8 and parsed as JSON with a depth bound, so a hostile file gives one clear
error instead of a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import InvalidPattern, StorageError

__all__ = ["MAX_JSON_DEPTH", "decode_utf8", "load_json", "read_no_follow", "write_private"]

#: Deepest nesting accepted in JSON read from files and arguments (patterns, trust lists,
#: rotation statements). Real documents stay under 10; the C parser gives up near 1000.
MAX_JSON_DEPTH = 64


def write_private(path: str | os.PathLike[str], data: bytes, *, replace: bool = True) -> None:
    """Write ``data`` to ``path`` as an owner-only file that appears whole or not at all.

    Why: writing in place leaves an empty or partial file when the disk fills or the process
    dies, and an empty key file bricks its bank. The data goes to a temporary file in the same
    folder, is fsynced, then renamed over ``path`` (``replace=True``) or hard-linked to it
    (``replace=False``: raises ``FileExistsError`` if ``path`` exists, so two processes cannot
    both create it). ``path`` must not be a symbolic link; its folder must exist.
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise StorageError(f"cannot write {target}: folder {folder} does not exist")
    if target.is_symlink():
        raise StorageError(f"{target} is a symbolic link: refusing to write through it")
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
        _fsync_folder(folder)
    except FileExistsError:
        raise
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise StorageError(f"cannot write {target}: {reason}; it was left unchanged") from exc
    finally:
        if tmp and os.path.lexists(tmp):
            os.unlink(tmp)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); folders cannot be opened this way on Windows."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_no_follow(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of ``path``, refusing a symbolic link and files over ``limit`` bytes.

    Raises ``FileNotFoundError`` when it is missing (callers create it), else ``StorageError``.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StorageError(f"{path} is a symbolic link: refusing to follow it") from exc
        raise StorageError(f"cannot read {path}: {os.strerror(exc.errno or 0)}") from exc
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise StorageError(f"{path} is larger than {limit} bytes: not the file expected there")
    return data


def decode_utf8(data: bytes, what: str) -> str:
    """``data`` as text; ``InvalidPattern`` naming ``what`` and the first bad byte if it is
    not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPattern(
            f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def load_json(data: str | bytes, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse untrusted JSON; ``InvalidPattern`` naming ``what`` if it is not UTF-8 JSON or is
    nested deeper than ``max_depth``.

    Why: ``json.loads`` raises ``RecursionError`` on deep input, and documents just under
    the interpreter's limit crash later code that walks them.
    """
    try:
        doc = json.loads(decode_utf8(data, what) if isinstance(data, bytes) else data)
    except RecursionError:
        raise InvalidPattern(f"{what} is nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise InvalidPattern(f"{what} is not JSON ({exc.msg}, line {exc.lineno})") from None
    if _json_depth(doc) > max_depth:
        raise InvalidPattern(f"{what} is nested deeper than {max_depth} levels")
    return doc


def _json_depth(doc: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth + 1)
            stack.extend((item, depth + 1) for item in value)
    return deepest
