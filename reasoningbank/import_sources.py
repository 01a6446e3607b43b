"""Import sources: format detection and one reader per format, each yielding candidates.

Why apart from the import: reading hostile files is its own job (odd table names, wrong
column types, huge rows, deep JSON), and the import only decides what to store.
See ``reasoningbank.migrate`` for the formats and the guarantees.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import ImportFailed, InvalidPattern
from .model import MAX_TIME, format_time

__all__ = [
    "EMBEDDINGS",
    "FORMATS",
    "MAX_SOURCE_ROW_BYTES",
    "SourceRecord",
    "TrustedKeys",
    "detect_format",
    "normalise_pattern_json",
    "read_source",
]

#: Keys whose signed bundles may be imported (or a callable giving them, read only if needed).
TrustedKeys = Iterable[bytes] | Callable[[], Iterable[bytes]] | None

#: Accepted ``--format`` values; "auto" detects from the file's content, not its name.
FORMATS = ("auto", "jsonl", "json", "agentic-flow", "rust-sqlite", "bundle")
EMBEDDINGS = ("auto", "keep", "drop")

_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Largest source row read, in bytes over all its columns (SQLite sources) or per line
#: (JSONL). A memory is a few KB; a bigger row is reported as invalid instead of parsed, so a
#: hostile file cannot make the import hold gigabytes.
MAX_SOURCE_ROW_BYTES = 1 << 20
_PATTERN_KEYS = {
    "id", "task_description", "task_category", "strategy", "context", "outcome", "metadata",
    "embedding", "success_score", "tags",
}  # fmt: skip
_OUTCOME_KEYS = {
    "success",
    "success_score",
    "duration_seconds",
    "tokens_used",
    "error_message",
    "metrics",
}
_CAMEL = {
    "taskDescription": "task_description", "taskCategory": "task_category",
    "successScore": "success_score", "durationSeconds": "duration_seconds",
    "tokensUsed": "tokens_used", "errorMessage": "error_message", "createdAt": "created_at",
    "updatedAt": "updated_at", "usageCount": "usage_count", "avgSuccessScore": "avg_success_score",
}  # fmt: skip
#: Keys only this library writes into ``metadata``: a record carrying them came from us.
_OUR_METADATA = {"success_count", "failure_count", "merged_count"}


@dataclass(slots=True)
class SourceRecord:
    """One candidate read from a source: where it came from and the pattern dict to store."""

    where: str
    pattern: dict[str, Any] | None
    error: str | None = None
    #: With no pattern: True when the record is bad (an atomic import stops), False when it
    #: is simply not a memory (skipped and reported).
    invalid: bool = True


# -- format detection ----------------------------------------------------------------------
def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess the format of ``path`` from its content. Raises ``ImportFailed`` if unknown."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ImportFailed(f"cannot read {p}: {exc.strerror or exc}") from exc
    if head.startswith(_SQLITE_MAGIC):
        with _open_sqlite(p) as conn:
            return _sqlite_kind(conn, p)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise ImportFailed(f"{p} is empty")
    if text[0] == "[":
        return "json"
    if text[0] == "{":
        first = text.split("\n", 1)[0]
        try:
            obj = json.loads(first)
        except (ValueError, RecursionError):
            return "json"  # a pretty-printed object spanning lines (its reader says more)
        if isinstance(obj, dict) and str(obj.get("type", "")).startswith("reasoningbank.bundle"):
            return "bundle"
        if isinstance(obj, dict) and isinstance(obj.get("patterns"), list):
            return "json"  # {"patterns": [...]} on one line
        return "jsonl"
    raise ImportFailed(
        f"{p}: cannot tell the format (not SQLite, JSON or JSONL); pass --format explicitly"
    )


class _Conn:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _open_sqlite(path: str) -> _Conn:
    """Open read-only; the source is never written (not even its WAL is checkpointed)."""
    from urllib.parse import quote

    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        try:  # a read-only directory cannot hold the -shm file a WAL database wants
            conn = sqlite3.connect(uri + "&immutable=1", uri=True)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise ImportFailed(f"{path}: not a readable SQLite database ({exc})") from exc
    conn.row_factory = sqlite3.Row
    return _Conn(conn)


def _quote(name: str) -> str:
    """An SQL identifier, quoted: source table names are data, and may hold anything."""
    return '"' + name.replace('"', '""') + '"'


def _label(value: Any) -> str:
    """A source value shown in a report line: short, on one line."""
    text = str(value).replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    return _label(exc) if len(str(exc)) > 200 else str(exc).replace("\n", " ")


def _too_big(size: int) -> str:
    return f"row of {size} bytes is over the {MAX_SOURCE_ROW_BYTES}-byte limit"


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({_quote(table)})")}


def _bounded_rows(
    conn: sqlite3.Connection, table: str
) -> Iterator[tuple[int, dict[str, Any] | None, int]]:
    """(row number, row or ``None`` when over ``MAX_SOURCE_ROW_BYTES``, bytes) in rowid order.

    Why: sizes are measured inside SQLite, so an oversized row is never loaded into Python.
    """
    t = _quote(table)
    cols = [row[1] for row in conn.execute(f"PRAGMA table_info({t})")]
    size = " + ".join(f"coalesce(length(CAST({_quote(c)} AS BLOB)), 0)" for c in cols) or "0"
    sizes = conn.execute(f"SELECT rowid, {size} FROM {t} ORDER BY rowid").fetchall()
    for n, (rowid, nbytes) in enumerate(sizes, 1):
        if nbytes > MAX_SOURCE_ROW_BYTES:
            yield n, None, nbytes
            continue
        row = conn.execute(f"SELECT * FROM {t} WHERE rowid = ?", (rowid,)).fetchone()
        yield n, dict(row), nbytes


def _pattern_rows(
    conn: sqlite3.Connection, out: list[SourceRecord]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) of every ``patterns`` row small enough to read; each row over
    ``MAX_SOURCE_ROW_BYTES`` goes to ``out`` as an invalid record instead."""
    for n, row, size in _bounded_rows(conn, "patterns"):
        where = f"patterns row {n}" + (f" (id {_label(row.get('id'))})" if row else "")
        if row is None:
            out.append(SourceRecord(where, None, _too_big(size)))
        else:
            yield where, row


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _sqlite_kind(conn: sqlite3.Connection, path: str) -> str:
    tables = _tables(conn)
    if "rb_meta" in tables:  # checked first: our own schema has a patterns table too
        raise ImportFailed(
            f"{path} looks like a ReasoningBank-Py bank, not an import source; "
            "export a bundle from it (reasoningbank --db THAT export FILE) and import that"
        )
    cols = _columns(conn, "patterns") if "patterns" in tables else set()
    kind = None
    if {"pattern_data", "type", "confidence"} <= cols:
        kind = "agentic-flow"
    elif {"task_description", "task_category", "strategy"} <= cols and (
        "data" in cols or "outcome" in cols
    ):
        kind = "rust-sqlite"
    if kind is not None and "id" not in cols:
        raise ImportFailed(f"{path}: its patterns table has no id column; cannot import it")
    if kind is not None:
        return kind
    raise ImportFailed(
        f"{path}: a SQLite database without a known ReasoningBank schema "
        f"(tables: {_label(', '.join(sorted(tables)) or 'none')})"
    )


