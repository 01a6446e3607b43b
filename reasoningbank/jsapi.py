"""The Python half of the browser's JavaScript API (``web/reasoningbank.js``).

Why this shape: every value crosses the FFI as a JSON string, and results come back through
the ``resolve``/``reject`` functions JavaScript passes in. JavaScript then holds exactly one
``PyProxy`` (``dispatch`` itself) for the life of the page, and no call creates another, so
nothing can leak however the page uses the API. JSON is also the wire shape the API
documents (pattern JSON, ``Match``/``Recommendation`` dicts), so there is nothing to convert.

Works under CPython too (``resolve``/``reject`` may be any callables), which is how it is
unit-tested without a browser.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from .bank import ReasoningBank
from .errors import BankClosed, InvalidPattern, ReasoningBankError

__all__ = ["METHODS", "bank_for", "dispatch", "learn"]

_banks: dict[int, ReasoningBank] = {}
_embedders: dict[str, Any] = {}  # semantic asset file -> its embedder, shared by banks
_next_handle = 1
_tasks: set[asyncio.Task[None]] = set()


def _bank(handle: int) -> ReasoningBank:
    bank = _banks.get(handle)
    if bank is None:
        raise BankClosed("this bank is closed; open it again with ReasoningBank.load()")
    return bank


def bank_for(handle: int) -> ReasoningBank:
    """The bank behind a JS handle (for other page modules, such as the bus link)."""
    return _bank(handle)


def _location(db: Any) -> str | None:
    """``{db: "name"}`` means the IndexedDB bank ``name``; URLs and ``:memory:`` pass as is."""
    if db is None:
        return None
    if not isinstance(db, str) or not db:
        raise InvalidPattern("db must be a non-empty string", field="db")
    if db == ":memory:" or "://" in db:
        return db
    return f"idb://{db}"


_OPEN_OPTIONS = {
    "backend": "backend",
    "weights": "weights",
    "dedupThreshold": "dedup_threshold",
    "halfLifeDays": "half_life_days",
    "vectorBackend": "vector_backend",
}
_FIND_OPTIONS = {
    "minScore": "min_score",
    "context": "context",
    "embedding": "embedding",
    "strictCategory": "strict_category",
}


def _options(options: dict[str, Any] | None, names: dict[str, str]) -> dict[str, Any]:
    """camelCase JS options -> Python keyword arguments; unknown names are an error."""
    options = options or {}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise InvalidPattern(f"unknown options: {', '.join(unknown)}", field="options")
    return {names[k]: v for k, v in options.items()}


def _embedder(path: Any) -> Any:
    """The semantic embedder of the asset file at ``path`` (``reasoningbank.js`` writes the
    fetched asset into Pyodide's file system: bytes need not cross the FFI as JSON). Parsed
    once per path and kept, so more banks on the page share one embedder (and the page may
    delete the file once a bank opened)."""
    if not isinstance(path, str) or not path:
        raise InvalidPattern("semantic must be the path of a semantic asset", field="semantic")
    embedder = _embedders.get(path)
    if embedder is None:
        from .semantic_asset import AssetEmbedder

        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ReasoningBankError(f"semantic asset {path}: {exc.strerror}") from None
        embedder = _embedders[path] = AssetEmbedder.from_bytes(data)
    return embedder


async def _open(_: int, options: dict[str, Any] | None = None) -> int:
    global _next_handle
    options = dict(options or {})
    location = _location(options.pop("db", None))
    semantic = options.pop("semantic", None)
    kwargs = _options(options, _OPEN_OPTIONS)
    if semantic:
        kwargs["embedder"] = _embedder(semantic)
    bank = await ReasoningBank.open(location, **kwargs)
    handle = _next_handle
    _next_handle += 1
    _banks[handle] = bank
    return handle


async def _close(handle: int) -> None:
    bank = _banks.pop(handle, None)
    if bank is not None:
        await bank.close()


async def _store_pattern(handle: int, pattern: dict[str, Any]) -> str:
    return await _bank(handle).store_pattern(pattern)


async def _store_patterns(handle: int, patterns: list[dict[str, Any]]) -> list[str]:
    return await _bank(handle).store_patterns(patterns)


async def _find_similar(
    handle: int,
    task_description: str,
    task_category: str | None = None,
    top_k: int = 5,
    options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    kwargs = _options(options, _FIND_OPTIONS)
    matches = await _bank(handle).find_similar(task_description, task_category, top_k, **kwargs)
    return [m.to_dict() for m in matches]


async def _get_pattern(handle: int, pattern_id: str) -> dict[str, Any] | None:
    pattern = await _bank(handle).get_pattern(pattern_id)
    return None if pattern is None else pattern.to_dict()


async def _search_by_category(handle: int, category: str, limit: int = 10) -> list[dict[str, Any]]:
    return [p.to_dict() for p in await _bank(handle).search_by_category(category, limit)]


async def _get_stats(handle: int) -> dict[str, Any]:
    return await _bank(handle).get_stats()


_OUTCOME_FIELDS = {
    "success": "success",
    "score": "score",
    "successScore": "score",
    "success_score": "score",
    "durationSeconds": "duration_seconds",
    "duration_seconds": "duration_seconds",
    "tokensUsed": "tokens_used",
    "tokens_used": "tokens_used",
    "errorMessage": "error_message",
    "error_message": "error_message",
    "metrics": "metrics",
}


async def _record_outcome(
    handle: int, pattern_id: str, outcome: dict[str, Any] | None = None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for key, value in (outcome or {}).items():
        if key not in _OUTCOME_FIELDS:
            raise InvalidPattern(f"unknown outcome field {key!r}", field=key)
        kwargs[_OUTCOME_FIELDS[key]] = value
    pattern = await _bank(handle).record_outcome(pattern_id, **kwargs)
    return pattern.to_dict()


async def _recommend_strategy(
    handle: int, task_description: str, task_category: str | None = None
) -> dict[str, Any] | None:
    rec = await _bank(handle).recommend_strategy(task_description, task_category)
    return None if rec is None else rec.to_dict()


async def _delete_pattern(handle: int, pattern_id: str) -> None:
    await _bank(handle).delete_pattern(pattern_id)


# -- the closed loop (DESIGN 2b): learn, retrieve, memoryPrompt ----------------------------
_LEARN_OPTIONS = {"category": "category", "outcome": "outcome"}
_RETRIEVE_OPTIONS = {"category": "category", "k": "k", "diversity": "diversity"}
_PROMPT_OPTIONS = {"k": "k", "category": "category", "diversity": "diversity"}


async def _learn(
    handle: int,
    task: str,
    trajectory: Any,
    options: dict[str, Any] | None = None,
    *,
    llm: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    kwargs = _options(options, _LEARN_OPTIONS)
    report = await _bank(handle).learn(task, trajectory, llm=llm, **kwargs)
    result: dict[str, Any] = report.to_dict()
    return result


async def _retrieve(
    handle: int, task: str, options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    items = await _bank(handle).retrieve(task, **_options(options, _RETRIEVE_OPTIONS))
    return [item.to_dict() for item in items]


async def _memory_prompt(handle: int, task: str, options: dict[str, Any] | None = None) -> str:
    text: str = await _bank(handle).memory_prompt(task, **_options(options, _PROMPT_OPTIONS))
    return text


def learn(
    handle: int,
    args_json: str,
    llm: Callable[[str], Any],
    resolve: Callable[[str], Any],
    reject: Callable[[str], Any],
) -> None:
    """``dispatch`` for ``learn`` with an ``llm`` function, which cannot travel as JSON.

    ``args_json`` is ``[task, trajectory, options]``; the page's function is called with each
    prompt while ``learn`` runs, and dropped afterwards.
    """

    async def run() -> None:
        try:
            args = json.loads(args_json)
            if not isinstance(args, list) or not 2 <= len(args) <= 3:
                raise InvalidPattern("learn takes (task, trajectory, options)")
            out = json.dumps(await _learn(handle, *args, llm=llm), allow_nan=False)
        except Exception as exc:
            reject(_error_json(exc))
        else:
            resolve(out)

    task = asyncio.get_event_loop().create_task(run())
    _tasks.add(task)  # keep a reference until done (the loop only holds weak ones)
    task.add_done_callback(_tasks.discard)


METHODS: dict[str, Callable[..., Awaitable[Any]]] = {
    "open": _open,
    "close": _close,
    "storePattern": _store_pattern,
    "storePatterns": _store_patterns,
    "findSimilar": _find_similar,
    "getPattern": _get_pattern,
    "searchByCategory": _search_by_category,
    "getStats": _get_stats,
    "recordOutcome": _record_outcome,
    "recommendStrategy": _recommend_strategy,
    "deletePattern": _delete_pattern,
    "learn": _learn,
    "retrieve": _retrieve,
    "memoryPrompt": _memory_prompt,
}


def _error_json(exc: BaseException) -> str:
    known = isinstance(exc, ReasoningBankError)
    return json.dumps(
        {
            "name": type(exc).__name__ if known else "InternalError",
            "message": str(exc) if known else f"{type(exc).__name__}: {exc}",
            "field": getattr(exc, "field", None),
            "patternId": getattr(exc, "pattern_id", None),
        }
    )


async def _run(
    handle: int,
    method: str,
    args_json: str,
    resolve: Callable[[str], Any],
    reject: Callable[[str], Any],
) -> None:
    try:
        fn = METHODS.get(method)
        if fn is None:
            raise InvalidPattern(f"unknown method {method!r}")
        args = json.loads(args_json)
        if not isinstance(args, list):
            raise InvalidPattern("arguments must be a JSON array")
        result = await fn(handle, *args)
        out = json.dumps(result, allow_nan=False)
    except Exception as exc:
        reject(_error_json(exc))
    else:
        resolve(out)


def dispatch(
    handle: int,
    method: str,
    args_json: str,
    resolve: Callable[[str], Any],
    reject: Callable[[str], Any],
) -> None:
    """Start ``method`` on bank ``handle`` with the JSON array ``args_json``; returns at once.

    Later calls ``resolve(result_json)`` or ``reject(error_json)`` where the error is
    ``{"name", "message", "field", "patternId"}`` (``name`` is our exception's class name).
    """
    coro = _run(handle, method, args_json, resolve, reject)
    loop = asyncio.get_event_loop()
    try:
        # Python >= 3.12 (Pyodide): run eagerly, so a call that never waits on IndexedDB
        # (a search on an open bank) answers before dispatch returns, with no event-loop hop.
        task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
    except TypeError:
        task = loop.create_task(coro)
    if not task.done():
        _tasks.add(task)  # keep a reference until done (the loop only holds weak ones)
        task.add_done_callback(_tasks.discard)
