"""The one argparse of ``reasoningbank``: every command, its options and its help.

Each command names itself in ``args.command`` (``"trust add"`` for a nested one);
``reasoningbank.cli.HANDLERS`` says which handler runs it. ``--db`` and ``--json`` are
defined once here and shared. Why this module imports no handler: ``python -m
reasoningbank.mcp_server`` reuses ``mcp_parser`` without importing the whole CLI.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from ..import_sources import EMBEDDINGS, FORMATS
from ..semantic import ASSET_DIMS
from ..serve import DEFAULT_HUB_PORT, DEFAULT_PORT, PYODIDE_VERSION
from ..storage import default_location

__all__ = ["build_parser", "mcp_parser"]

_DB_HELP = "bank file, ':memory:' or idb://name (env REASONINGBANK_DB)"
#: Default seconds ``learn --llm-cmd`` waits for one answer (a local model can be slow).
LLM_CMD_TIMEOUT = 300.0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (subcommand parsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(f"{self.prog}: error: {message} (see {self.prog} --help)".split())
        print(text, file=sys.stderr)
        sys.exit(2)


def _option_parent(*flags: str, **options: object) -> _Parser:
    parent = _Parser(add_help=False)
    parent.add_argument(*flags, **options)  # type: ignore[arg-type]
    return parent


#: Shared options: ``--db`` may come after the command too (argparse keeps the top-level
#: value when the subcommand's is absent, thanks to SUPPRESS).
DB = _option_parent("--db", default=argparse.SUPPRESS, metavar="PATH", help=_DB_HELP)
JSON = _option_parent("--json", action="store_true", help="print one JSON document")


class _Commands:
    """Adds commands to a subparsers action: one description each, ending in an Example."""

    def __init__(self, sub: argparse._SubParsersAction[_Parser], path: str = "") -> None:
        self.sub, self.path = sub, path

    def add(self, name: str, help_: str, description: str, *parents: _Parser) -> _Parser:
        p = self.sub.add_parser(
            name,
            help=help_,
            description=description,
            parents=[DB, *parents],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(command=f"{self.path}{name}")
        return p


def _outcome_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--success",
        dest="success",
        action="store_const",
        const=True,
        default=None,
        help="the attempt succeeded",
    )
    g.add_argument(
        "--failure", dest="success", action="store_const", const=False, help="the attempt failed"
    )
    p.add_argument("--score", type=float, help="graded outcome in [0, 1]")


def build_parser() -> argparse.ArgumentParser:
    """The ``reasoningbank`` parser with every command."""
    from .. import __version__

    parser = _Parser(
        prog="reasoningbank",
        description="Agent memory that learns from outcomes.",
        epilog=f"Default bank: {default_location()}",
    )
    parser.add_argument("--db", default=None, metavar="PATH", help=_DB_HELP)
    parser.add_argument("--version", action="version", version="reasoningbank " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    commands = _Commands(sub)
    _bank_commands(commands)
    _loop_commands(commands)
    _transfer_commands(commands)
    _bus_commands(commands)
    _mcp_options(
        commands.add(
            "mcp",
            "serve the bank to MCP clients (stdio; --http for streamable HTTP)",
            _MCP_DESCRIPTION,
        )
    )
    _serve_commands(commands)
    return parser


# -- the bank ---------------------------------------------------------------------------------
def _bank_commands(commands: _Commands) -> None:
    p = commands.add(
        "store",
        "store a pattern",
        (
            "Store a pattern from flags, or JSON patterns (object, array or JSONL) from --file.\n\n"
            'Example: reasoningbank store --task "add oauth token refresh" --category backend\n'
            "         --strategy test-driven --score 0.9 --context lang=python"
        ),
        JSON,
    )
    p.add_argument("--task", help="task description")
    p.add_argument("--category", help="task category")
    p.add_argument("--strategy", help="strategy used")
    _outcome_flags(p)
    p.add_argument("--duration", type=float, help="seconds the attempt took")
    p.add_argument(
        "--context", action="append", metavar="KEY=VALUE", help="context entry (repeatable)"
    )
    p.add_argument("--tags", help="comma-separated tags")
    p.add_argument("--file", help="JSON/JSONL patterns to store ('-' for stdin)")

    p = commands.add(
        "get", "show a pattern", "Show one pattern. Example: reasoningbank get 3f2a… --json", JSON
    )
    p.add_argument("id")

    p = commands.add(
        "search",
        "find similar patterns",
        ('Find patterns similar to TEXT. Example: reasoningbank search "refresh tokens" -k 3'),
        JSON,
    )
    p.add_argument("text")
    p.add_argument("--category", "-c")
    p.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    p.add_argument("--min-score", type=float, default=0.0)

    p = commands.add(
        "recommend",
        "recommend a strategy",
        (
            'Recommend a strategy for TEXT. Example: reasoningbank recommend "refresh tokens" '
            "-c backend"
        ),
        JSON,
    )
    p.add_argument("text")
    p.add_argument("--category", "-c")
    p.add_argument("--explore", action="store_true", help="Thompson sampling instead of greedy")
    p.add_argument("--seed", type=int, help="seed for --explore")

    p = commands.add(
        "outcome",
        "record a new outcome for a pattern",
        ("Record a new outcome for a pattern. Example: reasoningbank outcome ID --failure"),
        JSON,
    )
    p.add_argument("id")
    _outcome_flags(p)

    commands.add(
        "stats",
        "show bank statistics",
        ("Counts per category and strategy, storage and index facts. Example: reasoningbank stats"),
        JSON,
    )

    p = commands.add(
        "bench",
        "run the built-in benchmark",
        (
            "Time bulk store, durable single store and find_similar. "
            "Example: reasoningbank bench --n 10000"
        ),
        JSON,
    )
    p.add_argument("--n", type=int, default=10_000, help="patterns (default 10000)")
    p.add_argument("--queries", type=int, default=200, help="queries (default 200)")
    p.add_argument("--bus", action="store_true", help="also run the neural-bus benchmark")


# -- the closed loop (learn from trajectories) -------------------------------------------------
def _outcome_value(text: str) -> bool | float:
    """``--outcome``: success, failure, or a score in [0, 1]."""
    named = {"success": True, "failure": False}
    if text.lower() in named:
        return named[text.lower()]
    try:
        score = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected success, failure or a score in [0, 1], got {text!r}"
        ) from None
    if not 0.0 <= score <= 1.0:
        raise argparse.ArgumentTypeError(f"a score is in [0, 1], got {text}")
    return score


def _loop_commands(commands: _Commands) -> None:
    p = commands.add(
        "learn",
        "learn memory items from what an agent did (a trajectory)",
        (
            "Judge an attempt at TASK from its trajectory, distill at most 3 memory items\n"
            "(lessons to reuse, or to avoid) and store them. The trajectory is a text\n"
            "transcript or a JSON list of {thought, action, observation} steps. --outcome\n"
            "skips the judge. --llm-cmd CMD asks your own model: CMD gets each prompt on\n"
            "stdin and prints the answer on stdout; without it a heuristic judge and a\n"
            "template distiller do the work. Nothing is stored when the model fails.\n\n"
            'Example: reasoningbank learn "fix the flaky login test" --trajectory run.log\n'
            "         --llm-cmd 'ollama run llama3.2'"
        ),
        JSON,
    )
    p.add_argument("task", help="the task the agent was given")
    p.add_argument(
        "--trajectory",
        required=True,
        metavar="FILE",
        help="what the agent did: text or JSON steps ('-' for stdin)",
    )
    p.add_argument("--category", "-c", help="task category")
    p.add_argument(
        "--outcome",
        type=_outcome_value,
        metavar="success|failure|SCORE",
        help="how it went (skips the judge)",
    )
    p.add_argument(
        "--llm-cmd",
        metavar="CMD",
        help="your model as a command: prompt on stdin, answer on stdout",
    )
    p.add_argument(
        "--llm-model",
        metavar="NAME",
        help="the model's name, kept in each item's provenance",
    )
    p.add_argument(
        "--llm-timeout",
        type=float,
        default=LLM_CMD_TIMEOUT,
        metavar="SECONDS",
        help=f"longest wait for one answer of --llm-cmd (default {LLM_CMD_TIMEOUT:g})",
    )

    p = commands.add(
        "prompt",
        "print the memory block for a system prompt",
        (
            "Print the memory items of the past tasks most similar to TASK as one block to\n"
            "put in an agent's system prompt: quoted as data, with their provenance.\n\n"
            'Example: reasoningbank prompt "fix the flaky signup test" -k 3'
        ),
        JSON,
    )
    p.add_argument("task", help="the task about to be done")
    p.add_argument("-k", type=int, default=5, help="memory items (default 5)")
    p.add_argument("--category", "-c", help="only items of this task category")


# -- import and export ------------------------------------------------------------------------
def _transfer_commands(commands: _Commands) -> None:
    p = commands.add(
        "import",
        "import patterns (agentic-flow memory.db, Rust/WASM JSON or SQLite, bundles)",
        (
            "Import patterns into the bank. The format is detected from the content: "
            "agentic-flow's .swarm/memory.db, the Rust reasoningbank-storage SQLite schema, "
            "ReasoningBankWasm/Rust pattern JSON (array) or JSONL, or a signed bundle from "
            "`reasoningbank export`. Ids are kept; patterns already in the bank are skipped, so "
            "importing twice is harmless. Atomic: if any record is invalid, every one is listed "
            "and nothing is stored (--skip-invalid imports the others).\n\n"
            "Example: reasoningbank --db bank.db import .swarm/memory.db --dry-run"
        ),
        JSON,
    )
    p.set_defaults(error_prefix="reasoningbank import")
    p.add_argument("file", metavar="FILE", help="file to import")
    p.add_argument(
        "--format", choices=FORMATS, default="auto", help="source format (default: auto)"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="read and validate everything, write nothing"
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid records and list the invalid ones (default: any invalid "
        "record stops the import and nothing is stored)",
    )
    p.add_argument(
        "--embeddings",
        choices=EMBEDDINGS,
        default="auto",
        help="source vectors: auto keeps them only from bundles and this library's own JSON",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: only when stderr is a terminal)",
    )
    p.add_argument(
        "--trust-signer",
        action="store_true",
        help="accept a bundle signed by a key this bank does not trust yet "
        "(its signature and hashes are still verified)",
    )

    p = commands.add(
        "export",
        "export every pattern to a signed bundle (or plain JSONL)",
        (
            "Write all patterns to FILE. The default bundle format is signed with this bank's "
            "Ed25519 key and lists a SHA-256 per record; `reasoningbank import FILE` verifies "
            "both and refuses a modified bundle. --format jsonl writes unsigned pattern JSON "
            "lines for other tools.\n\n"
            "Example: reasoningbank --db bank.db export backup.rbundle"
        ),
        JSON,
    )
    p.set_defaults(error_prefix="reasoningbank export")
    p.add_argument("file", metavar="FILE", help="output file (replaced if it exists)")
    p.add_argument(
        "--format", choices=("bundle", "jsonl"), default="bundle", help="default: bundle"
    )


# -- the neural bus ---------------------------------------------------------------------------
def _bus_commands(commands: _Commands) -> None:
    p = commands.add(
        "identity",
        "print this bank's Ed25519 public key",
        (
            "Print this bank's Ed25519 public key (created on first use, file <bank>.key, 0600).\n"
            "With --rotate: make a new key and print the rotation statement, signed by the old\n"
            "key, that peers accept with `reasoningbank trust add --rotation FILE`.\n\n"
            "Example: reasoningbank --db bank.db identity"
        ),
        JSON,
    )
    p.add_argument("--rotate", action="store_true", help="replace the key; print the statement")

    trust = commands.add(
        "trust",
        "manage trusted keys",
        (
            "Keys whose shared patterns this bank accepts.\n\n"
            "Example: reasoningbank trust add 3f2a…(64 hex) --label laptop"
        ),
    )
    actions = trust.add_subparsers(dest="trust_command", metavar="ACTION")
    actions.required = True
    trust_commands = _Commands(actions, "trust ")
    p = trust_commands.add(
        "add",
        "trust a key",
        ("Trust a key: patterns it signed will be accepted. Example: reasoningbank trust add HEX"),
    )
    p.add_argument("key", nargs="?", help="public key, 64 hex characters")
    p.add_argument("--label", help="a name to remember the key by")
    p.add_argument("--rotation", metavar="FILE", help="accept a key rotation statement")
    p = trust_commands.add(
        "remove",
        "stop trusting a key",
        "Stop trusting a key. Example: reasoningbank trust remove HEX",
    )
    p.add_argument("key")
    trust_commands.add(
        "list",
        "list trusted keys",
        "List trusted keys. Example: reasoningbank trust list --json",
        JSON,
    )

    p = commands.add(
        "hub",
        "run a neural-bus hub (HTTP/3 + WebSocket)",
        (
            "Run a neural-bus hub: HTTP/3 WebTransport (UDP) and WebSocket (TCP) on --port.\n\n"
            "Say who may use it (read and write): --allow KEY (repeatable), --allow-trusted (the\n"
            "--db bank's trust list and its own key) or --open (any key); with none of them it\n"
            "does not start. Prints the URLs, the policy and `certificate sha256: HEX`; clients\n"
            "pin that hash with --cert-hash (browsers with serverCertificateHashes). The\n"
            "certificate is regenerated on each start and is valid 10 days.\n\n"
            "Example: reasoningbank hub --port 4433 --allow 3f2a…(64 hex)"
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4433, help="UDP and TCP port (default 4433)")
    p.add_argument("--no-quic", action="store_true", help="WebSocket only")
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="web origin whose pages may connect, e.g. http://localhost:8765 (repeatable; "
        "'*' for any; default: none, only non-browser clients)",
    )
    p.add_argument(
        "--allow",
        action="append",
        metavar="KEY",
        help="admit this key (64 hex characters, as `identity` prints it; repeatable)",
    )
    p.add_argument(
        "--allow-trusted",
        action="store_true",
        help="admit the keys the --db bank trusts, and its own",
    )
    p.add_argument(
        "--open",
        action="store_true",
        help="admit any key: whoever reaches the port reads and writes all it relays",
    )
    p.add_argument(
        "--trusted-only",
        action="store_true",
        help="relay only patterns by keys in the --db bank's trust list",
    )
    p.add_argument(
        "--max-patterns",
        type=int,
        default=1_000_000,
        metavar="N",
        help="most patterns the hub keeps (default 1000000)",
    )
    p.add_argument(
        "--store",
        metavar="FILE",
        help="keep relayed patterns in this JSON-lines file across restarts",
    )
    p.add_argument(
        "--max-patterns-per-author",
        type=int,
        default=10_000,
        metavar="N",
        help="most patterns the hub keeps per author key (default 10000)",
    )
    p.add_argument(
        "--budget",
        type=int,
        default=100_000,
        metavar="UNITS",
        help="spend units each key may use per 60 s (1 per frame + 1 per 4 KiB; "
        "shared by all hubs of a --nats cluster; default 100000)",
    )
    p.add_argument(
        "--nats",
        metavar="URL[,URL...]",
        help="keep patterns in a NATS JetStream cluster shared with other hubs "
        "(nats://HOST:PORT, comma-separated); needs the [cluster] extra",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N hub processes on the same ports (SO_REUSEPORT), restarted if they die; "
        "needs --nats",
    )
    p.add_argument("--worker-cert", help=argparse.SUPPRESS)  # set by the --workers parent

    p = commands.add(
        "sync",
        "sync patterns with a hub",
        (
            "Share this bank's patterns with a hub and import trusted patterns from it.\n\n"
            "Example: reasoningbank --db bank.db sync --hub https://127.0.0.1:4433/bus "
            "--cert-hash HEX"
        ),
        JSON,
    )
    p.add_argument("--hub", required=True, metavar="URL", help="https://HOST:PORT/bus or ws://…")
    p.add_argument("--cert-hash", metavar="HEX", help="pin the hub certificate (sha256 it printed)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    p.add_argument(
        "--announce-trust",
        action="store_true",
        help="tell the hub which authors you trust so it sends only theirs "
        "(saves bandwidth; the hub operator learns your trust list)",
    )


# -- MCP --------------------------------------------------------------------------------------
_MCP_DESCRIPTION = (
    "Run an MCP server with the tools reasoning_store, reasoning_retrieve, reasoning_analyze "
    "and reasoning_optimize. Speaks stdio by default (for Claude Desktop/Code and other MCP "
    "hosts); --http serves streamable HTTP at http://HOST:PORT/mcp.\n\n"
    "Example: reasoningbank --db bank.db mcp"
)


def _mcp_options(p: argparse.ArgumentParser) -> None:
    p.set_defaults(error_prefix="reasoningbank mcp")
    p.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")


def mcp_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m reasoningbank.mcp_server``: ``reasoningbank mcp`` alone."""
    p = _Parser(
        prog="python -m reasoningbank.mcp_server",
        description=_MCP_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", default=None, metavar="PATH", help=_DB_HELP)
    _mcp_options(p)
    return p


# -- the web app and its assets ---------------------------------------------------------------
def _serve_commands(commands: _Commands) -> None:
    p = commands.add(
        "serve",
        "serve the offline web app (Pyodide + this library + IndexedDB) on localhost",
        (
            "Serve the ReasoningBank web app: the library runs in the browser (Pyodide), keeps "
            "its patterns in IndexedDB and works offline after the first visit.\n\n"
            "Example: reasoningbank serve --port 8765"
        ),
    )
    p.set_defaults(error_prefix="reasoningbank serve")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port (default: {DEFAULT_PORT}, or a free one if taken; 0 picks one)",
    )
    p.add_argument(
        "--pyodide-dir",
        default=None,
        help=f"directory with npm pyodide@{PYODIDE_VERSION} (default: found or installed)",
    )
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.add_argument(
        "--hub-port",
        type=int,
        default=None,
        help=f"neural-bus hub port (default: {DEFAULT_HUB_PORT}, or a free one if taken; "
        "0 picks one)",
    )
    p.add_argument("--no-hub", action="store_true", help="serve the app without the hub")
    p.add_argument(
        "--no-semantic",
        action="store_true",
        help="do not offer the [semantic] extra's embedder to pages",
    )

    p = commands.add(
        "semantic-asset",
        "write the browser's semantic-embedder file from the installed [semantic] extra",
        (
            "Pack the WordLlama table of the installed 'reasoningbank[semantic]' extra into one "
            "quantized file that the web app's pure-Python embedder loads "
            "(ReasoningBank.load({semantic: url})). The weights are under the Llama 2 "
            "Community License: the file is for your own use, made from your installation.\n\n"
            "Example: reasoningbank semantic-asset web/semantic.rbsem --dims 256"
        ),
    )
    p.add_argument("out", help="file to write")
    p.add_argument(
        "--dims", type=int, default=ASSET_DIMS, help=f"dimensions (default {ASSET_DIMS})"
    )
