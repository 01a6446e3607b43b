"""The loop's LLM prompts: package data (``prompts/*.txt``), overridable by the user.

A prompt is a ``string.Template`` (``$task``, ``$trajectory``, ...), so JSON examples in it
need no escaping, and substituted text is never expanded again.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template
from typing import Any, Union

from ..errors import InvalidPattern

__all__ = ["PROMPT_NAMES", "Prompts", "PromptsLike"]

PROMPT_NAMES = (
    "judge",
    "distill_success",
    "distill_failure",
    "matts_contrast",
    "matts_refine",
    "retry",
)
_DIR = Path(__file__).resolve().parent / "prompts"

PromptsLike = Union["Prompts", dict[str, str], str, "os.PathLike[str]", None]


class Prompts:
    """The prompt set: the packaged defaults, with any of them replaced.

    ``Prompts.of(x)``: ``None`` (defaults), a dict ``{name: template text}``, or a folder
    holding ``<name>.txt`` files (missing names keep their default).
    """

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        overrides = overrides or {}
        unknown = set(overrides) - set(PROMPT_NAMES)
        if unknown:
            raise InvalidPattern(
                f"unknown prompt names: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(PROMPT_NAMES)})"
            )
        self._text = {
            name: overrides.get(name) or (_DIR / f"{name}.txt").read_text("utf-8")
            for name in PROMPT_NAMES
        }

    @classmethod
    def of(cls, value: Any) -> Prompts:
        if value is None:
            return cls()
        if isinstance(value, Prompts):
            return value
        if isinstance(value, dict):
            return cls({str(k): str(v) for k, v in value.items()})
        if isinstance(value, (str, os.PathLike)):
            folder = Path(value)
            if not folder.is_dir():
                raise InvalidPattern(f"prompts folder {os.fspath(value)!r} does not exist")
            return cls(
                {
                    name: (folder / f"{name}.txt").read_text("utf-8")
                    for name in PROMPT_NAMES
                    if (folder / f"{name}.txt").is_file()
                }
            )
        raise InvalidPattern("prompts must be a dict of templates or a folder of .txt files")

    def render(self, name: str, **values: str) -> str:
        return Template(self._text[name]).safe_substitute(values)
