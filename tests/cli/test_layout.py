"""The CLI has one home: every command is declared in ``cli/parser.py`` and run by one
handler through one ``main``; the library modules hold no argparse, and the bus never
imports the bank."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import reasoningbank

PACKAGE = Path(reasoningbank.__file__).parent


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (function-level imports too)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return names


def _leaf_commands(parser: argparse.ArgumentParser) -> set[str]:
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                inner = _leaf_commands(sub)
                found |= inner or {sub.get_default("command")}
    return found


def test_the_bus_never_imports_the_bank_or_the_cli():
    for path in sorted((PACKAGE / "bus").rglob("*.py")):
        upward = {
            n for n in _imports(path) if n.startswith(("reasoningbank.bank", "reasoningbank.cli"))
        }
        assert not upward, f"{path.name} imports {upward}"


def test_only_the_cli_parser_uses_argparse():
    users = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "argparse" in _imports(path)
    }
    assert all(user.startswith("cli/") for user in users), users
    assert "cli/parser.py" in users


def test_every_command_has_exactly_one_handler():
    from reasoningbank.cli import HANDLERS, build_parser

    commands = _leaf_commands(build_parser())
    assert commands == set(HANDLERS)
    assert {"store", "trust add", "import", "hub", "mcp", "serve", "semantic-asset"} <= commands


def test_every_command_help_ends_in_an_example():
    from reasoningbank.cli import build_parser

    stack = [build_parser()]
    while stack:
        for action in stack.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    assert "Example: reasoningbank" in (sub.description or ""), name
                    stack.append(sub)
