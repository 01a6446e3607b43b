"""The Python half of the browser's JavaScript API (``web/reasoningbank.js``).

Why this shape: every value crosses the FFI as a JSON string. The page calls ``call``, which
returns the reply itself when the call finished at once (a search on an open bank needs no
IndexedDB round trip), and otherwise hands it later to the one ``settle`` function the page
registered with ``connect``. JavaScript then holds a fixed few ``PyProxy`` objects (``call``
and ``find``) for the life of the page, and no call creates another, so nothing can leak
however the page uses the API, and a search costs one FFI crossing each way. JSON is also
the wire shape the API documents (pattern JSON, ``Match``/``Recommendation`` dicts), so
there is nothing to convert. ``find`` is ``call`` for ``findSimilar`` alone, the hot path:
the query comes as plain arguments and runs without a task. ``dispatch`` is ``call`` with
per-call callbacks.

Works under CPython too (callbacks may be any callables), which is how it is unit-tested
without a browser.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import math
import types
from array import array
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from ._ranking import Hits
from .bank import ReasoningBank
from .errors import BankClosed, InvalidPattern, ReasoningBankError
from .model import Match

__all__ = ["METHODS", "bank_for", "call", "connect", "dispatch", "find", "learn"]

_banks: dict[int, ReasoningBank] = {}
_embedders: dict[str, Any] = {}  # semantic asset file -> its embedder, shared by banks
_next_handle = 1
_tasks: set[asyncio.Task[Any]] = set()
_settle: Callable[[int, str], Any] | None = None  # see connect()


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


class _Matches(str):
    """Matches packed for ``reasoningbank.js`` (reply kind ``"2"``): base64 of every float
    (score, similarity, then each part) as float64, a newline, then the JSON array
    ``[pattern, [part names], pattern, [part names], ...]``.

    Why: in Pyodide writing a float as text costs several microseconds (more than the whole
    search over 10,000 patterns spends per hit), and each pattern's JSON is already kept by
    the bank (IndexedDB and memory banks; a SQLite bank reads bodies back, and its patterns
    are encoded here), so the reply is spliced together with no float formatted in Python.
    """


_part_names: dict[tuple[str, ...], str] = {}  # parts' key tuple -> its JSON list


def _pack_hits(bank: ReasoningBank, hits: Hits, head: str = "") -> str:
    """``head`` + the packed matches of ``hits`` (see ``_Matches``): each pattern's JSON is
    the text the bank keeps in memory (``to_dict(with_embedding=False)``, encoded when
    stored), so no pattern is built. A bank that reads bodies back (SQLite) has none in
    memory: its matches are read and encoded."""
    table = bank._table  # noqa: SLF001 - same package
    ranker = bank._ranker  # noqa: SLF001
    bodies, categories = table.bodies, table.category
    if bodies is None:
        return _pack_matches(ranker.matches(hits), head)
    numbers: list[float] = []
    pieces: list[Any] = []  # str: a live slot always has its body
    for score, slot in hits.ranked:
        parts = ranker.parts(slot, hits, categories[slot])
        numbers.append(score)
        numbers.append(parts["similarity"])
        numbers += parts.values()
        pieces.append(bodies[slot])
        pieces.append(_names_json(parts))
    return _packed(numbers, pieces, head)


def _pack_matches(matches: list[Match], head: str = "") -> str:
    """``head`` + the packed ``matches`` (see ``_Matches``)."""
    numbers: list[float] = []
    pieces = []
    for m in matches:
        numbers.append(m.score)
        numbers.append(m.similarity)
        numbers += m.parts.values()
        pieces.append(json.dumps(m.pattern.to_dict(with_embedding=False), allow_nan=False))
        pieces.append(_names_json(m.parts))
    return _packed(numbers, pieces, head)


def _names_json(parts: dict[str, float]) -> str:
    names = tuple(parts)
    names_json = _part_names.get(names)
    if names_json is None:
        names_json = _part_names[names] = json.dumps(list(names))
    return names_json


def _packed(numbers: list[float], pieces: list[str], head: str) -> str:
    raw = array("d", numbers)
    if not math.isfinite(sum(raw)):  # NaN or ±inf anywhere (scores are far from overflow)
        raise ReasoningBankError("a match has a score that is not a finite number")
    packed = binascii.b2a_base64(raw, newline=False).decode("ascii")
    return "".join((head, packed, "\n[", ",".join(pieces), "]"))


async def _find_similar(
    handle: int,
    task_description: str,
    task_category: str | None = None,
    top_k: int = 5,
    options: dict[str, Any] | None = None,
) -> _Matches:
    kwargs = _options(options, _FIND_OPTIONS)
    bank = _bank(handle)
    hits = await bank._search(task_description, task_category, top_k, **kwargs)  # noqa: SLF001
    return _Matches(_pack_hits(bank, hits))


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


async def _reply(handle: int, method: str, args_json: str) -> str:
    """Run ``method``; its reply: ``"1"`` + result JSON, ``"2"`` + packed matches
    (``_Matches``), or ``"0"`` + error JSON ``{"name", "message", "field", "patternId"}``
    (``name`` is our exception's class name)."""
    try:
        fn = METHODS.get(method)
        if fn is None:
            raise InvalidPattern(f"unknown method {method!r}")
        args = json.loads(args_json)
        if not isinstance(args, list):
            raise InvalidPattern("arguments must be a JSON array")
        result = await fn(handle, *args)
        if isinstance(result, _Matches):
            return "2" + result
        return "1" + json.dumps(result, allow_nan=False)
    except Exception as exc:
        return "0" + _error_json(exc)


def _unpack_matches(packed: str) -> list[dict[str, Any]]:
    """The plain JSON value of a ``_Matches`` reply (what ``reasoningbank.js`` rebuilds)."""
    head, _, body = packed.partition("\n")
    numbers = iter(array("d", binascii.a2b_base64(head)))
    items = json.loads(body)
    return [
        {
            "pattern": pattern,
            "score": next(numbers),
            "similarity": next(numbers),
            "parts": {name: next(numbers) for name in names},
        }
        for pattern, names in zip(items[::2], items[1::2], strict=True)
    ]


def _start(coro: Coroutine[Any, Any, str]) -> asyncio.Task[str]:
    """Run ``coro`` as a task, eagerly where the loop allows it."""
    loop = asyncio.get_event_loop()
    try:
        # Python >= 3.12 (Pyodide): run eagerly, so a call that never waits on IndexedDB
        # (a search on an open bank) answers before we return, with no event-loop hop.
        task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
    except TypeError:
        task = loop.create_task(coro)
    if not task.done():
        _tasks.add(task)  # keep a reference until done (the loop only holds weak ones)
        task.add_done_callback(_tasks.discard)
    return task


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

    def deliver(task: asyncio.Task[str]) -> None:
        reply = task.result()
        if reply[0] == "0":
            reject(reply[1:])
        elif reply[0] == "2":
            resolve(json.dumps(_unpack_matches(reply[1:])))
        else:
            resolve(reply[1:])

    task = _start(_reply(handle, method, args_json))
    if task.done():
        deliver(task)
    else:
        task.add_done_callback(deliver)


def connect(settle: Callable[[int, str], Any]) -> None:
    """Where ``call`` delivers replies that were not ready at once: ``settle(call_id, reply)``.

    Why one function for the page's life: fresh ``resolve``/``reject`` closures on every
    call would cost two FFI proxies per call.
    """
    global _settle
    _settle = settle


def _settle_when_done(task: asyncio.Task[str], call_id: int) -> None:
    """``settle(call_id, reply)`` once ``task`` is done (an error reply if it was cancelled,
    so the page's promise never hangs); refused before ``connect``."""
    settle = _settle
    if settle is None:
        raise ReasoningBankError("jsapi.call needs jsapi.connect(settle) first")

    def done(t: asyncio.Task[str]) -> None:
        if t.cancelled():
            settle(call_id, "0" + _error_json(ReasoningBankError("the call was cancelled")))
        else:
            settle(call_id, t.result())

    task.add_done_callback(done)


def call(handle: int, method: str, args_json: str, call_id: int) -> str | None:
    """``dispatch`` for the JS API's hot path: the reply (see ``_reply``) itself when the
    call finished at once (a search on an open bank), else None and
    ``settle(call_id, reply)`` later (``connect``)."""
    task = _start(_reply(handle, method, args_json))
    if task.done():
        return task.result()
    try:
        _settle_when_done(task, call_id)
    except ReasoningBankError:
        task.cancel()
        raise
    return None


@types.coroutine
def _rest(coro: Coroutine[Any, Any, str], waiting: Any) -> Generator[Any, Any, str]:
    """The rest of ``coro``, which already ran up to its first wait (it handed us
    ``waiting``, the future it waits on), as an awaitable a task can run."""
    while True:
        thrown: BaseException | None = None
        try:
            yield waiting
        except BaseException as exc:  # the task was cancelled: so is coro
            thrown = exc
        try:
            waiting = coro.send(None) if thrown is None else coro.throw(thrown)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def _finish(coro: Coroutine[Any, Any, str], waiting: Any) -> str:
    return await _rest(coro, waiting)


def _now_or_later(coro: Coroutine[Any, Any, str], call_id: int) -> str | None:
    """Run ``coro`` (a reply) on this very stack: its reply if it never had to wait, else
    None and ``settle(call_id, reply)`` once a task ran the rest.

    Why not a task from the start: a search on an open bank never waits, and creating a
    task (even an eager one) costs about as much as the rest of the call's overhead.
    """
    try:
        waiting = coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    if _settle is None:
        coro.close()
        raise ReasoningBankError("jsapi.call needs jsapi.connect(settle) first")
    _settle_when_done(_start(_finish(coro, waiting)), call_id)
    return None


async def _find_reply(
    handle: int, text: str, category: str | None, top_k: int, options_json: str
) -> str:
    try:
        kwargs = _options(json.loads(options_json), _FIND_OPTIONS) if options_json else {}
        bank = _bank(handle)
        hits = await bank._search(text, category, top_k, **kwargs)  # noqa: SLF001
        return _pack_hits(bank, hits, "2")
    except Exception as exc:
        return "0" + _error_json(exc)


def find(
    handle: int, text: str, category: str | None, top_k: int, options_json: str, call_id: int
) -> str | None:
    """``findSimilar``'s own entry (``call`` without the JSON round trip and the task): the
    query arrives as primitives (``options_json`` is "" for no options), the search runs on
    the caller's stack, and the packed reply comes back at once when the bank needed no
    IndexedDB round trip, else through ``settle(call_id, reply)`` like ``call``."""
    return _now_or_later(_find_reply(handle, text, category, top_k, options_json), call_id)
