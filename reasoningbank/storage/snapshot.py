"""The index snapshot: per pattern, what the bank reads out of each row and body on open.

Why: opening a bank parsed every pattern's JSON body only to read its confidence, counts
and context, and then built a Python object for every column of every row (SQLite's row
reading was a third of opening 100,000 patterns). A bank saves these columns when it
closes, tagged with the data's sequence number; while the sequence number still matches,
the next open takes them from here and reads no row at all (a bank without vectors) or
no body (with vectors, which only the rows hold). Patterns with a context are always
parsed (their context is kept in memory).

Layout: ``b"RBX1"`` or ``b"RBX2"``, u64 seq, u32 count, u32 length of the ids (a JSON
list), the ids, then ``count`` little-endian float64 qualities, wins, losses and averages,
``count`` int64 contradiction counts and ``count`` context flags (one byte each). ``RBX2``
goes on with the rows: u32 lengths of two JSON lists, the distinct names (categories and
strategies) and the distinct term texts (terms joined by spaces), then ``count`` uint32
category, strategy and text codes into them and ``count`` float64 creation and update
times. Anything that does not add up is ignored, never trusted: a damaged snapshot only
costs reading the rows.
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from collections.abc import Sequence
from typing import Any, TypeAlias

from .base import Columns

__all__ = ["Rows", "Snapshot", "decode", "decode_columns", "encode"]

_MAGIC = b"RBX1"
_MAGIC_ROWS = b"RBX2"
_HEAD = struct.Struct("<4sQII")
_ROWS_HEAD = struct.Struct("<II")
_FLOAT_COLUMNS = 4  # quality, wins, losses, average
_PER_PATTERN = 8 * _FLOAT_COLUMNS + 8 + 1
_ROWS_PER_PATTERN = 3 * 4 + 2 * 8  # three codes, two times

#: ids, then columns of floats (quality, wins, losses, average), contradictions, context flags
Snapshot: TypeAlias = "tuple[list[str], list[array[float]], array[int], bytes]"
#: What ``encode`` keeps of the rows, per pattern in the snapshot's order: category,
#: strategy, created and updated times, terms.
Rows: TypeAlias = (
    "tuple[Sequence[str], Sequence[str], Sequence[float], Sequence[float],"
    " Sequence[tuple[str, ...]]]"
)


def _le(arr: array[Any]) -> bytes:
    if sys.byteorder == "big":
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _column(typecode: str, data: bytes) -> array[Any]:
    arr = array(typecode, data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr


def _codes(values: Sequence[Any], code_of: dict[Any, int]) -> array[int]:
    """Each value's position in ``code_of`` (values new to it are appended)."""
    return array("I", [code_of.setdefault(v, len(code_of)) for v in values])


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def encode(
    seq: int,
    ids: Sequence[str],
    floats: Sequence[Sequence[float]],
    contradictions: Sequence[int],
    has_context: Sequence[bool],
    rows: Rows | None = None,
) -> bytes:
    ids_json = _json(list(ids))
    magic = _MAGIC if rows is None else _MAGIC_ROWS
    parts = [_HEAD.pack(magic, seq, len(ids), len(ids_json)), ids_json]
    parts += [_le(array("d", column)) for column in floats]
    parts.append(_le(array("q", contradictions)))
    parts.append(bytes(bytearray(has_context)))
    if rows is not None:
        category, strategy, created, updated, terms = rows
        names: dict[str, int] = {}
        texts: dict[tuple[str, ...], int] = {}
        codes = [_codes(category, names), _codes(strategy, names), _codes(terms, texts)]
        names_json, texts_json = _json(list(names)), _json([" ".join(t) for t in texts])
        parts += [_ROWS_HEAD.pack(len(names_json), len(texts_json)), names_json, texts_json]
        parts += [_le(column) for column in codes]
        parts += [_le(array("d", created)), _le(array("d", updated))]
    return b"".join(parts)


def _numbers(blob: bytes, seq: int) -> tuple[Snapshot, int, bool] | None:
    """The snapshot's numbers, where its rows begin, and whether it has them."""
    if not isinstance(blob, bytes) or len(blob) < _HEAD.size:
        return None
    magic, tag, count, ids_len = _HEAD.unpack_from(blob)
    if magic not in (_MAGIC, _MAGIC_ROWS) or tag != seq:
        return None
    pos = _HEAD.size + ids_len
    end = pos + count * _PER_PATTERN
    if len(blob) < end or (magic == _MAGIC and len(blob) != end):
        return None
    try:
        ids = json.loads(blob[_HEAD.size : pos])
    except ValueError:
        return None
    if not isinstance(ids, list) or len(ids) != count:
        return None
    floats = []
    for _ in range(_FLOAT_COLUMNS):
        floats.append(_column("d", blob[pos : pos + 8 * count]))
        pos += 8 * count
    contradictions = _column("q", blob[pos : pos + 8 * count])
    pos += 8 * count
    return (ids, floats, contradictions, blob[pos : pos + count]), end, magic == _MAGIC_ROWS


def decode(blob: object, seq: int) -> Snapshot | None:
    """The snapshot in ``blob`` if it is well formed and was taken at ``seq``, else None."""
    got = _numbers(blob, seq) if isinstance(blob, bytes) else None
    if got is None or (got[2] and _rows(blob, got[1], len(got[0][0])) is None):  # type: ignore[arg-type]
        return None
    return got[0]


def decode_columns(blob: object, seq: int) -> tuple[Snapshot, Columns] | None:
    """The snapshot in ``blob`` and the rows it holds (as ``SqliteStore.load_columns``
    reads them without bodies) if it has them, is well formed and was taken at ``seq``."""
    got = _numbers(blob, seq) if isinstance(blob, bytes) else None
    if got is None or not got[2]:
        return None
    snap, pos, _ = got
    rows = _rows(blob, pos, len(snap[0]))  # type: ignore[arg-type]
    if rows is None:
        return None
    ids = snap[0]
    n = len(ids)
    category, strategy, created, updated, terms = rows
    return snap, Columns(ids, category, strategy, created, updated, [None] * n, terms, {})


def _rows(
    blob: bytes, pos: int, count: int
) -> tuple[list[str], list[str], list[float], list[float], list[tuple[str, ...]]] | None:
    if len(blob) < pos + _ROWS_HEAD.size:
        return None
    names_len, texts_len = _ROWS_HEAD.unpack_from(blob, pos)
    pos += _ROWS_HEAD.size
    if len(blob) != pos + names_len + texts_len + count * _ROWS_PER_PATTERN:
        return None
    try:
        names = json.loads(blob[pos : pos + names_len])
        texts = json.loads(blob[pos + names_len : pos + names_len + texts_len])
    except ValueError:
        return None
    if not (isinstance(names, list) and isinstance(texts, list)) or not all(
        isinstance(v, str) for v in (*names, *texts)
    ):
        return None
    pos += names_len + texts_len
    codes = []
    for bound in (len(names), len(names), len(texts)):
        column = _column("I", blob[pos : pos + 4 * count])
        if column and max(column) >= bound:
            return None
        codes.append(column)
        pos += 4 * count
    created = _column("d", blob[pos : pos + 8 * count]).tolist()
    updated = _column("d", blob[pos + 8 * count :]).tolist()
    split = [tuple(text.split(" ")) if text else () for text in texts]
    return (
        list(map(names.__getitem__, codes[0])),
        list(map(names.__getitem__, codes[1])),
        created,
        updated,
        list(map(split.__getitem__, codes[2])),
    )
