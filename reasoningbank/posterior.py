"""A pattern's counts and confidence after each outcome: the arithmetic ``learning`` folds
outcomes with, apart so that ``model`` can seed a new pattern's without importing learning
(which builds on model).

Each outcome's graded score ``s`` adds ``s`` to the successes and ``1 - s`` to the failures;
the confidence is the posterior mean of Beta(PRIOR_ALPHA + successes, PRIOR_BETA + failures).
"""

from __future__ import annotations

__all__ = ["PRIOR_ALPHA", "PRIOR_BETA", "confidence", "fold"]

PRIOR_ALPHA = 1.0
PRIOR_BETA = 1.0


def confidence(successes: float, failures: float) -> float:
    return (PRIOR_ALPHA + successes) / (PRIOR_ALPHA + PRIOR_BETA + successes + failures)


def fold(successes: float, failures: float, score: float) -> tuple[float, float, float, float]:
    """Counts after one more outcome: successes, failures, their average, the confidence."""
    successes += score
    failures += 1.0 - score
    return successes, failures, successes / (successes + failures), confidence(successes, failures)
