"""Shared fixtures: banks on real SQLite files in tmp dirs, and a way to run coroutines."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


ROOT = Path(__file__).resolve().parents[1]


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m reasoningbank ARGV`` in a real process, importing this checkout."""
    return subprocess.run(
        [sys.executable, "-m", "reasoningbank", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "bank.db")


class Clock:
    """A settable clock: learning and decay tests control time."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


def pattern(
    desc: str,
    category: str = "backend",
    strategy: str = "test-driven",
    score: float = 0.9,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "task_description": desc,
        "task_category": category,
        "strategy": strategy,
        "outcome": {"success": score >= 0.5, "success_score": score},
        **extra,
    }
