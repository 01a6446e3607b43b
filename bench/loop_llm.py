"""A scripted stand-in for the user's LLM: judge and distiller, deterministic, no model.

It answers the bank's own judge and distill prompts from the text in the prompt alone (the
task and the trajectory), the way a careful model would: the verdict from the agent's closing
summary (else the last exit code), one lesson naming the strategy that was run and the check
that showed how it went.
"""

from __future__ import annotations

import json
import re

_EXIT = re.compile(r"(?i)\bexit(?: code| status)?\s*(\d+)")
_SETBACK = re.compile(r"(?i)\b(?:not|could not|did not|does not|do not|persists|unable)\b")
_ACTION = re.compile(r"(?m)^Action:\s*([\w-]+):\s*\$\s*(.+)$")


def _section(prompt: str, name: str) -> str:
    """The text after ``name:`` up to the next blank-line-separated section."""
    m = re.search(rf"(?ms)^{name}:\n(.*?)(?:\n\n(?:[A-Z][a-z]+:|Answer with)|\Z)", prompt)
    return m.group(1).strip() if m else ""


def _observations(trajectory: str) -> list[str]:
    return [ln[len("Observation:") :].strip() for ln in trajectory.splitlines()
            if ln.startswith("Observation:")]  # fmt: skip


def _judge(trajectory: str) -> dict[str, object]:
    """The agent's closing summary decides, as a reader would take it; else the last exit code."""
    final = next((ln for ln in reversed(trajectory.splitlines()) if ln.startswith("Final:")), "")
    observations = _observations(trajectory)
    codes = [int(c) for line in observations[-2:] for c in _EXIT.findall(line)]
    if _SETBACK.search(final):
        success = False
    elif final:
        success = True
    else:
        success = bool(codes) and codes[-1] == 0
    evidence = next((o for o in reversed(observations) if not _EXIT.fullmatch(o)), "no output")
    return {"success": success, "score": 1.0 if success else 0.0,
            "reason": f"{final or 'no summary'} (last check: {evidence})"}  # fmt: skip


def _distill(task: str, trajectory: str, success: bool) -> dict[str, object]:
    actions = _ACTION.findall(trajectory)
    if not actions:
        return {"items": []}
    strategy, command = actions[-1]
    observations = _observations(trajectory)
    evidence = next((o for o in observations if not _EXIT.fullmatch(o)), "no output")
    if success:
        item = {
            "title": f"Use {strategy} for tasks like this",
            "description": f"{strategy} solved: {task}",
            "content": f"For a task like '{task}', {strategy} worked ({command}); "
            f"the checks confirmed it: {evidence}.",
        }
    else:
        item = {
            "title": f"Avoid {strategy} for tasks like this",
            "description": f"{strategy} failed on: {task}",
            "content": f"Avoid {strategy} for a task like '{task}' because it failed: "
            f"{evidence}; try another strategy instead.",
        }
    return {"items": [item]}


def scripted_llm(prompt: str) -> str:
    """Answers a judge prompt with a verdict and a distill prompt with one lesson, as JSON."""
    task = _section(prompt, "Task")
    trajectory = _section(prompt, "Trajectory")
    if "judging whether" in prompt:
        return json.dumps(_judge(trajectory))
    if "SUCCEEDED" in prompt or "FAILED" in prompt:
        return json.dumps(_distill(task, trajectory, "SUCCEEDED" in prompt))
    return json.dumps({"items": []})
