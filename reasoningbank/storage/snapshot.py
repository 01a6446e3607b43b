"""The index snapshot: per pattern, the numbers the bank reads out of each body on open.

Why: opening a bank parsed every pattern's JSON body only to read its confidence, counts
and context, over half the time of opening 100,000 patterns. A bank saves these columns
when it closes, tagged with the data's sequence number; the next open uses them while the
sequence number still matches and parses the bodies otherwise. Patterns with a context
are always parsed (their context is kept in memory); terms were stored already.

Layout: ``b"RBX1"``, u64 seq, u32 count, u32 length of the ids (a JSON list), the ids,
then ``count`` little-endian float64 qualities, wins, losses and averages, ``count``
int64 contradiction counts and ``count`` context flags (one byte each). Anything that does
not add up is ignored, never trusted: a damaged snapshot only costs the parse.
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from collections.abc import Sequence
from typing import TypeAlias

__all__ = ["Snapshot", "decode", "encode"]

_MAGIC = b"RBX1"
_HEAD = struct.Struct("<4sQII")
_FLOAT_COLUMNS = 4  # quality, wins, losses, average

#: ids, then columns of floats (quality, wins, losses, average), contradictions, context flags
Snapshot: TypeAlias = "tuple[list[str], list[array[float]], array[int], bytes]"


def _le(arr: array[float] | array[int]) -> bytes:
    if sys.byteorder == "big":
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _floats(data: bytes) -> array[float]:
    arr = array("d", data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr


def _ints(data: bytes) -> array[int]:
    arr = array("q", data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr


def encode(
    seq: int,
    ids: Sequence[str],
    floats: Sequence[Sequence[float]],
    contradictions: Sequence[int],
    has_context: Sequence[bool],
) -> bytes:
    ids_json = json.dumps(list(ids), ensure_ascii=False, separators=(",", ":")).encode()
    parts = [_HEAD.pack(_MAGIC, seq, len(ids), len(ids_json)), ids_json]
    parts += [_le(array("d", column)) for column in floats]
    parts.append(_le(array("q", contradictions)))
    parts.append(bytes(bytearray(has_context)))
    return b"".join(parts)


def decode(blob: object, seq: int) -> Snapshot | None:
    """The snapshot in ``blob`` if it is well formed and was taken at ``seq``, else None."""
    if not isinstance(blob, bytes) or len(blob) < _HEAD.size:
        return None
    magic, tag, count, ids_len = _HEAD.unpack_from(blob)
    if magic != _MAGIC or tag != seq:
        return None
    pos = _HEAD.size + ids_len
    if len(blob) != pos + count * (8 * _FLOAT_COLUMNS + 8 + 1):
        return None
    try:
        ids = json.loads(blob[_HEAD.size : pos])
    except ValueError:
        return None
    if not isinstance(ids, list) or len(ids) != count:
        return None
    floats = []
    for _ in range(_FLOAT_COLUMNS):
        floats.append(_floats(blob[pos : pos + 8 * count]))
        pos += 8 * count
    contradictions = _ints(blob[pos : pos + 8 * count])
    return ids, floats, contradictions, blob[pos + 8 * count :]