# -- helpers -------------------------------------------------------------------------------
def _content_id(prefix: str, data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:32]}"


def _sql_time(value: Any) -> str | None:
    """SQLite CURRENT_TIMESTAMP ('YYYY-MM-DD HH:MM:SS', UTC) or ISO text → RFC 3339."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        ts = float(value)
        ts = ts / 1000.0 if ts > 1e11 else ts
    else:
        text = str(value).strip().replace(" ", "T", 1)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        ts = dt.timestamp()
    return format_time(ts) if 0 < ts <= MAX_TIME else None  # NaN too: unknown, not a crash


def _f32_blob(blob: Any) -> list[float] | None:
    if not isinstance(blob, (bytes, bytearray, memoryview)) or len(blob) == 0 or len(blob) % 4:
        return None
    raw = bytes(blob)
    vec = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return vec if all(math.isfinite(x) for x in vec) else None


def _decamel(data: dict[str, Any]) -> dict[str, Any]:
    return {_CAMEL.get(k, k): v for k, v in data.items()}


def normalise_pattern_json(raw: Any, *, embeddings: str) -> dict[str, Any]:
    """Rust / ReasoningBankWasm / our pattern JSON → a dict ``Pattern.from_dict`` keeps whole.

    Unknown top-level and outcome fields move into ``metadata`` (``import_fields``,
    ``import_outcome_fields``); a Rust/WASM placeholder timestamp of 0 ("unknown") is
    replaced by the import time and kept as ``metadata.source_created_at``.
    """
    if not isinstance(raw, dict):
        raise InvalidPattern(f"a pattern must be a JSON object, got {type(raw).__name__}")
    data = _decamel(raw)
    meta = data.get("metadata")
    meta = _decamel(meta) if isinstance(meta, dict) else ({} if meta is None else meta)
    if not isinstance(meta, dict):
        raise InvalidPattern("metadata must be an object", field="metadata")
    ours = _OUR_METADATA <= meta.keys()
    out = {k: v for k, v in data.items() if k in _PATTERN_KEYS}
    extra = {k: v for k, v in data.items() if k not in _PATTERN_KEYS}
    if extra:
        meta["import_fields"] = extra
    outcome = data.get("outcome")
    if isinstance(outcome, dict):
        outcome = _decamel(outcome)
        unknown = {k: v for k, v in outcome.items() if k not in _OUTCOME_KEYS}
        if unknown:
            meta["import_outcome_fields"] = unknown
        out["outcome"] = {k: v for k, v in outcome.items() if k in _OUTCOME_KEYS}
    for key in ("created_at", "updated_at"):
        if meta.get(key) in (0, 0.0, "0"):
            meta[f"source_{key}"] = meta.pop(key)
    out["metadata"] = meta
    vec = out.get("embedding")
    if vec is not None and (embeddings == "drop" or (embeddings == "auto" and not ours)):
        out.pop("embedding")
        n = len(vec) if isinstance(vec, list) else None
        meta["source_embedding"] = {"dims": n, "imported": False}
    return out


# -- readers -------------------------------------------------------------------------------
def _read_json(path: str, embeddings: str) -> list[SourceRecord]:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"cannot read {path}: {exc}") from exc
    except ValueError as exc:
        raise ImportFailed(f"{path} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ImportFailed(f"{path}: JSON nested too deeply; refusing it") from None
    if isinstance(doc, dict) and isinstance(doc.get("patterns"), list):
        doc = doc["patterns"]
    elif isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise ImportFailed(f"{path}: expected a JSON array of patterns")
    return [_candidate(f"item {i}", item, embeddings) for i, item in enumerate(doc)]


def _read_jsonl(path: str, embeddings: str) -> list[SourceRecord]:
    out = []
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                if len(line) > MAX_SOURCE_ROW_BYTES:
                    out.append(SourceRecord(f"line {n}", None, _too_big(len(line.encode()))))
                    continue
                try:
                    item = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    out.append(SourceRecord(f"line {n}", None, f"invalid JSON: {_why(exc)}"))
                    continue
                out.append(_candidate(f"line {n}", item, embeddings))
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"cannot read {path}: {exc}") from exc
    return out


def _candidate(where: str, item: Any, embeddings: str) -> SourceRecord:
    try:
        pattern = normalise_pattern_json(item, embeddings=embeddings)
        if not pattern.get("id"):
            pattern["id"] = _content_id("import", {k: v for k, v in pattern.items() if k != "id"})
    except (InvalidPattern, RecursionError) as exc:
        return SourceRecord(where, None, f"invalid pattern: {_why(exc)}")
    return SourceRecord(where, pattern)


def _rust_side(conn: sqlite3.Connection, tables: set[str]) -> dict[str, tuple[Any, Any]]:
    """pattern id → (vector or None when unreadable, dimension) from ``pattern_embeddings``."""
    side: dict[str, tuple[Any, Any]] = {}
    if "pattern_embeddings" in tables and "pattern_id" in _columns(conn, "pattern_embeddings"):
        for _, row, _ in _bounded_rows(conn, "pattern_embeddings"):
            if row is not None:
                side[str(row["pattern_id"])] = (
                    _f32_blob(row.get("embedding")),
                    row.get("dimension"),
                )
    return side


def _rust_item(row: dict[str, Any], data_column: bool) -> dict[str, Any]:
    """One row of either Rust layout → pattern JSON; ``ValueError``/``TypeError`` if unreadable."""
    if data_column:
        item = json.loads(row["data"])
        if not isinstance(item, dict):
            raise ValueError("data is not a JSON object")
        for col in ("id", "task_description", "task_category", "strategy"):
            item.setdefault(col, row[col])
        return item
    item = {
        "id": row["id"],
        "task_description": row["task_description"],
        "task_category": row["task_category"],
        "strategy": row["strategy"],
        "context": json.loads(row["context"] or "{}"),
        "outcome": json.loads(row["outcome"] or "{}"),
        "metadata": json.loads(row["metadata"] or "{}"),
    }
    if row.get("embedding") is not None:
        vec = _f32_blob(row["embedding"])
        if vec is None:
            raise ValueError("embedding blob is not little-endian float32")
        item["embedding"] = vec
    return item


def _read_rust_sqlite(path: str, embeddings: str, notes: list[str]) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    with _open_sqlite(path) as conn:
        cols = _columns(conn, "patterns")
        tables = _tables(conn)
        side = _rust_side(conn, tables)
        for where, row in _pattern_rows(conn, out):
            try:
                item = _rust_item(row, "data" in cols)
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                out.append(SourceRecord(where, None, f"unreadable row: {_why(exc)}"))
                continue
            pid = str(item.get("id"))
            vec, dims = side.get(pid, (None, None))
            if "embedding" not in item and vec is not None:
                item["embedding"] = vec
            if pid in side and vec is None and isinstance(item.get("metadata", {}), dict):
                item.setdefault("metadata", {})["source_embedding"] = {
                    "dims": dims,
                    "imported": False,
                    "reason": "unreadable blob",
                }
            out.append(_candidate(where, item, "keep" if embeddings == "keep" else "drop"))
        for table in sorted(
            tables - {"patterns", "pattern_embeddings", "schema_version", "sqlite_sequence"}
        ):
            if table.startswith("patterns_fts"):
                continue
            count = conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0]
            if count:
                notes.append(
                    f"table {_label(table)} ({count} rows) holds no patterns; not imported"
                )
    if embeddings != "keep":
        dropped = sum(
            1 for r in out if r.pattern and "source_embedding" in r.pattern.get("metadata", {})
        )
        if dropped:
            notes.append(
                f"{dropped} source embeddings were not imported (another embedder's vectors; "
                "--embeddings keep imports them)"
            )
    return out


def _af_outcome(outcome_label: Any, confidence: float) -> tuple[bool, float]:
    """agentic-flow memories are lessons: ``content`` is the advice distilled from an
    attempt, ``confidence`` how far to trust it, and agentic-flow ranks Success and Failure
    memories alike by it. So the advice becomes the strategy and its confidence is kept as
    is (as the success estimate of following it); ``success`` records whether the attempt
    the lesson came from succeeded."""
    label = str(outcome_label or "").lower()
    if label.startswith("fail"):
        return False, confidence
    if label.startswith("succ"):
        return True, confidence
    return confidence >= 0.5, confidence


#: Most pseudo-observations an imported confidence is worth (beyond usage_count): enough to
#: represent any confidence in [0.01, 0.99] exactly, few enough that new outcomes still move
#: a memory that claims near-certainty.
_MAX_PSEUDO = 98.0


def _evidence_counts(p: float, usage: int) -> tuple[float, float]:
    """Beta pseudo-counts (s, f) whose posterior mean (1+s)/(2+s+f) is ``p`` (exactly for
    p in [0.01, 0.99]), with at least ``usage`` observations. The learning model then
    starts from the source's confidence and moves with each new outcome."""
    p = min(max(p, 0.0), 1.0)
    need = max(
        1.0 / p - 2.0 if p > 0 else _MAX_PSEUDO,
        (2.0 * p - 1.0) / (1.0 - p) if p < 1 else _MAX_PSEUDO,
        0.0,
    )
    n = max(float(usage), min(need, _MAX_PSEUDO), 1.0)
    s = min(max(p * (2.0 + n) - 1.0, 0.0), n)
    return s, n - s


