"""Text analysis for the default lexical representation: tokens, stop words, stemming.

The bank's default similarity is exact-vocabulary sparse tf-idf (see ``index.py``), so the
only "embedding" step is turning text into a bag of normalised terms. Hashing terms into a
fixed number of buckets was rejected: collisions cost quality, and sparse exact vectors are
faster in pure Python anyway. Dense vectors come from the user (``embedding`` on a pattern,
or an ``embedder=`` callable on open) and are handled by ``vectors.DenseIndex``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["ANALYZER_VERSION", "STOP_WORDS", "analyze", "stem", "terms_of"]

#: Bumped whenever ``analyze`` changes output; a bank re-indexes when its stored version differs.
ANALYZER_VERSION = "lex-2"

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each either else etc ever every few for from further get gets got had hadn
    has hasn have haven having he her here hers herself him himself his how however i if in into
    is isn it its itself just let like ll may me might more most much must mustn my myself no nor
    not now of off on once only or other ought our ours ourselves out over own per quite rather
    re really s said same say says shall shan she should shouldn since so some such t than that the their
    theirs them themselves then there these they this those though through thus to too under
    until up upon use used using ve very via was wasn we were weren what when where whether
    which while who whom whose why will with within without won would wouldn yet you your yours
    yourself yourselves
    """.split()
)

# --- Porter stemmer (M. F. Porter, 1980), compact form --------------------------------------
# A light, well-understood stemmer: "refresh/refreshing/refreshed" must meet, while the
# vocabulary stays exact. Results are cached because task texts repeat a small vocabulary.

_VOWELS = frozenset("aeiou")


def _is_cons(word: str, i: int) -> bool:
    ch = word[i]
    if ch in _VOWELS:
        return False
    if ch == "y":
        return i == 0 or not _is_cons(word, i - 1)
    return True


def _measure(stem_: str) -> int:
    """Number of VC sequences in ``stem_`` (Porter's m)."""
    m, prev_vowel = 0, False
    for i in range(len(stem_)):
        vowel = not _is_cons(stem_, i)
        if prev_vowel and not vowel:
            m += 1
        prev_vowel = vowel
    return m


def _has_vowel(stem_: str) -> bool:
    return any(not _is_cons(stem_, i) for i in range(len(stem_)))


def _ends_double_cons(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_cons(word, len(word) - 1)


def _cvc(word: str) -> bool:
    if len(word) < 3:
        return False
    n = len(word)
    return (
        _is_cons(word, n - 1)
        and not _is_cons(word, n - 2)
        and _is_cons(word, n - 3)
        and word[-1] not in "wxy"
    )


_STEP2 = (
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
    ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"),
    ("ization", "ize"), ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"),
    ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
    ("logi", "log"),
)  # fmt: skip
_STEP3 = (
    ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"),
    ("ful", ""), ("ness", ""),
)  # fmt: skip
_STEP4 = (
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion",
    "ou", "ism", "ate", "iti", "ous", "ive", "ize",
)  # fmt: skip


def _replace(word: str, suffixes: Iterable[tuple[str, str]], min_m: int) -> str:
    for suffix, repl in suffixes:
        if word.endswith(suffix):
            base = word[: -len(suffix)]
            return base + repl if _measure(base) > min_m else word
    return word


def _porter(word: str) -> str:
    if len(word) <= 2:
        return word
    # Step 1a
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("ss"):
        pass
    elif word.endswith("s"):
        word = word[:-1]
    # Step 1b
    flag = False
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    elif word.endswith("ed") and _has_vowel(word[:-2]):
        word, flag = word[:-2], True
    elif word.endswith("ing") and _has_vowel(word[:-3]):
        word, flag = word[:-3], True
    if flag:
        if word.endswith(("at", "bl", "iz")):
            word += "e"
        elif _ends_double_cons(word) and word[-1] not in "lsz":
            word = word[:-1]
        elif _measure(word) == 1 and _cvc(word):
            word += "e"
    # Step 1c
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    word = _replace(word, _STEP2, 0)
    word = _replace(word, _STEP3, 0)
    # Step 4
    for suffix in _STEP4:
        if word.endswith(suffix):
            base = word[: -len(suffix)]
            if _measure(base) > 1 and (suffix != "ion" or base.endswith(("s", "t"))):
                word = base
            break
    # Step 5
    if word.endswith("e"):
        base = word[:-1]
        m = _measure(base)
        if m > 1 or (m == 1 and not _cvc(base)):
            word = base
    if _measure(word) > 1 and _ends_double_cons(word) and word.endswith("l"):
        word = word[:-1]
    return word


_STEM_CACHE: dict[str, str] = {}


def stem(word: str) -> str:
    """Porter stem of a lower-case word; non-ASCII words are returned unchanged."""
    out = _STEM_CACHE.get(word)
    if out is None:
        out = _porter(word) if word.isascii() and word.isalpha() else word
        if len(_STEM_CACHE) < 200_000:
            _STEM_CACHE[word] = out
    return out


def analyze(text: str) -> list[str]:
    """Text → list of terms (lower-cased, stop words dropped, stemmed), in order, repeated.

    Deterministic and dependency-free, identical under CPython and Pyodide.
    """
    terms = []
    for token in _TOKEN.findall(text.lower()):
        if token in STOP_WORDS:
            continue
        terms.append(stem(token))
    return terms


#: ``terms_of``' memory: at most this many texts (then it starts over), each at most
#: ``_TERMS_TEXT_MAX`` characters (longer ones are analysed every time).
_TERMS_TEXTS = 4096
_TERMS_TEXT_MAX = 1024
_TERMS: dict[str, tuple[str, ...]] = {}


def terms_of(text: str) -> tuple[str, ...]:
    """``analyze(text)`` as a tuple, remembered for recent texts.

    Why: agents store the same task again and again (each attempt, each strategy; MaTTS
    stores k of them at once) and search with it; analysing it was a twentieth of a store.
    The tuple is shared, so the patterns of one task also share their terms in memory.
    """
    terms = _TERMS.get(text)
    if terms is None:
        terms = tuple(analyze(text))
        if len(text) <= _TERMS_TEXT_MAX:
            if len(_TERMS) >= _TERMS_TEXTS:
                _TERMS.clear()
            _TERMS[text] = terms
    return terms
