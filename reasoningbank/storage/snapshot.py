"""The index snapshot: per pattern, what the bank reads out of each row and body on open.

Why: opening a bank parsed every pattern's JSON body only to read its confidence, counts
and context, and then built a Python object for every column of every row (reading the
rows was a third of opening 100,000 patterns). A bank saves these columns when it closes,
tagged with the data's sequence number; while the sequence number still matches, the next
open takes them from here and reads no row at all (a bank without vectors) or no body
(with vectors, which only the rows hold). Patterns with a context are always parsed
(their context is kept in memory).

Layout: ``b"RBX3"`` (``b"RBXC"`` on a big-endian machine), u64 seq, u32 count, u32 lengths
of three JSON lists: the ids, the distinct names (categories and strategies) and the distinct
term texts (terms joined by spaces; zero bytes each without the rows), the three lists, then
``count`` float64 qualities, wins, losses and averages, ``count`` int64 contradiction counts and
``count`` context flags (one byte each). With the rows follow ``count`` uint32 category,
strategy and text codes into the lists, ``count`` float64 creation and update times and
``count`` int64 row numbers.
Anything that does not add up is ignored, never trusted: a damaged snapshot (or one of an
older layout) only costs reading the rows.
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from collections.abc import Sequence
from typing import Any, TypeAlias

from .base import Columns

__all__ = ["Rows", "Snapshot", "decode", "encode"]

_HEAD = struct.Struct("=4sQIIII")
#: Numbers are in the machine's byte order, which the magic tells: a snapshot written on a
#: machine of the other order is ignored (that open reads the rows) rather than converted.
_MAGIC = b"RBX3" if sys.byteorder == "little" else b"RBXC"
_NUMBERS = 8 * 4 + 8 + 1  # bytes a pattern: four floats, contradictions, context flag
_ROWS = 3 * 4 + 2 * 8 + 8  # three codes, two times, the row number

#: ids, then columns of floats (quality, wins, losses, average), contradictions, context flags
Snapshot: TypeAlias = "tuple[list[str], list[array[float]], array[int], bytes]"
#: The rest of each row, in the snapshot's order: category, strategy, created and updated
#: times, terms, row number.
Rows: TypeAlias = (
    "tuple[Sequence[str], Sequence[str], Sequence[float], Sequence[float],"
    " Sequence[tuple[str, ...]], Sequence[int]]"
)


def encode(
    seq: int,
    ids: Sequence[str],
    floats: Sequence[Sequence[float]],
    contradictions: Sequence[int],
    has_context: Sequence[bool],
    rows: Rows | None = None,
) -> bytes:
    names: dict[Any, int] = {}
    texts: dict[Any, int] = {}
    codes = []
    columns = (rows[0], rows[1], rows[4]) if rows else ()
    for code, column in zip((names, names, texts), columns, strict=False):
        for value in dict.fromkeys(column):  # the distinct values, first seen first
            code.setdefault(value, len(code))
        codes.append(array("I", map(code.__getitem__, column)))
    lists = [list(ids), list(names), [" ".join(terms) for terms in texts]]
    blobs = [json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode() for v in lists]
    blobs[1:] = blobs[1:] if rows else [b"", b""]
    parts = [_HEAD.pack(_MAGIC, seq, len(ids), *map(len, blobs)), *blobs]
    parts += [array("d", column).tobytes() for column in floats]
    parts += [array("q", contradictions).tobytes(), bytes(bytearray(has_context))]
    if rows:
        parts += [c.tobytes() for c in codes]
        parts += [array("d", rows[2]).tobytes(), array("d", rows[3]).tobytes()]
        parts.append(array("q", rows[5]).tobytes())
    return b"".join(parts)


def _take(blob: bytes, pos: int, typecodes: str, n: int) -> tuple[list[array[Any]], int]:
    """``n`` values of each typecode, one column after the other from ``pos``; and the end."""
    out = []
    for typecode in typecodes:
        end = pos + array(typecode).itemsize * n
        out.append(array(typecode, blob[pos:end]))
        pos = end
    return out, pos


def decode(blob: object, seq: int) -> tuple[Snapshot, Columns | None] | None:
    """The snapshot in ``blob`` and the rows it holds (as ``SqliteStore.load_columns``
    reads them without bodies; None if it holds none) if it is well formed and was taken
    at ``seq``, else None."""
    if not isinstance(blob, bytes) or len(blob) < _HEAD.size:
        return None
    magic, tag, n, *sizes = _HEAD.unpack_from(blob)
    pos = _HEAD.size + sum(sizes)
    if magic != _MAGIC or tag != seq or len(blob) != pos + n * (_NUMBERS + _ROWS * (sizes[1] > 0)):
        return None
    lists, at = [], _HEAD.size
    try:
        for size in sizes:
            lists.append(json.loads(blob[at : at + size]) if size else [])
            at += size
    except ValueError:
        return None
    ids, names, texts = lists
    if not all(isinstance(v, list) for v in lists) or len(ids) != n:
        return None
    numbers, pos = _take(blob, pos, "ddddq", n)
    snap: Snapshot = (ids, numbers[:4], numbers[4], blob[pos : pos + n])
    if not sizes[1]:
        return snap, None
    (*codes, created, updated, rowids), _ = _take(blob, pos + n, "IIIddq", n)
    bounds = (len(names), len(names), len(texts))
    if not all(isinstance(v, str) for v in (*names, *texts)) or any(
        c and max(c) >= b for c, b in zip(codes, bounds, strict=True)
    ):
        return None
    split = [tuple(text.split(" ")) if text else () for text in texts]
    category, strategy = (list(map(names.__getitem__, c)) for c in codes[:2])
    terms = list(map(split.__getitem__, codes[2]))
    times = created.tolist(), updated.tolist()
    return snap, Columns(ids, category, strategy, *times, [None] * n, terms, {}, rowids)