@dataclass
class _AfSide:
    """What agentic-flow keeps beside a memory, read once: vectors, links, trajectories."""

    vectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    trajectories: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_trajectories: set[str] = field(default_factory=set)
    dropped_vectors: int = 0


def _af_side(conn: sqlite3.Connection, tables: set[str], notes: list[str]) -> _AfSide:
    side = _AfSide()
    needs = {
        "pattern_embeddings": {"id"},
        "pattern_links": {"src_id", "dst_id", "relation"},
        "task_trajectories": {"task_id"},
    }
    usable = set()
    for table, cols in needs.items():
        if table not in tables:
            continue
        if cols <= _columns(conn, table):
            usable.add(table)
        else:
            notes.append(f"table {table} lacks {', '.join(sorted(cols))}; not read")
    oversized = 0
    for table in sorted(usable):
        for _, row, _ in _bounded_rows(conn, table):
            if row is None:
                oversized += 1
            elif table == "pattern_embeddings":
                side.vectors[str(row["id"])] = row
            elif table == "task_trajectories":
                side.trajectories[str(row["task_id"])] = row
            else:
                for key, other, end in (("src_id", "dst_id", "to"), ("dst_id", "src_id", "from")):
                    side.links.setdefault(str(row[key]), []).append(
                        {
                            end: row[other],
                            "relation": row["relation"],
                            "weight": row.get("weight"),
                            "created_at": _sql_time(row.get("created_at")),
                        }
                    )
    if oversized:
        notes.append(f"{oversized} side rows over {MAX_SOURCE_ROW_BYTES} bytes not read")
    return side


