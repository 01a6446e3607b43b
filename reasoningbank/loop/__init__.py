"""The paper's closed loop: learn from what agents do (judge → distill → scrub → dedup →
consolidate), retrieve memory items, render a memory prompt, and scale at test time (MaTTS).

Pure Python; runs in CPython and Pyodide. ``ReasoningBank.learn/retrieve/memory_prompt/
matts_parallel/matts_sequential`` are the entry points; this package holds the pieces.
"""

from __future__ import annotations

from .items import LearnReport, MattsReport, MemoryItem, Verdict
from .judge import heuristic_verdict
from .llm import LLM, call_llm, command_llm, openai_chat
from .prompts import PROMPT_NAMES, Prompts
from .render import render_memories
from .scrub import scrub
from .trajectory import MAX_TRAJECTORY_CHARS, Step, Trajectory

__all__ = [
    "LLM",
    "MAX_TRAJECTORY_CHARS",
    "PROMPT_NAMES",
    "LearnReport",
    "MattsReport",
    "MemoryItem",
    "Prompts",
    "Step",
    "Trajectory",
    "Verdict",
    "call_llm",
    "command_llm",
    "heuristic_verdict",
    "openai_chat",
    "render_memories",
    "scrub",
]
