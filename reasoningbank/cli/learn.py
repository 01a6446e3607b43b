"""``learn`` and ``prompt``: the closed loop (DESIGN 2b) from the command line.

``--llm-cmd CMD`` makes any local model runner or LLM command-line tool the bank's LLM: CMD
reads a prompt on stdin and prints the answer. Its failures (non-zero exit, timeout, an
answer that stays malformed) are one line on stderr, and nothing is stored.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from typing import Any

from ..errors import InvalidTrajectory
from ..files import decode_utf8
from ..loop.trajectory import MAX_TRAJECTORY_CHARS
from .bank import open_bank, read_file
from .run import Output

__all__ = ["MAX_TRAJECTORY_BYTES", "learn", "prompt", "read_trajectory"]


#: Bytes read from a trajectory file. Why a bound: the library refuses a trajectory over
#: ``MAX_TRAJECTORY_CHARS`` anyway; JSON escapes take up to 12 bytes per character, so a larger
#: file is refused before it is read whole.
MAX_TRAJECTORY_BYTES = 12 * MAX_TRAJECTORY_CHARS


def read_trajectory(path: str) -> str | list[Any]:
    """The trajectory in ``path`` ('-': stdin): a JSON list of steps stays a list; anything
    else (a log, a transcript) is text."""
    source = "standard input" if path == "-" else path
    limit = MAX_TRAJECTORY_BYTES + 1
    data = sys.stdin.buffer.read(limit) if path == "-" else read_file(path, limit)
    if len(data) >= limit:
        raise InvalidTrajectory(
            f"the trajectory in {source} is larger than {MAX_TRAJECTORY_BYTES} bytes "
            f"(a trajectory holds at most {MAX_TRAJECTORY_CHARS} characters)"
        )
    text = decode_utf8(data, source)
    if not text.strip():
        raise InvalidTrajectory(f"the trajectory in {source} is empty")
    if text.lstrip().startswith("["):
        try:
            steps = json.loads(text)
        except ValueError:
            return text  # a log line such as "[INFO] ...": text after all
        if isinstance(steps, list):
            return steps
    return text


async def learn(args: Namespace) -> Output:
    """Judge, distill and store; prints the verdict and the items learned."""
    trajectory = read_trajectory(args.trajectory)
    llm = None
    if args.llm_cmd:
        from ..loop.llm import command_llm

        llm = command_llm(args.llm_cmd, timeout=args.llm_timeout)
    async with await open_bank(args) as bank:
        report = await bank.learn(
            args.task,
            trajectory,
            category=args.category,
            outcome=args.outcome,
            llm=llm,
            model=args.llm_model,
        )
    doc = report.to_dict()
    v = report.verdict
    lines = [
        f"{'success' if v.success else 'failure'} (score {v.score:.2f}, judged by "
        f"{v.judged_by}): {v.reason}"
    ]
    for item, pid in zip(report.items, report.ids, strict=False):
        lines.append(f"  [{item.kind}] {item.title}  ({pid})")
        lines.append(f"      {item.description}")
    if not report.items:
        lines.append("  no new items (already known)")
    return Output(doc, "\n".join(lines))


async def prompt(args: Namespace) -> Output:
    """The memory block for a system prompt."""
    async with await open_bank(args, create=False) as bank:
        text = await bank.memory_prompt(args.task, k=args.k, category=args.category)
    return Output({"prompt": text}, text or None)