def _af_record(where: str, row: dict[str, Any], side: _AfSide, embeddings: str) -> SourceRecord:
    """One ``patterns`` row → a candidate. Only ``type='reasoning_memory'`` rows are memories;
    the other types agentic-flow keeps in the same table are skipped, not invalid."""
    if row.get("type") != "reasoning_memory":
        kind = str(row.get("type"))[:40]
        return SourceRecord(where, None, f"not a reasoning memory (type {kind!r})", invalid=False)
    pid = row.get("id")
    if isinstance(pid, bool) or not isinstance(pid, (str, int)) or pid == "":
        return SourceRecord(where, None, f"id must be text, got {type(pid).__name__}")
    pid = str(pid)
    try:
        data = json.loads(row["pattern_data"])  # not text: TypeError, an unreadable row
    except (ValueError, RecursionError) as exc:
        return SourceRecord(where, None, f"unreadable pattern_data: {_why(exc)}")
    if not isinstance(data, dict):
        return SourceRecord(where, None, "pattern_data is not a JSON object")
    title = str(data.get("title") or "").strip()
    description = str(data.get("description") or "").strip()
    content = str(data.get("content") or "").strip()
    if not (title or description or content):
        return SourceRecord(where, None, "a reasoning memory without title, description or content")
    if title and description and description.lower() not in title.lower():
        task = f"{title}. {description}"
    else:
        task = title or description or content
    strategy = content or description or title
    domain = data.get("domain")
    category = str(domain).strip() if isinstance(domain, str) and domain.strip() else "general"
    raw_conf: Any = row.get("confidence")
    if raw_conf is None:
        raw_conf = data.get("confidence", 0.5)
    try:
        confidence = float(raw_conf)
    except (TypeError, ValueError):
        confidence = 0.5
    confidence = min(max(confidence, 0.0), 1.0) if math.isfinite(confidence) else 0.5
    usage = int(row.get("usage_count") or 0)  # text or a blob here: the row is unreadable
    raw_source = data.get("source")
    source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
    success, score = _af_outcome(source.get("outcome"), confidence)
    s, f = _evidence_counts(score, usage)
    created = _sql_time(row.get("created_at")) or _sql_time(data.get("created_at"))
    last_used = _sql_time(row.get("last_used"))
    raw_tags = data.get("tags")
    tags = [str(t) for t in raw_tags] if isinstance(raw_tags, list) else []
    original: dict[str, Any] = {
        "type": row.get("type"),
        "confidence": row.get("confidence"),
        "usage_count": row.get("usage_count"),
        "created_at": row.get("created_at"),
        "last_used": row.get("last_used"),
        "pattern_data": data,
    }
    for k, v in row.items():  # any column a later agentic-flow adds
        if k not in _AF_COLUMNS:
            original[k] = v if not isinstance(v, bytes) else v.hex()
    vec_row = side.vectors.get(pid)
    embedding: list[float] | None = None
    if vec_row is not None:
        original["embedding"] = {
            "model": vec_row.get("model"),
            "dims": vec_row.get("dims"),
            "created_at": vec_row.get("created_at"),
        }
        if embeddings == "keep":
            embedding = _f32_blob(vec_row.get("vector"))
            original["embedding"]["imported"] = embedding is not None
        else:
            original["embedding"]["imported"] = False
            side.dropped_vectors += 1
    links = side.links.get(pid, [])
    if links:
        original["links"] = links
    task_id = source.get("task_id")
    if isinstance(task_id, str) and task_id in side.trajectories:
        original["trajectory"] = side.trajectories[task_id]
        side.used_trajectories.add(task_id)
    context: dict[str, Any] = {}
    for key in ("agent_id", "task_id"):
        if source.get(key) not in (None, "", "unknown"):
            context[key] = source[key]
    context["memory"] = _af_memory_item(title, description, content, success, score, task, original)
    metadata: dict[str, Any] = {
        "usage_count": usage,
        "tags": tags,
        "success_count": s,
        "failure_count": f,
        "avg_success_score": score,
        "confidence": score,
        "contradictions": len([link for link in links if link["relation"] == "contradicts"]),
        "agentic_flow": original,
    }
    if created:
        metadata["created_at"] = created
    if last_used or created:
        metadata["updated_at"] = last_used or created
    pattern: dict[str, Any] = {
        "id": pid,
        "task_description": task,
        "task_category": category,
        "strategy": strategy,
        "context": context,
        "outcome": {"success": success, "success_score": score},
        "metadata": metadata,
    }
    if embedding is not None:
        pattern["embedding"] = embedding
    return SourceRecord(where, pattern)


