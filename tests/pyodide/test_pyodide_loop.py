"""The closed loop inside Pyodide (Node + Chromium) on IndexedDB: learn, retrieve,
memory_prompt and MaTTS with a Python scripted LLM and with a JavaScript function as the
LLM, compared with the same checks under CPython."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import loop_checks

LOOP = (Path(__file__).parent / "loop_checks.py").read_text(encoding="utf-8")
JS_LLM = """
from pyodide.code import run_js
answers = json.dumps(LOOP_ANSWERS)
js_llm = run_js('''(answers => async (prompt) => {
    for (const [key, text] of Object.entries(answers)) if (prompt.includes(key)) return text;
    throw new Error("unscripted prompt");
})(''' + answers + ''')''')
"""


def reference() -> dict:
    """The same check under CPython on a SQLite file (reopened like the IndexedDB one)."""
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as pool:
        check = loop_checks.check_loop(str(Path(tmp) / "bank.db"))
        return json.loads(pool.submit(asyncio.run, check).result())


def location(selenium) -> str:  # type: ignore[no-untyped-def]
    return f"idb://loop-{selenium.browser}-{uuid.uuid4().hex[:8]}"


def test_loop_with_python_llm_matches_cpython(rb):
    got = rb.run_async(LOOP + f"\nawait check_loop({location(rb)!r})\n")
    assert json.loads(got) == reference()


def test_loop_with_a_javascript_function_as_llm(rb):
    got = rb.run_async(LOOP + JS_LLM + f"\nawait check_loop({location(rb)!r}, js_llm)\n")
    assert json.loads(got) == reference()
