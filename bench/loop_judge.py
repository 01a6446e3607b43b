"""python -m bench.loop_judge: accuracy of the loop's heuristic judge on labelled trajectories.

``bench/loop_judge_set.jsonl`` holds realistic agent trajectories (coding, shell and ops,
web navigation, data, HTTP APIs, question answering), each labelled success or failure by
hand, including hard cases: errors that were recovered from, tests skipped instead of fixed,
"done" claimed over a failing check. The judge sees only the trajectory text, as ``learn``
does without an LLM. Prints accuracy overall, per split, domain and label, and every miss.

Splits: the judge's rules were tuned while looking at the ``tune`` cases; the ``heldout``
cases were written afterwards and never used for tuning, so their accuracy is the honest
estimate for new trajectories.

usage: python -m bench.loop_judge [--json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from reasoningbank.loop import Trajectory, heuristic_verdict

SET = Path(__file__).with_name("loop_judge_set.jsonl")


def load(path: Path = SET) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def judge_accuracy(path: Path = SET) -> dict[str, Any]:
    """Run the heuristic judge over the labelled set; returns the counts and the misses."""
    cases = load(path)
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses = []
    for case in cases:
        verdict = heuristic_verdict(Trajectory.of(case["trajectory"]).text())
        said = "success" if verdict.success else "failure"
        keys = (
            "all",
            f"split:{case['split']}",
            f"domain:{case['domain']}",
            f"label:{case['label']}",
        )
        for key in keys:
            total[key] += 1
            right[key] += said == case["label"]
        if said != case["label"]:
            misses.append({"id": case["id"], "label": case["label"], "score": verdict.score,
                           "reason": verdict.reason})  # fmt: skip
    return {
        "cases": len(cases),
        "accuracy": right["all"] / total["all"],
        "heldout_accuracy": right["split:heldout"] / max(total["split:heldout"], 1),
        "by": {k: {"right": right[k], "total": total[k]} for k in sorted(total) if k != "all"},
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop_judge")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    report = judge_accuracy()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"heuristic judge: {report['accuracy']:.1%} right on {report['cases']} trajectories "
        f"({report['heldout_accuracy']:.1%} on the held-out split)"
    )
    for key, row in report["by"].items():
        print(f"  {key:<14} {row['right']:>3}/{row['total']:<3} {row['right'] / row['total']:.0%}")
    for miss in report["misses"]:
        print(f"  miss {miss['id']}: labelled {miss['label']}, score {miss['score']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