def _af_memory_item(
    title: str,
    description: str,
    content: str,
    success: bool,
    score: float,
    task: str,
    original: dict[str, Any],
) -> dict[str, Any]:
    """agentic-flow's memory as a loop memory item (``reasoningbank.loop``), its three texts
    verbatim; a missing one falls back to the others, as agentic-flow itself shows them.
    The originating task is the trajectory's query when agentic-flow kept it."""
    trajectory = original.get("trajectory") or {}
    query = trajectory.get("query") if isinstance(trajectory, dict) else None
    provenance: dict[str, Any] = {
        "task": query if isinstance(query, str) and query.strip() else task,
        "verdict": {"success": success, "score": score},
        "judged_by": "agentic-flow",
    }
    judge_label = trajectory.get("judge_label") if isinstance(trajectory, dict) else None
    if judge_label is not None:
        provenance["verdict"]["reason"] = f"agentic-flow judge: {judge_label}"
    return {
        "title": title or description or content,
        "description": description or title or content,
        "content": content or description or title,
        "kind": "success" if success else "failure",
        "provenance": provenance,
    }


_AF_COLUMNS = ("id", "type", "pattern_data", "confidence", "usage_count", "created_at", "last_used")


def _read_agentic_flow(path: str, embeddings: str, notes: list[str]) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    with _open_sqlite(path) as conn:
        tables = _tables(conn)
        side = _af_side(conn, tables, notes)
        for where, row in _pattern_rows(conn, out):
            try:
                out.append(_af_record(where, row, side, embeddings))
            except (ValueError, TypeError, OverflowError) as exc:
                out.append(SourceRecord(where, None, f"unreadable row: {_why(exc)}"))
        for table in sorted(tables):
            if table in ("patterns", "pattern_embeddings", "pattern_links", "sqlite_sequence"):
                continue
            count = conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0]
            if not count:
                continue
            if table == "task_trajectories":
                used = len(side.used_trajectories)
                loose = count - used
                notes.append(
                    f"task_trajectories: {used} attached to their memories "
                    f"(metadata.agentic_flow.trajectory)"
                    + (f", {loose} without a memory not imported" if loose else "")
                )
            else:
                notes.append(
                    f"table {_label(table)} ({count} rows) holds no memories; not imported"
                )
    if side.dropped_vectors:
        notes.append(
            f"{side.dropped_vectors} agentic-flow embeddings not imported (its default embedder "
            "hashes the whole text, so the vectors carry no meaning here; model and dims are kept "
            "in metadata; --embeddings keep imports them)"
        )
    return out


