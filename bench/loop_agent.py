"""The benchmark's agent: it chooses a strategy from what its memory prompt says, nothing else.

It knows its own options (the strategies it can run) and how plausible each looks a priori. It
reads the memory block the way a careful model would: each memory either recommends or warns,
and names some of the options; earlier memories (more relevant) weigh more. Exploration keeps
it trying the untested options now and then. It never sees the environment's hidden answers.
"""

from __future__ import annotations

import re

from bench.loop_env import FAMILY, Episode, _unit

EXPLORE = 0.1  # how often the agent ignores a recommendation to try something else

_ITEM_START = re.compile(
    r"\n(?=[ \t]*(?:#{1,6}[ \t]|\d+[.)][ \t]|[-*][ \t]|<memory\b|\[memory\b|memory[ \t]*\d))", re.I
)
_WARNS = re.compile(
    r"\b(avoid|avoided|fail|fails|failed|failure|failing|do not|don't|never|broke|wrong)\b", re.I
)
_KIND = re.compile(r"\bkind\W{0,3}(success|failure)\b", re.I)
_RECOMMENDS = re.compile(r"\b(success|succeeded|successful|worked|works|use|prefer|fixed)\b", re.I)


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.lower())) + " "


def _polarity(block: str) -> float:
    """+1 for a memory that recommends, -1 for one that warns: its stated kind, else its words."""
    kind = _KIND.search(block)
    if kind:
        return 1.0 if kind.group(1).lower() == "success" else -1.0
    return -1.0 if _WARNS.search(block) else 1.0 if _RECOMMENDS.search(block) else 0.0


def read_memory(text: str, options: tuple[str, ...]) -> dict[str, float]:
    """Each option's net endorsement in the memory block: > 0 recommended, < 0 warned against."""
    scores = dict.fromkeys(options, 0.0)
    blocks = [b for b in _ITEM_START.split(text) if b.strip()]
    rank = 0  # among the memories that name an option; the first weighs most
    for block in blocks:
        named = [o for o in options if _words(o.replace("-", " ")) in _words(block)]
        if named:
            sign = _polarity(block)
            for option in named:
                scores[option] += sign / (1 + rank)
            rank += 1
    return scores


def choose(episode: Episode, memory: str) -> str:
    """The strategy to run: the best-endorsed one, else a plausible one not warned against."""
    options = episode.options
    scores = read_memory(memory, options)
    best = max(options, key=lambda o: (scores[o], -options.index(o)))
    recommended = scores[best] > 0
    if recommended and _unit(episode.seed, "explore") >= EXPLORE:
        return best
    pool = [o for o in options if scores[o] >= 0 and not (recommended and o == best)]
    pool = pool or list(options)
    prior = FAMILY[episode.family].prior
    total = sum(prior[o] for o in pool)
    roll = _unit(episode.seed, "pick") * total
    for option in pool:
        roll -= prior[option]
        if roll < 0:
            return option
    return pool[-1]
