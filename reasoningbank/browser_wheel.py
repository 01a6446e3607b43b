"""The wheel browsers load: the library as it runs under Pyodide, small.

``pip install reasoningbank`` gets everything. A browser gets the same packages minus the
tools that need what a page does not have (processes, sockets, a terminal): the CLI, the MCP
server, the hub and its QUIC/WebSocket transports, the importers and benchmarks. Docstrings
and comments are blanked, Python indented one space a level and JavaScript not at all (line
numbers are kept, so tracebacks still point at the source; the build checks that every
module's syntax tree is unchanged).

    python -m reasoningbank.browser_wheel dist/     # writes dist/reasoningbank-X-py3-none-any.whl
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
import zipfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CPYTHON_ONLY", "CPYTHON_ONLY_FOLDERS", "PACKAGES", "build", "minify", "minify_js"]

PACKAGES = ("reasoningbank", "storage_idb", "transport_webtransport")

#: Folders that only make sense under CPython (every file in them is left out): the
#: command line and the asyncio drivers of the bus (a page has its own,
#: ``transport_webtransport``).
CPYTHON_ONLY_FOLDERS = ("reasoningbank/cli/", "reasoningbank/bus/aio/")

#: CPython-only modules that sit among browser modules. Why files, not a folder: the entry
#: points and build tool belong at the package root, the hub (``bus/hub.py``, ``hubstore``,
#: ``journal``) and the WebSocket codec (``bus/ws.py``) are sans-IO logic beside the rest of the bus
#: (pages use the browser's own WebSocket), and ``bus/sync.py`` drives ``bus/aio/``.
CPYTHON_ONLY = frozenset(
    "reasoningbank/" + name
    for name in (
        "__main__.py", "serve.py", "browser_wheel.py", "mcp_server.py", "migrate.py",
        "timings.py", "semantic.py", "bus/ws.py",
        "bus/sync.py", "bus/hub.py", "bus/hubstore.py", "bus/journal.py",
        "mcp_wire.py", "mcp_schema.py", "analysis.py", "import_sources.py",
    )
)  # fmt: skip

_ROOT = Path(__file__).resolve().parent.parent
_SUFFIXES = (".py", ".js", ".typed", ".json", ".wasm", ".txt")


def _chars(line: str, byte_offset: int) -> int:
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8"))


def minify(source: str) -> str:
    """Blank docstrings and comments, keeping every line where it was."""
    lines = source.splitlines(keepends=True)
    spans: list[tuple[int, int, int, int, str]] = []  # (l0, c0, l1, c1, replacement), 1-based
    for doc in _docstrings(ast.parse(source)):
        assert doc.end_lineno is not None and doc.end_col_offset is not None
        keep = "\n" * (doc.end_lineno - doc.lineno)
        c0 = _chars(lines[doc.lineno - 1], doc.col_offset)  # ast counts UTF-8 bytes
        c1 = _chars(lines[doc.end_lineno - 1], doc.end_col_offset)
        spans.append((doc.lineno, c0, doc.end_lineno, c1, f'"""{keep}"""' if keep else '""'))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            spans.append((*tok.start, *tok.end, ""))
    # Apply right to left so earlier offsets stay valid (offsets count characters).
    for l0, c0, l1, c1, text in sorted(spans, reverse=True):
        head, tail = lines[l0 - 1][:c0], lines[l1 - 1][c1:]
        lines[l0 - 1 : l1] = (head + text + tail).splitlines(keepends=True) or [""]
    return _one_space_a_level(
        "".join(line.rstrip() + "\n" if line.endswith("\n") else line for line in lines)
    )


def _docstrings(tree: ast.AST) -> Iterator[ast.Constant]:
    """The docstrings of ``tree``'s module, classes and functions."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if body and isinstance(body[0], ast.Expr):
            doc = body[0].value
            if isinstance(doc, ast.Constant) and isinstance(doc.value, str):
                yield doc


def _code_of(source: str) -> str:
    """``source``'s syntax tree with every docstring emptied, as text to compare."""
    tree = ast.parse(source)
    for doc in _docstrings(tree):
        doc.value = ""
    return ast.dump(tree)


def _one_space_a_level(source: str) -> str:
    """Each four spaces leading a line become one (lines that begin inside a string stay).
    Why: indentation was 2-3 % of the download, and Python needs it only consistent."""
    inside: set[int] = set()  # lines (1-based) that begin inside a multi-line string
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    out = []
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        text = line.lstrip(" ")
        spaces = len(line) - len(text)
        out.append(line if number in inside else " " * (spaces // 4 + spaces % 4) + text)
    return "".join(out)


def minify_js(source: str) -> str:
    """Drop indentation and whole-line ``//`` comments, keeping every line where it was.

    Safe for our modules because none has a multi-line template literal (checked: a
    backtick string spanning lines would change, so the build refuses it).
    """
    for quoted in source.split("`")[1::2]:
        if "\n" in quoted:
            raise ValueError("multi-line template literal: minify_js would change it")
    lines = (line.strip() for line in source.split("\n"))
    return "\n".join("" if line.startswith("//") else line for line in lines)


def build(version: str | None = None) -> tuple[str, bytes]:
    """(file name, bytes) of the browser wheel, packed from the installed sources.

    Deterministic (sorted entries, fixed timestamps): its hash changes only with the code.
    """
    if version is None:
        from . import __version__ as version
    files: list[tuple[str, bytes]] = []
    for package in PACKAGES:
        base = _ROOT / package
        for path in sorted(base.rglob("*")) if base.is_dir() else ():
            rel = path.relative_to(_ROOT).as_posix()
            if (
                not path.is_file()
                or "__pycache__" in rel
                or rel.startswith("reasoningbank/_web/")
                or rel in CPYTHON_ONLY
                or rel.startswith(CPYTHON_ONLY_FOLDERS)
                or path.suffix not in _SUFFIXES
            ):
                continue
            data = path.read_bytes()
            if path.suffix == ".py":
                source = data.decode("utf-8")
                text = minify(source)
                # A minifier bug must fail the build, not the page: the code is the same.
                if _code_of(text) != _code_of(source):
                    raise ValueError(f"minify changed the code of {rel}")
                data = text.encode("utf-8")
            elif path.suffix == ".js":
                data = minify_js(data.decode("utf-8")).encode("utf-8")
            files.append((rel, data))
    info = f"reasoningbank-{version}.dist-info"
    files.append(
        (
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: reasoningbank\nVersion: {version}\n".encode(),
        )
    )
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: reasoningbank.browser_wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))  # fmt: skip
    record = "".join(f"{name},,\n" for name, _ in files) + f"{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=(2020, 2, 2, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zf.writestr(entry, data)
    return f"reasoningbank-{version}-py3-none-any.whl", buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    out = Path((argv if argv is not None else sys.argv[1:] or ["dist"])[0])
    out.mkdir(parents=True, exist_ok=True)
    name, data = build()
    for old in out.glob("reasoningbank-*-py3-none-any.whl"):
        old.unlink()
    tmp = out / (name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out / name)  # atomic: readers never see half a wheel
    print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
