"""Verdicts: from a given outcome, from the user's LLM, or from the trajectory's own signals.

The heuristic judge reads what tools print: tracebacks and ``SomethingError:`` lines, exit
codes, test-runner summaries (``3 passed``, ``1 failed``), HTTP statuses, and explicit
markers (``task completed``, ``gave up``). Later signals weigh more, because the final state
is what counts: an error fixed in step 2 should not sink a run whose tests pass in step 5.
Explicit end-of-run markers weigh most. Its accuracy on a labelled set is reported by
``python -m bench.loop_judge`` (on ``bench/loop_judge_set.jsonl``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import InvalidPattern
from .items import Verdict

__all__ = ["failure_line", "heuristic_verdict", "outcome_verdict"]

# (pattern, weight, group). Positive weights are evidence of success, negative of failure.
# Groups "tests", "exit" and "http" report a state: only the last line reporting that state
# counts (a re-run supersedes the failing run). Other signals are events: an event is
# superseded by a later strong signal (|weight| >= 1) of the opposite sign, which is how an
# error the agent recovered from stops counting against it.
_SIGNALS: list[tuple[re.Pattern[str], float, str]] = [
    (re.compile(r"Traceback \(most recent call last\)"), -2.0, "event"),
    (re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b(?=[:(\s]|$)"), -1.5, "event"),
    (re.compile(r"(?:^|\s)(?:error|ERROR|Error|fatal|FATAL|Fatal)(?:\[\w+\])?:"), -1.5, "event"),
    (
        re.compile(r"(?i)\b(?:panic|segmentation fault|core dumped|crashloopbackoff)\b"),
        -2.0,
        "event",
    ),
    (
        re.compile(
            r"(?i)\b(?:exit(?:ed)?(?: with)?(?: code| status)?|return(?:ed)? code|rc|exit)\s*[=:]?\s*[1-9]\d*\b"
        ),
        -2.0,
        "exit",
    ),
    (re.compile(r"(?i)\bnon-?zero exit|returned non-?zero\b"), -2.0, "exit"),
    (
        re.compile(
            r"(?i)\b(?:exit(?:ed)?(?: with)?(?: code| status)?|return code|rc|exit)\s*[=:]?\s*0\b"
        ),
        1.5,
        "exit",
    ),
    (re.compile(r"(?i)\b[1-9]\d* (?:failed|failures?|errors?)\b"), -2.0, "tests"),
    (re.compile(r"\bFAILED\b|\bFAIL:|\bFAILURES\b"), -1.5, "tests"),
    (re.compile(r"(?i)\b[1-9]\d* passed\b|\btest result: ok\b"), 1.5, "tests"),
    (re.compile(r"(?i)\b(?:0|no) (?:failed|failures|errors?)\b|\bwithout errors?\b"), 1.0, "event"),
    (re.compile(r"(?i)\b(?:HTTP/\S+ |status(?: code)?:? |HTTP )(?:4\d\d|5\d\d)\b"), -1.5, "http"),
    (
        re.compile(r"(?i)\b(?:HTTP/\S+ |status(?: code)?:? )2\d\d\b|^\s*20[01]\s*$|\b200 OK\b"),
        1.0,
        "http",
    ),
    (
        re.compile(r"\*\*\* .*\bError \d+|\btakes \d+ positional arguments? but \d+ were given"),
        -1.5,
        "event",
    ),
    (re.compile(r"(?i)\b(?:timed out|timeout expired|deadline exceeded)\b"), -1.5, "event"),
    (
        re.compile(
            r"(?i)\b(?:permission denied|access denied|forbidden|unauthori[sz]ed|bad credentials|"
            r"authentication failed|declined|too many requests|rate limited)\b"
        ),
        -1.5,
        "event",
    ),
    (
        re.compile(
            r"(?i)\b(?:connection refused|no such file|command not found|unable to locate)\b"
        ),
        -1.5,
        "event",
    ),
    (
        re.compile(r"(?i)\b(?:404|500 internal server error|page not found|service unavailable)\b"),
        -1.5,
        "event",
    ),
    (
        re.compile(
            r"(?i)\b(?:not found|no results|out of stock|sold out|unavailable|insufficient|"
            r"0 \w+ match|no \w+ (?:found|match)|empty|broken|partial|missing)\b"
        ),
        -0.7,
        "event",
    ),
    (
        re.compile(
            r"(?i)\b(?:wrong|incorrect|invalid|mismatch|does not match|rejected|not met|still)\b"
        ),
        -0.7,
        "event",
    ),
    (
        re.compile(
            r"(?m)^OK\b|\bBUILD SUCCESS(?:FUL)?\b|\bbuild succeeded\b|\bAll checks passed\b"
        ),
        1.5,
        "event",
    ),
    (re.compile(r"(?i)\bsuccessful(?:ly)?\b|\bsucceeded\b|\bcongratulations\b"), 1.0, "event"),
    (
        re.compile(
            r"(?i)\b(?:confirmed|confirmation (?:number|code)|saved|submitted|created|merged|"
            r"deployed|published|booked|order placed|verified|matches expected|as expected|"
            r"added|downloaded|uploaded|wrote|written|installed|completed|finished|delivered|"
            r"thank you|thanks|welcome|configured|restarted|reclaimed|active|converted)\b"
        ),
        0.7,
        "event",
    ),
    (re.compile(r"(?i)^\s*(?:answer|root cause|yes)\s*:"), 1.0, "event"),
]

_FINAL_SUCCESS = re.compile(
    r"(?i)(?:\btask (?:is )?(?:complete|completed|done|accomplished|succeeded)\b|"
    r"\bstatus\s*[:=]\s*(?:success|succeeded|done|passed|ok)\b|\bresult\s*[:=]\s*success\b|"
    r"\ball (?:\d+ )?(?:tests|checks) (?:passed|pass|green)\b|✅|✓|\bFINAL: ?SUCCESS\b|"
    r"\bmission accomplished\b|^\s*done\.?\s*$)"
)
_FINAL_FAILURE = re.compile(
    r"(?i)(?:\btask (?:has )?failed\b|\bstatus\s*[:=]\s*(?:fail|failed|failure|error)\b|"
    r"\bresult\s*[:=]\s*fail(?:ure|ed)?\b|\bgave up\b|\bgiving up\b|\bI (?:was|am) unable\b|"
    r"\b(?:could not|couldn't|cannot|can't|unable to|did not|didn't|failed to|"
    r"could no longer|can no longer)\b|❌|✗|"
    r"\bFINAL: ?FAIL(?:URE|ED)?\b|\babort(?:ing|ed)?\b|\bnot (?:completed|accomplished|solved|met)\b|"
    r"\bstop(?:ping|ped)\b|\bstop here\b|\bnothing more\b)"
)
_PREFIX = re.compile(r"(?i)^\s*(?:thought|action|observation|step \d+)\s*:\s*")
#: Score when a trajectory carries no signal either way, and the pull toward it. Why above
#: 0.5: on the labelled set, failures nearly always leave a trace (an error, a refusal, a
#: "could not"), so a quiet run that reached its end more often did its job.
_QUIET_PRIOR = 0.6


def heuristic_verdict(text: str) -> Verdict:
    """Judge a trajectory's text by its own signals (no LLM): a score in [0, 1]."""
    lines = text.splitlines() or [text]
    n = len(lines)
    found: list[tuple[int, float, str, str]] = []  # (line, weight, group, matched text)
    for i, raw in enumerate(lines):
        line = _PREFIX.sub("", raw)
        if not line.strip():
            continue
        # A thought is the agent's guess, not evidence; observations and actions are.
        damp = 0.35 if raw.lstrip().lower().startswith("thought:") else 1.0
        for pattern, weight, group in _SIGNALS:
            hits = pattern.findall(line)
            if hits:
                m = pattern.search(line)
                found.append((i, weight * min(len(hits), 2) * damp, group, m.group(0) if m else ""))
    last_state = {g: max(i for i, _, gg, _ in found if gg == g) for _, _, g, _ in found}
    last_strong = {
        sign: max((i for i, w, _, _ in found if (w > 0) == sign and abs(w) >= 1.0), default=-1)
        for sign in (True, False)
    }
    total = 0.0
    notes: list[tuple[float, str]] = []
    for i, weight, group, what in found:
        if group != "event" and i != last_state[group]:
            continue  # a later report of the same state supersedes this one
        if group == "event" and last_strong[weight < 0] > i:
            continue  # a later strong signal the other way supersedes this event
        w = weight * (0.5 + 1.5 * (i + 1) / n)  # the end counts up to four times the start
        total += w
        notes.append((w, what))
    final = _final_marker([_PREFIX.sub("", line) for line in lines])
    if final is not None:
        total += 4.0 if final[0] else -4.0
        notes.append((4.0 if final[0] else -4.0, final[1]))
    prior = math.log(_QUIET_PRIOR / (1 - _QUIET_PRIOR)) * 2.0
    score = 1.0 / (1.0 + math.exp(-(total + prior) / 2.0))
    success = score >= 0.5
    if not notes:
        reason = "no failure signal in the trajectory"
        return Verdict(success, round(score, 4), reason, "heuristic")
    strongest = max(notes, key=lambda n: abs(n[0]) if (n[0] > 0) == success else 0.0)
    reason = f"{'success' if success else 'failure'} signals outweigh (strongest: {strongest[1]!r})"
    return Verdict(success, round(score, 4), reason, "heuristic")


def failure_line(text: str) -> str | None:
    """The line of ``text`` with the strongest failure signal (step prefixes removed), if
    any: what a failure lesson says the action "led to"."""
    best: tuple[float, str] | None = None
    for raw in text.splitlines():
        line = _PREFIX.sub("", raw)
        if line.startswith("Traceback ("):
            continue  # the error itself is on a later line, and says more
        for pattern, weight, _ in _SIGNALS:
            if weight < 0 and (best is None or weight < best[0]) and pattern.search(line):
                best = (weight, line)
    return best[1].strip() if best else None


def _final_marker(lines: list[str]) -> tuple[bool, str] | None:
    """The last explicit success/failure marker in the final lines (a quarter, at least 3)."""
    tail = [line for line in lines if line.strip()][-max(3, len(lines) // 4) :]
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