def read_source(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    *,
    embeddings: str = "auto",
    trusted_keys: TrustedKeys = None,
) -> tuple[str, list[SourceRecord], list[str], str | None]:
    """Read every candidate from ``path``; returns (format, records, notes, signer).

    Pure reading: nothing is written, the source is opened read-only. A bundle is verified
    here (``ImportFailed`` if tampered with, or signed by a key outside ``trusted_keys``,
    which may be a callable so keys are only loaded when the source is a bundle; ``None``
    skips the trust check but never the signature and hash checks).
    """
    p = os.fspath(path)
    if fmt not in FORMATS:
        raise ImportFailed(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if embeddings not in EMBEDDINGS:
        raise ImportFailed(f"unknown embeddings mode {embeddings!r}; use {', '.join(EMBEDDINGS)}")
    if not os.path.exists(p):
        raise ImportFailed(f"{p}: no such file")
    try:
        return _read_source(p, fmt, embeddings, trusted_keys)
    except sqlite3.Error as exc:  # a damaged or hostile database: one clear line
        raise ImportFailed(f"{p}: cannot read the database ({_why(exc)})") from exc


def _read_source(
    p: str, fmt: str, embeddings: str, trusted_keys: TrustedKeys
) -> tuple[str, list[SourceRecord], list[str], str | None]:
    if fmt == "auto":
        fmt = detect_format(p)
    notes: list[str] = []
    signer = None
    if fmt in ("json", "jsonl"):
        records = (_read_json if fmt == "json" else _read_jsonl)(p, embeddings)
        dropped = sum(
            1 for r in records if r.pattern and "source_embedding" in r.pattern["metadata"]
        )
        if dropped:
            notes.append(
                f"{dropped} embeddings from another implementation not imported (dims kept in "
                "metadata.source_embedding; --embeddings keep imports them)"
            )
    elif fmt == "agentic-flow":
        records = _read_agentic_flow(p, embeddings, notes)
    elif fmt == "rust-sqlite":
        records = _read_rust_sqlite(p, embeddings, notes)
    else:
        from .bundle import read_bundle

        try:
            with open(p, "rb") as fh:
                blob = fh.read()
        except OSError as exc:
            raise ImportFailed(f"cannot read {p}: {exc.strerror or exc}") from exc
        keys = trusted_keys() if callable(trusted_keys) else trusted_keys
        bundle = read_bundle(blob, trusted_keys=keys)
        signer = bundle.public_key.hex()
        keep = "keep" if embeddings in ("auto", "keep") else "drop"
        records = [_candidate(f"record {i + 1}", r, keep) for i, r in enumerate(bundle.records)]
        notes.append(
            f"bundle of bank {bundle.manifest.get('bank', {}).get('id', '?')}, "
            f"created {bundle.manifest.get('created_at', '?')}"
        )
    return fmt, records, notes, signer
