"""Evaluation sets: human-rated pairs (Pearson/Spearman) and retrieval sets (recall@k, MRR)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import tasks
from .fetch import fetch


@dataclass
class PairSet:
    """texts[i] vs texts[j] for (i, j) in pairs, rated gold[k] by people."""

    name: str
    texts: list[str]
    pairs: np.ndarray  # (n_pairs, 2) int
    gold: np.ndarray  # (n_pairs,) float
    about: str = ""


@dataclass
class RetrievalSet:
    """For each query, relevant[i] is the set of corpus indices a person judged a match."""

    name: str
    corpus: list[str]
    queries: list[str]
    relevant: list[set[int]]
    about: str = ""


def lee() -> PairSet:
    d = fetch("lee")
    docs = (d / "lee.cor").read_text(encoding="latin-1").splitlines()
    docs = [x.strip() for x in docs if x.strip()]
    m = np.loadtxt(d / "similarities0-1.txt")
    assert len(docs) == 50 and m.shape == (50, 50), (len(docs), m.shape)
    iu = np.triu_indices(50, k=1)
    return PairSet(
        "lee",
        docs,
        np.stack(iu, axis=1),
        m[iu],
        "Lee et al. 2005: 50 news docs, 1,225 pairs, mean of ~10 human ratings",
    )


def _stsb_rows(split: str):
    d = fetch("stsb")
    rows = []
    for line in (d / f"sts-{split}.csv").read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if len(f) >= 7:
            rows.append((f[5].strip(), f[6].strip(), float(f[4])))
    return rows


def stsb(split: str) -> PairSet:
    rows = _stsb_rows(split)
    index: dict[str, int] = {}
    texts: list[str] = []

    def idx(t):
        if t not in index:
            index[t] = len(texts)
            texts.append(t)
        return index[t]

    pairs = np.array([(idx(a), idx(b)) for a, b, _ in rows], dtype=np.int64)
    gold = np.array([g for _, _, g in rows])
    return PairSet(
        f"stsb-{split}",
        texts,
        pairs,
        gold,
        f"STS Benchmark {split}: {len(rows)} sentence pairs rated 0-5",
    )


def stsb_retrieval(split: str, threshold: float = 4.0) -> RetrievalSet:
    """Paraphrase retrieval from STS-B: corpus = every distinct second sentence of the split;
    queries = first sentences of pairs people rated >= threshold ("mostly equivalent");
    relevant = the second sentence(s) rated >= threshold with that query."""
    rows = _stsb_rows(split)
    corpus = list(dict.fromkeys(b for _, b, _ in rows))
    pos = {t: i for i, t in enumerate(corpus)}
    rel: dict[str, set[int]] = {}
    for a, b, g in rows:
        if g >= threshold and a != b:
            rel.setdefault(a, set()).add(pos[b])
    queries = list(rel)
    return RetrievalSet(
        f"stsb-{split}-retrieval",
        corpus,
        queries,
        [rel[q] for q in queries],
        f"{len(queries)} queries over {len(corpus)} sentences, gold >= {threshold}",
    )


def task_set() -> RetrievalSet:
    corpus, queries, relevant = tasks.load()
    return RetrievalSet(
        "agent-tasks",
        corpus,
        queries,
        relevant,
        f"hand-written: {len(queries)} queries, {len(corpus)} task notes",
    )


PAIR_SETS = {"lee": lee, "stsb-dev": lambda: stsb("dev"), "stsb-test": lambda: stsb("test")}
RETRIEVAL_SETS = {
    "stsb-test-retrieval": lambda: stsb_retrieval("test"),
    "stsb-dev-retrieval": lambda: stsb_retrieval("dev"),
    "agent-tasks": task_set,
}
