"""Verdicts: from a given outcome, from the user's LLM, or from the trajectory's own signals.

The heuristic judge reads what tools print: tracebacks and ``SomethingError:`` lines, exit
codes, test-runner summaries (``3 passed``, ``1 failed``), HTTP statuses, and explicit
markers (``task completed``, ``gave up``). Later signals weigh more, because the final state
is what counts: an error fixed in step 2 should not sink a run whose tests pass in step 5.
Explicit end-of-run markers weigh most. Its accuracy on a labelled set is reported by
``reasoningbank.loop.judge_accuracy`` (``bench/loop_judge_set.jsonl``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import InvalidPattern
from .items import Verdict

__all__ = ["heuristic_verdict", "outcome_verdict"]

# (pattern, weight): positive weights are evidence of success, negative of failure.
_SIGNALS: list[tuple[re.Pattern[str], float]] = [
    (re.compile(r"Traceback \(most recent call last\)"), -2.0),
    (re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b(?!\w)(?=[:(\s]|$)"), -1.5),
    (re.compile(r"(?im)^\s*(?:error|fatal|fail(?:ed|ure)?)\b\s*[:!\]]"), -1.5),
    (re.compile(r"(?i)\b(?:fatal|panic|segmentation fault|core dumped)\b"), -1.5),
    (
        re.compile(
            r"(?i)\b(?:exit(?:ed)?(?: with)?(?: code| status)?|return(?:ed)? code|rc)\s*[=:]?\s*[1-9]\d*\b"
        ),
        -2.0,
    ),
    (re.compile(r"(?i)\bnon-?zero exit|returned non-?zero\b"), -2.0),
    (re.compile(r"(?i)\b[1-9]\d* (?:failed|failures?|errors?)\b"), -2.0),
    (re.compile(r"\bFAILED\b|\bFAIL:|\bFAILURES\b"), -1.5),
    (re.compile(r"(?i)\b(?:timed out|timeout expired|deadline exceeded)\b"), -1.5),
    (re.compile(r"(?i)\b(?:permission denied|access denied|forbidden|unauthori[sz]ed)\b"), -1.5),
    (re.compile(r"(?i)\b(?:connection refused|no such file|command not found)\b"), -1.5),
    (re.compile(r"(?i)\b(?:HTTP/\S+ |status(?: code)?:? )(?:4\d\d|5\d\d)\b"), -1.5),
    (re.compile(r"(?i)\b(?:404 not found|500 internal server error|page not found)\b"), -1.5),
    (re.compile(r"(?i)\b(?:not found|no results|out of stock|sold out|unavailable)\b"), -0.7),
    (re.compile(r"(?i)\b(?:wrong|incorrect|invalid|mismatch|does not match|rejected)\b"), -0.7),
    (
        re.compile(
            r"(?i)\b(?:exit(?:ed)?(?: with)?(?: code| status)?|return code|rc)\s*[=:]?\s*0\b"
        ),
        1.5,
    ),
    (re.compile(r"(?i)\b[1-9]\d* passed\b"), 1.5),
    (re.compile(r"(?i)\b(?:0|no) (?:failed|failures|errors?)\b|\bwithout errors?\b"), 1.5),
    (re.compile(r"(?m)^OK\b|\bBUILD SUCCESS(?:FUL)?\b|\bbuild succeeded\b"), 1.5),
    (re.compile(r"(?i)\bsuccessfully\b|\bsucceeded\b"), 1.0),
    (
        re.compile(
            r"(?i)\b(?:confirmed|confirmation (?:number|code)|saved|submitted|created|merged|"
            r"deployed|published|booked|order placed|verified|matches expected|as expected)\b"
        ),
        0.7,
    ),
    (re.compile(r"(?i)\bHTTP/\S+ 2\d\d\b|\bstatus(?: code)?:? 2\d\d\b"), 0.7),
]

_FINAL_SUCCESS = re.compile(
    r"(?i)(?:\btask (?:is )?(?:complete|completed|done|accomplished|succeeded)\b|"
    r"\bstatus\s*[:=]\s*(?:success|succeeded|done|passed|ok)\b|\bresult\s*[:=]\s*success\b|"
    r"\ball (?:\d+ )?(?:tests|checks) (?:passed|pass|green)\b|✅|\bFINAL: ?SUCCESS\b|"
    r"\bmission accomplished\b|\bdone\.?\s*$)"
)
_FINAL_FAILURE = re.compile(
    r"(?i)(?:\btask (?:has )?failed\b|\bstatus\s*[:=]\s*(?:fail|failed|failure|error)\b|"
    r"\bresult\s*[:=]\s*fail(?:ure|ed)?\b|\bgave up\b|\bgiving up\b|\bI (?:was|am) unable\b|"
    r"\b(?:could not|couldn't|cannot|can't|unable to) (?:complete|finish|accomplish)\b|❌|"
    r"\bFINAL: ?FAIL(?:URE|ED)?\b|\baborting\b|\baborted\b|\bnot (?:completed|accomplished)\b)"
)


def heuristic_verdict(text: str) -> Verdict:
    """Judge a trajectory's text by its own signals (no LLM): a score in [0, 1]."""
    lines = text.splitlines() or [text]
    n = len(lines)
    total = 0.0
    notes: list[tuple[float, str]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        recency = 0.5 + 1.5 * (i + 1) / n  # 0.5 .. 2.0: the end counts four times the start
        # A thought is the agent's guess, not evidence; observations and actions are.
        damp = 0.35 if line.lstrip().lower().startswith("thought:") else 1.0
        for pattern, weight in _SIGNALS:
            hits = len(pattern.findall(line))
            if hits:
                w = weight * min(hits, 2) * recency * damp
                total += w
                notes.append((w, pattern.search(line).group(0)))  # type: ignore[union-attr]
    final = _final_marker(lines)
    if final is not None:
        total += 4.0 if final[0] else -4.0
        notes.append((4.0 if final[0] else -4.0, final[1]))
    score = 1.0 / (1.0 + math.exp(-total / 2.0))
    success = score >= 0.5
    if not notes:
        return Verdict(False, 0.5, "no success or failure signal in the trajectory", "heuristic")
    strongest = max(notes, key=lambda n: abs(n[0]) if (n[0] > 0) == success else 0.0)
    reason = f"{'success' if success else 'failure'} signals outweigh (strongest: {strongest[1]!r})"
    return Verdict(success, round(score, 4), reason, "heuristic")


def _final_marker(lines: list[str]) -> tuple[bool, str] | None:
    """The last explicit success/failure marker in the final quarter (at least 3 lines)."""
    tail = lines[-max(3, len(lines) // 4) :]
    for line in reversed(tail):
        fail, win = _FINAL_FAILURE.search(line), _FINAL_SUCCESS.search(line)
        if fail and (not win or fail.start() > win.start()):
            return False, fail.group(0)
        if win:
            return True, win.group(0)
    return None


def outcome_verdict(outcome: Any) -> Verdict:
    """The caller's own outcome: True/False, a score in [0, 1], or "success"/"failure"."""
    if isinstance(outcome, bool):
        return Verdict(outcome, 1.0 if outcome else 0.0, "outcome given by the caller", "outcome")
    if isinstance(outcome, str):
        word = outcome.strip().lower()
        if word in ("success", "succeeded", "pass", "passed", "true"):
            return outcome_verdict(True)
        if word in ("failure", "fail", "failed", "false"):
            return outcome_verdict(False)
        try:
            outcome = float(word)
        except ValueError:
            raise InvalidPattern(
                f"outcome must be success, failure or a score in [0, 1], got {outcome!r}"
            ) from None
    if isinstance(outcome, (int, float)) and math.isfinite(outcome) and 0 <= outcome <= 1:
        score = float(outcome)
        return Verdict(score >= 0.5, score, "outcome given by the caller", "outcome")
    raise InvalidPattern(f"outcome must be success, failure or a score in [0, 1], got {outcome!r}")
