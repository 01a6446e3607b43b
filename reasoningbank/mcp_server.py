"""MCP server: four tools over one bank, on stdio (default) or streamable HTTP.

``reasoningbank mcp --db bank.db`` (or ``python -m reasoningbank.mcp_server --db bank.db``).
Built on the official ``mcp`` Python SDK, major version 2 (``mcp.server.lowlevel.Server``
with explicit JSON schemas), imported lazily: the core never needs it.

Tools:

* ``reasoning_store``     store a pattern, report another outcome for a stored one, or learn
  memory items from a trajectory (asking the client's model through MCP sampling when the
  client offers it)
* ``reasoning_retrieve``  by id, by query text (category filter, ``top_k``), or by category;
  or the memory prompt for a query (``format: "prompt"``)
* ``reasoning_analyze``   counts, per-strategy success rates with 95% intervals, trends,
  contradictions and near-duplicates
* ``reasoning_optimize``  recommend a strategy with its evidence; optionally consolidate
  (merge near-duplicates, decay old evidence, prune) and report what changed

Arguments are validated against each tool's schema before anything touches the bank, so a
bad call returns an MCP tool error (``isError``) with a message naming the argument, and
stores nothing. The tool logic (``ToolSet``), the analysis (``analyze_patterns``) and the
consolidation (``consolidate``) need no MCP SDK, so they are testable in-process.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from .analysis import analyze_patterns
from .errors import InvalidPattern, InvalidTrajectory, LLMCallFailed, NotFound, ReasoningBankError
from .mcp_schema import TOOLS, ToolError, validate
from .mcp_wire import MAX_MESSAGE_BYTES, CheckedBodies, serve_stdio
from .model import Pattern, format_time

__all__ = [
    "MAX_PRUNE_SHARE",
    "ClientModel",
    "SAMPLING_MAX_TOKENS",
    "SAMPLING_TIMEOUT",
    "ToolSet",
    "build_server",
    "consolidate",
    "main",
    "sampling_llm",
    "serve",
]

_INSTALL_HINT = "the MCP server needs the mcp SDK 2.x: pip install 'reasoningbank[mcp]'"
_SERVER_INSTRUCTIONS = (
    "ReasoningBank is a memory of past task attempts (patterns): task, category, strategy and "
    "outcome. Before a task, call reasoning_optimize (task_description + task_category) for a "
    "recommended strategy, or reasoning_retrieve with a query to read similar past attempts. "
    "After the task, call reasoning_store with what you did and how it went (success or "
    "success_score); if you reused a retrieved pattern, pass its pattern_id instead so the bank "
    "learns from the outcome. reasoning_analyze summarises what works per strategy. To learn "
    "from what you did, call reasoning_store with task_description and trajectory (your "
    "transcript or steps); before a task, reasoning_retrieve with query and format 'prompt' "
    "gives the lessons of similar past tasks as a block for your system prompt."
)

#: A prune deletes at most this share of the bank in one call (the library API can do more).
MAX_PRUNE_SHARE = 0.5
#: Seconds to wait for the client's model to answer one sampling request.
SAMPLING_TIMEOUT = 120.0
#: ``maxTokens`` of one sampling request (a judgement or up to 3 memory items).
SAMPLING_MAX_TOKENS = 1024

LLM = Callable[[str], Awaitable[str]]


class ToolSet:
    """The four tools over one open ``ReasoningBank``. Calls are serialised by a lock, so a
    consolidation never interleaves with a store."""

    def __init__(self, bank: Any, *, clock: Any = time.time) -> None:
        self.bank = bank
        self._clock = clock
        self._lock = asyncio.Lock()

    async def call(
        self, name: str, arguments: dict[str, Any] | None, *, llm: LLM | None = None
    ) -> dict[str, Any]:
        """Run tool ``name``; raises ``ToolError`` (caller's fault) or other errors (ours).

        ``llm`` (a ``prompt -> str`` callable, such as the client's model through MCP
        sampling) judges and distills a ``reasoning_store`` with a trajectory; without it
        the bank's heuristic judge and template distiller do.
        """
        spec = TOOLS.get(name)
        if spec is None:
            raise ToolError(f"unknown tool {name!r}; available: {', '.join(TOOLS)}")
        args = validate(spec["input_schema"], arguments if arguments is not None else {})
        handler = getattr(self, "_" + name)
        if name == "reasoning_store" and "trajectory" in args:
            handler = functools.partial(self._learn, llm=llm)
        async with self._lock:
            try:
                result: dict[str, Any] = await handler(args)
                return result
            except (InvalidPattern, InvalidTrajectory, NotFound) as exc:
                raise ToolError(str(exc)) from exc

    async def _learn(self, a: dict[str, Any], *, llm: LLM | None) -> dict[str, Any]:
        extra = [k for k in ("strategy", "context", "tags", "pattern_id") if k in a]
        if extra:
            raise ToolError(
                f"with trajectory the memory items are distilled from it; drop {', '.join(extra)}"
            )
        outcome = dict(a.get("outcome") or {})
        for key in ("success", "success_score"):
            if key in a:
                outcome.setdefault(key, a[key])
        other = sorted(set(outcome) - {"success", "success_score"})
        if other:
            raise ToolError(
                f"with trajectory the outcome is success and/or success_score; drop "
                f"outcome.{other[0]}"
            )
        report = await self.bank.learn(
            a["task_description"],
            a["trajectory"],
            category=a.get("task_category"),
            outcome=outcome.get("success_score", outcome.get("success")),
            llm=llm,
        )
        return {"action": "learned", **report.to_dict()}

    async def _reasoning_store(self, a: dict[str, Any]) -> dict[str, Any]:
        outcome = dict(a.get("outcome") or {})
        for key in ("success", "success_score"):
            if key in a:
                outcome.setdefault(key, a[key])
        if "success" not in outcome and "success_score" not in outcome:
            raise ToolError("give the outcome: success (true/false) and/or success_score (0..1)")
        if a.get("pattern_id"):
            extra = [
                k
                for k in ("task_description", "task_category", "strategy", "context", "tags")
                if k in a
            ]
            if extra:
                raise ToolError(
                    f"with pattern_id only the outcome is recorded; drop {', '.join(extra)} "
                    "(or drop pattern_id to store a new pattern)"
                )
            details = {k: v for k, v in outcome.items() if k not in ("success", "success_score")}
            p = await self.bank.record_outcome(
                a["pattern_id"],
                success=outcome.get("success"),
                score=outcome.get("success_score"),
                **details,
            )
            return {"id": p.id, "action": "outcome_recorded", "pattern": _summary(p)}
        started = self._clock()
        pattern = {
            "task_description": a["task_description"],
            "task_category": a["task_category"],
            "strategy": a["strategy"],
            "outcome": outcome,
            "context": a.get("context") or {},
        }
        if a.get("tags"):
            pattern["tags"] = a["tags"]
        pid = await self.bank.store_pattern(pattern)
        p = await self.bank.get_pattern(pid)
        merged = p is not None and p.metadata.created_at < started - 1e-3
        return {"id": pid, "action": "merged" if merged else "stored", "pattern": _summary(p)}

    async def _reasoning_retrieve(self, a: dict[str, Any]) -> dict[str, Any]:
        if a.get("format") == "prompt":
            if not a.get("query"):
                raise ToolError("format 'prompt' needs query: the task you are about to do")
            text = await self.bank.memory_prompt(
                a["query"], k=a["top_k"], category=a.get("task_category")
            )
            return {"mode": "prompt", "prompt": text}
        if a.get("pattern_id"):
            p = await self.bank.get_pattern(a["pattern_id"])
            if p is None:
                raise ToolError(f"no pattern with id {a['pattern_id']!r}")
            return {"mode": "id", "count": 1, "patterns": [_full(p)]}
        if a.get("query"):
            matches = await self.bank.find_similar(
                a["query"],
                task_category=a.get("task_category"),
                top_k=a["top_k"],
                min_score=a["min_score"],
                context=a.get("context") or None,
            )
            return {
                "mode": "query",
                "count": len(matches),
                "matches": [
                    {"id": m.pattern.id, "score": m.score, "similarity": m.similarity,
                     "parts": dict(m.parts), "pattern": _full(m.pattern)}
                    for m in matches
                ],
            }  # fmt: skip
        ps = await self.bank.search_by_category(a["task_category"], limit=a["top_k"])
        return {"mode": "category", "count": len(ps), "patterns": [_full(p) for p in ps]}

    async def _reasoning_analyze(self, a: dict[str, Any]) -> dict[str, Any]:
        patterns = await self.bank.all_patterns()
        return analyze_patterns(
            patterns,
            task_category=a.get("task_category"),
            bucket=a["bucket"],
            near_duplicate_threshold=a["near_duplicate_threshold"],
            limit=a["limit"],
            now=self._clock(),
        )

    async def _reasoning_optimize(self, a: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if a.get("task_description"):
            rec = await self.bank.recommend_strategy(
                a["task_description"], a.get("task_category"),
                explore=a["explore"], seed=a.get("seed"),
            )  # fmt: skip
            evidence = []
            for pid in rec.evidence[:10]:
                p = await self.bank.get_pattern(pid)
                if p is not None:
                    evidence.append(_summary(p))
            out["recommendation"] = {
                "strategy": rec.strategy,
                "confidence": rec.confidence,
                "explored": rec.explored,
                "evidence_ids": list(rec.evidence),
                "evidence": evidence,
                "alternatives": [dict(x) for x in rec.alternatives],
                "note": None
                if rec.strategy
                else "no similar past tasks yet: store some outcomes first",
            }
        if a["consolidate"] or a["prune"]:
            dry_run = a.get("dry_run", a["prune"])
            out["consolidation"] = await consolidate(
                self.bank, prune=a["prune"], min_evidence=a["min_evidence"], dry_run=dry_run
            )
        return out


def _summary(p: Any) -> dict[str, Any]:
    m = p.metadata
    return {
        "id": p.id,
        "task_description": p.task_description,
        "task_category": p.task_category,
        "strategy": p.strategy,
        "success": p.outcome.success,
        "success_score": p.outcome.success_score,
        "confidence": m.confidence,
        "usage_count": m.usage_count,
        "observations": m.success_count + m.failure_count,
    }


def _full(p: Pattern) -> dict[str, Any]:
    return p.to_dict(with_embedding=False)


# -- consolidation --------------------------------------------------------------------------
async def consolidate(
    bank: Any, *, prune: bool = False, min_evidence: float = 0.1, dry_run: bool = False
) -> dict[str, Any]:
    """Run the bank's own consolidation and report what changed, pattern by pattern.

    ``ReasoningBank.consolidate`` merges near-duplicates (same category and strategy, text
    cosine ≥ its ``dedup_threshold``) into the oldest copy, adding up all their observations,
    and with ``prune`` deletes patterns whose age-discounted evidence fell below
    ``min_evidence`` (decay with the bank's ``half_life_days``), in one transaction. This adds,
    for each change, what an agent needs to judge it: strategy, category, confidence before
    and after.

    Why the prune guard: a tool call comes from a model, and one call with a large
    ``min_evidence`` once deleted a whole bank. A prune that would delete more than
    ``MAX_PRUNE_SHARE`` of the bank is refused before anything changes.
    """
    from .learning import absorb

    before = {p.id: p for p in await bank.all_patterns()}
    if not prune:
        min_evidence = 0.0  # evidence is never negative: nothing is pruned
    elif not dry_run:
        preview = await bank.consolidate(dry_run=True, min_evidence=min_evidence)
        doomed = len(preview.get("pruned", []))
        if doomed > MAX_PRUNE_SHARE * len(before):
            raise ToolError(
                f"prune would delete {doomed} of {len(before)} patterns, more than "
                f"{MAX_PRUNE_SHARE:.0%} of the bank; nothing was changed (lower min_evidence, "
                "or prune through the library's ReasoningBank.consolidate)"
            )
    raw = await bank.consolidate(dry_run=dry_run, min_evidence=min_evidence)
    merged = []
    for entry in raw.get("merged", []):
        target = before.get(entry["into"])
        if target is None:
            continue
        confidence_before = target.metadata.confidence
        if dry_run:  # what the merge would give: fold copies, as the bank does
            for pid in entry["ids"]:
                if pid in before:
                    absorb(target, before[pid])
            after = target
        else:
            after = await bank.get_pattern(entry["into"]) or target
        merged.append(
            {
                "kept": entry["into"],
                "removed": list(entry["ids"]),
                "strategy": target.strategy,
                "task_category": target.task_category,
                "observations_after": after.metadata.success_count + after.metadata.failure_count,
                "confidence_before": confidence_before,
                "confidence_after": after.metadata.confidence,
            }
        )
    pruned = []
    for pid in raw.get("pruned", []):
        p = before.get(pid)
        if p is not None:
            pruned.append(
                {
                    "id": pid,
                    "strategy": p.strategy,
                    "task_category": p.task_category,
                    "confidence": p.metadata.confidence,
                    "observations": p.metadata.success_count + p.metadata.failure_count,
                    "last_updated": format_time(p.metadata.updated_at),
                }
            )
    n_before, n_after = raw.get("before", len(before)), raw.get("after", len(before))
    n_merged = sum(len(m["removed"]) for m in merged)
    verb = "would merge" if dry_run else "merged"
    return {
        "dry_run": dry_run,
        "patterns_before": n_before,
        "patterns_after": n_after,
        "merge_threshold": getattr(bank, "dedup_threshold", None),
        "half_life_days": getattr(bank, "half_life_days", None),
        "prune": prune,
        "min_evidence": min_evidence if prune else None,
        "merged": merged,
        "pruned": pruned,
        "summary": (
            f"{verb} {n_merged} near-duplicates into {len(merged)} patterns, "
            f"{'would prune' if dry_run else 'pruned'} {len(pruned)}; "
            f"{n_before} -> {n_after} patterns"
            + ("; to prune, call again with dry_run false" if prune and dry_run else "")
        ),
    }


# -- MCP glue (SDK 2.x) --------------------------------------------------------------------
def _sdk() -> tuple[Any, Any]:
    """The SDK's types and low-level ``Server``; a clear error without it or with mcp 1.x
    (whose low-level server registers handlers by decorator, not in the constructor)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import mcp.types as types
        from mcp.server.lowlevel import Server
    except ImportError as exc:
        raise ReasoningBankError(_INSTALL_HINT) from exc
    try:
        major = int(version("mcp").split(".")[0])
    except (PackageNotFoundError, ValueError):
        major = 2
    if major < 2:
        raise ReasoningBankError(
            f"the MCP server needs the mcp SDK 2.x, found {version('mcp')}: "
            "pip install 'reasoningbank[mcp]' (or 'mcp>=2.3,<3')"
        )
    return types, Server


def build_server(tools: ToolSet) -> Any:
    """An ``mcp.server.lowlevel.Server`` exposing ``tools``."""
    types, Server = _sdk()
    listed = [
        types.Tool(
            name=name,
            title=spec["title"],
            description=spec["description"],
            input_schema=spec["input_schema"],
            annotations=types.ToolAnnotations(title=spec["title"], **spec["annotations"]),
        )
        for name, spec in TOOLS.items()
    ]

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        try:
            result = await tools.call(params.name, params.arguments, llm=sampling_llm(types, ctx))
        except ToolError as exc:
            return _error(types, str(exc))
        except ReasoningBankError as exc:
            return _error(types, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug: say so, keep serving; the bank is unchanged or committed
            traceback.print_exc(file=sys.stderr)
            return _error(types, f"internal error ({type(exc).__name__}: {exc}); nothing was lost")
        text = json.dumps(result, ensure_ascii=False)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=result
        )

    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("reasoningbank")
    except PackageNotFoundError:
        ours = "0"
    return Server(
        "reasoningbank",
        version=ours,
        instructions=_SERVER_INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


class ClientModel:
    """The client's own model, asked through MCP sampling (``sampling/createMessage``).

    Why: the server holds no keys; the user's host decides which model answers (and may show
    the request to the user first). ``model`` is the name the client reported, kept for the
    items' provenance. ``SAMPLING_TIMEOUT`` bounds the wait for one answer.
    """

    def __init__(self, types: Any, ctx: Any) -> None:
        self._types = types
        self._ctx = ctx
        self.model: str | None = None

    async def __call__(self, prompt: str) -> str:
        import anyio

        types, ctx = self._types, self._ctx
        message = types.SamplingMessage(
            role="user", content=types.TextContent(type="text", text=prompt)
        )
        try:
            with warnings.catch_warnings(), anyio.fail_after(SAMPLING_TIMEOUT):
                warnings.simplefilter("ignore")  # deprecated in a protocol version to come
                result = await ctx.session.create_message(
                    [message], max_tokens=SAMPLING_MAX_TOKENS, related_request_id=ctx.request_id
                )
        except TimeoutError:
            raise LLMCallFailed(
                f"the client's model (MCP sampling) gave no answer in {SAMPLING_TIMEOUT:g} s"
            ) from None
        except Exception as exc:  # the client refused or failed: say what it said
            raise LLMCallFailed(f"the client's model (MCP sampling) failed: {exc}") from exc
        if getattr(result.content, "type", None) != "text":
            raise LLMCallFailed(
                f"the client's model (MCP sampling) answered {result.content.type}, not text"
            )
        self.model = result.model or self.model
        return str(result.content.text)


def sampling_llm(types: Any, ctx: Any) -> ClientModel | None:
    """The client's model when the client declared the sampling capability, else ``None``
    (the bank's heuristic judge and template distiller)."""
    offered = types.ClientCapabilities(sampling=types.SamplingCapability())
    return ClientModel(types, ctx) if ctx.session.check_client_capability(offered) else None


def _error(types: Any, message: str) -> Any:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


async def serve(
    location: str | None, *, http: bool = False, host: str = "127.0.0.1", port: int = 8765
) -> None:
    """Open the bank at ``location`` and serve MCP until the client disconnects (stdio) or
    the process is interrupted (HTTP). The bank is closed on the way out."""
    _sdk()  # fail fast with the install hint, before opening anything
    from .bank import ReasoningBank

    bank = await ReasoningBank.open(location)
    try:
        server = build_server(ToolSet(bank))
        if http:
            import uvicorn

            app = server.streamable_http_app(host=host, max_request_body_size=MAX_MESSAGE_BYTES)
            config = uvicorn.Config(
                CheckedBodies(app), host=host, port=port, log_level="warning", lifespan="on"
            )
            print(
                f"reasoningbank MCP (streamable HTTP) on http://{host}:{port}/mcp",
                file=sys.stderr,
                flush=True,
            )
            await uvicorn.Server(config).serve()
        else:
            await serve_stdio(server, _sdk()[0])
    finally:
        await bank.close()


# -- python -m reasoningbank.mcp_server -----------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m reasoningbank.mcp_server [--db PATH] [--http --host H --port P]``: the
    ``reasoningbank mcp`` command on its own (same parser, same error line)."""
    from .cli.parser import mcp_parser
    from .cli.run import run_command

    args = mcp_parser().parse_args(argv)
    return run_command(args, lambda a: serve(a.db, http=a.http, host=a.host, port=a.port))


if __name__ == "__main__":
    sys.exit(main())
