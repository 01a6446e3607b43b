"""ReasoningBank: agent memory that learns from outcomes, in CPython and in the browser.

bank = await ReasoningBank.open("bank.db")
pid = await bank.store_pattern({...})
matches = await bank.find_similar("refresh oauth tokens", "backend")
rec = await bank.recommend_strategy("refresh oauth tokens", "backend")
report = await bank.learn("refresh oauth tokens", trajectory, category="backend")
prompt = await bank.memory_prompt("refresh oauth tokens")
"""

from __future__ import annotations

from ._ranking import ScoreWeights
from .bank import ReasoningBank, default_location
from .errors import (
    BankClosed,
    BusError,
    ImportFailed,
    InvalidPattern,
    InvalidTrajectory,
    LLMAnswerError,
    LLMCallFailed,
    LLMError,
    NoBank,
    NotABank,
    NotFound,
    ReadOnlyBank,
    ReasoningBankError,
    SchemaTooNew,
    StorageError,
)
from .loop import LearnReport, MattsReport, MemoryItem, Trajectory, Verdict
from .model import Match, Metadata, Outcome, Pattern, Recommendation
from .vectors import cosine, euclidean

__version__ = "0.1.0"

__all__ = [
    "BankClosed",
    "BusError",
    "ImportFailed",
    "InvalidPattern",
    "InvalidTrajectory",
    "LLMAnswerError",
    "LLMCallFailed",
    "LLMError",
    "LearnReport",
    "Match",
    "MattsReport",
    "MemoryItem",
    "Metadata",
    "NoBank",
    "NotABank",
    "NotFound",
    "Outcome",
    "Pattern",
    "ReadOnlyBank",
    "ReasoningBank",
    "ReasoningBankError",
    "Recommendation",
    "SchemaTooNew",
    "ScoreWeights",
    "StorageError",
    "Trajectory",
    "Verdict",
    "cosine",
    "default_location",
    "euclidean",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, (str, int)):
        try:
            _obj.__module__ = "reasoningbank"
        except (AttributeError, TypeError):
            pass
del _name, _obj
