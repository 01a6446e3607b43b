"""Trajectories: what an agent did, as text the judge, the distiller and the LLM read.

A trajectory is a string, a list of steps (dicts with ``thought``, ``action``,
``observation``; any may be missing, other fields are kept as text), an object with such a
``steps`` list (agentic-flow's shape) or a ``Trajectory``. All three become one text with a
stable SHA-256, which the items' provenance records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidTrajectory

__all__ = ["MAX_STEPS", "MAX_TRAJECTORY_CHARS", "Step", "Trajectory"]

#: Largest trajectory ``learn`` reads (characters of its text form): it bounds the judge's
#: and the distiller's work and what an LLM prompt carries; agents summarise longer runs.
MAX_TRAJECTORY_CHARS = 200_000
#: Most steps in a step-list trajectory.
MAX_STEPS = 1_000
_STEP_KEYS = ("thought", "action", "observation")


@dataclass(slots=True, frozen=True)
class Step:
    """One step of an agent: why, what it did, what it saw."""

    thought: str = ""
    action: str = ""
    observation: str = ""

    def text(self) -> str:
        parts = [f"{k}: {v}" for k, v in zip(_STEP_KEYS, self._values(), strict=True) if v]
        return "\n".join(parts)

    def _values(self) -> tuple[str, str, str]:
        return (self.thought, self.action, self.observation)


@dataclass(slots=True, frozen=True)
class Trajectory:
    """An agent's attempt: free text or steps. ``Trajectory.of(value)`` accepts all shapes."""

    steps: tuple[Step, ...] = ()
    raw: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Any) -> Trajectory:
        """Normalise and bound ``value``; raises ``InvalidTrajectory`` naming the problem."""
        if isinstance(value, Trajectory):
            traj = value
        elif isinstance(value, str):
            traj = cls(raw=value)
        elif isinstance(value, dict):
            if not isinstance(value.get("steps"), list):
                raise InvalidTrajectory(
                    'a trajectory object needs a "steps" list of {thought, action, observation}'
                )
            return cls.of(value["steps"])
        elif isinstance(value, (list, tuple)):
            if len(value) > MAX_STEPS:
                raise InvalidTrajectory(
                    f"trajectory has {len(value)} steps; at most {MAX_STEPS} are read"
                )
            traj = cls(steps=tuple(_step(s, i) for i, s in enumerate(value)))
        else:
            raise InvalidTrajectory(
                "a trajectory must be text or a list of steps "
                f"({{thought, action, observation}}), got {type(value).__name__}"
            )
        text = traj.text()
        if len(text) > MAX_TRAJECTORY_CHARS:
            raise InvalidTrajectory(
                f"trajectory is {len(text)} characters; at most {MAX_TRAJECTORY_CHARS} are "
                "read (summarise long runs before learning from them)"
            )
        if not text.strip():
            raise InvalidTrajectory("trajectory is empty")
        return traj

    def text(self) -> str:
        if self.raw is not None:
            return self.raw
        return "\n\n".join(
            f"step {i + 1}\n{s.text()}" for i, s in enumerate(self.steps) if s.text()
        )

    def sha256(self) -> str:
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()


#: Other names agents (agentic-flow among them) give the three parts of a step.
_SYNONYMS = {
    "thought": ("thought", "reasoning", "reflection", "plan"),
    "action": ("action", "tool", "command", "input", "args"),
    "observation": ("observation", "result", "output", "response", "error"),
}


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _step(value: Any, index: int) -> Step:
    """A step from a dict: the three parts under their usual names; any other field
    (``url``, ``status``...) is kept as ``name: value`` text beside the action."""
    if isinstance(value, Step):
        return value
    if isinstance(value, str):
        return Step(observation=value)
    if not isinstance(value, dict):
        raise InvalidTrajectory(
            f"trajectory step {index + 1} must be an object with thought/action/observation"
        )
    parts: dict[str, list[str]] = {k: [] for k in _STEP_KEYS}
    known = {name: part for part, names in _SYNONYMS.items() for name in names}
    for key, v in value.items():
        if v is None or v == "":
            continue
        part = known.get(str(key))
        if part is None:
            parts["action"].append(f"{key}: {_text_of(v)}")
        elif str(key) == part:
            parts[part].insert(0, _text_of(v))
        else:
            parts[part].append(f"{key}: {_text_of(v)}")
    return Step(*(" ".join(parts[k]) for k in _STEP_KEYS))
