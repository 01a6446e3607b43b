"""python -m bench.quality: score text representations against human judgments.

Examples
  python -m bench.quality                      # default embedders on every set, table on stdout
  python -m bench.quality --grid               # + tf-idf ablations (stop words, stemming, ...)
  python -m bench.quality --minilm             # + all-MiniLM-L6-v2 reference (84 MB, slow once)
  python -m bench.quality --only lexical --sets lee,stsb-dev        # quick loop while tuning
  python -m bench.quality --analyzer mypkg.lex:analyze              # text -> terms, our index
  python -m bench.quality --callable mypkg.sim:matrix               # fn(texts) -> n x n matrix
  python -m bench.quality --embedder mypkg.emb:Embedder             # object with fit()/encode()
  python -m bench.quality --bank               # + retrieval through bank.find_similar
  python -m bench.quality --json out.json

Pair sets report Pearson r and Spearman rho of cosine vs. human rating; retrieval sets report
recall@1/5/10 and MRR. Tune on the *-dev sets and Lee; treat stsb-test as the check.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
import time

import numpy as np

from . import datasets as D
from . import embedders as E
from . import metrics as M
from .fetch import cache_root

DEFAULT_SETS = ["lee", "stsb-dev", "stsb-test", "stsb-test-retrieval", "agent-tasks"]
FUSION_ALPHA = 0.5  # lexical share of the harness's own fusion (used when the library has none)


class DiskMemo(E.Memo):
    """Memo whose vectors persist in the bench cache (for the slow reference model)."""

    def __init__(self, inner):
        super().__init__(inner)
        self.dir = cache_root() / "quality" / "vectors"
        self.key = hashlib.sha1(inner.name.encode()).hexdigest()[:12]
        self._load()

    def _load(self):
        k, v = self.dir / f"{self.key}.keys.json", self.dir / f"{self.key}.npy"
        if k.is_file() and v.is_file():
            keys = json.loads(k.read_text())
            vecs = np.load(v)
            self.hcache = dict(zip(keys, vecs, strict=False))
        else:
            self.hcache = {}

    def _save(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        keys = list(self.hcache)
        (self.dir / f"{self.key}.keys.json").write_text(json.dumps(keys))
        np.save(self.dir / f"{self.key}.npy", np.stack([self.hcache[k] for k in keys]))

    def encode(self, texts):
        h = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        todo = [t for t, x in dict(zip(texts, h, strict=False)).items() if x not in self.hcache]
        if todo:
            for t, vec in zip(todo, self.inner.encode(todo), strict=False):
                self.hcache[hashlib.sha1(t.encode()).hexdigest()] = vec
            self._save()
        return np.stack([self.hcache[x] for x in h])


def _load_obj(spec: str):
    mod, _, attr = spec.partition(":")
    obj = importlib.import_module(mod)
    for part in attr.split("."):
        obj = getattr(obj, part) if part else obj
    return obj


def build_embedders(args) -> list:
    embs = [E.RBWasmChars()]
    lex = None
    try:
        lex = E.LibraryLexical()
        embs.append(lex)
    except Exception as e:  # library missing or its API moved: say so, keep going
        print(
            f"note: library lexical embedder unavailable ({e!r}); using the reference tf-idf",
            file=sys.stderr,
        )
    ref = E.TfIdf(
        stop=True,
        stem="porter" if _has_snowball() else "light",
        sublinear=True,
        name="tfidf-reference",
    )
    embs.append(ref)
    sem = None
    if not args.no_semantic:
        try:
            sem = E.Memo(E.WordLlama())
            embs.append(sem)
        except Exception as e:
            print(f"note: WordLlama unavailable ({e!r}); pip install tokenizers", file=sys.stderr)
    libsem = None
    if not args.no_semantic and lex is not None:
        try:
            libsem = E.Memo(E.LibrarySemantic())
            embs.append(libsem)
            embs.append(E.library_hybrid(lex, libsem))
        except Exception as e:
            print(f"note: library semantic extra unavailable ({e!r})", file=sys.stderr)
    if sem is not None and libsem is None:
        embs.append(
            E.Fusion(
                lex or ref,
                sem,
                FUSION_ALPHA,
                name=f"fusion {FUSION_ALPHA:g}*lexical + {1 - FUSION_ALPHA:g}*wordllama",
            )
        )
    if lex is not None and args.bank:
        embs.append(E.BankEndToEnd(semantic=False))
        if libsem is not None:
            embs.append(E.BankEndToEnd(semantic=True))
    if args.minilm:
        try:
            mini = DiskMemo(E.MiniLM())
            embs.append(mini)
            embs.append(
                E.Fusion(
                    lex or ref,
                    mini,
                    FUSION_ALPHA,
                    name=f"fusion {FUSION_ALPHA:g}*lexical + {1 - FUSION_ALPHA:g}*MiniLM",
                )
            )
        except Exception as e:
            print(f"note: MiniLM unavailable ({e!r})", file=sys.stderr)
    if args.grid:
        embs += grid(lex, sem)
    for spec in args.analyzer or []:
        embs.append(E.LibraryLexical(name=f"lexical index + {spec}", analyze=_load_obj(spec)))
    for spec in args.callable or []:
        embs.append(E.CallableSim(_load_obj(spec), name=spec))
    for spec in args.embedder or []:
        obj = _load_obj(spec)
        obj = obj() if isinstance(obj, type) else obj
        embs.append(obj if isinstance(obj, E.Embedder) else E.Adapter(obj, name=spec))
    if args.only:
        keep = [s.strip().lower() for s in args.only.split(",")]
        embs = [e for e in embs if any(k in e.name.lower() for k in keep)]
    return embs


def _has_snowball() -> bool:
    try:
        import snowballstemmer  # noqa: F401

        return True
    except ImportError:
        return False


def grid(lex, sem) -> list:
    """Ablations of the reference tf-idf: what each knob is worth."""
    T = E.TfIdf
    out = [
        T(stop=False, stem="none", sublinear=False),
        T(stop=True, stem="none", sublinear=False),
        T(stop=True, stem="none", sublinear=True),
        T(stop=True, stem="light", sublinear=True),
        T(stop=True, stem="light", sublinear=False),
        T(stop=True, stem="light", sublinear=True, bigrams=True),
        T(stop=True, stem="light", sublinear=True, bigrams=True, bigram_weight=0.5),
        T(stop=True, stem="light", sublinear=True, chars=(3, 5), char_weight=0.3),
        T(stop=True, stem="light", sublinear=True, buckets=4096),
        T(stop=True, stem="light", sublinear=True, bigrams=True, buckets=4096),
        T(stop=True, stem="light", sublinear=True, idf="plain"),
    ]
    if _has_snowball():
        out += [
            T(stop=True, stem="porter", sublinear=True),
            T(stop=True, stem="snowball", sublinear=True),
            T(stop=True, stem="porter", sublinear=True, bigrams=True, bigram_weight=0.5),
        ]
    if sem is not None:
        base = lex or out[3]
        for a in (0.2, 0.5, 0.65):
            out.append(E.Fusion(base, sem, a, name=f"fusion {a:g}*lexical + {1 - a:g}*wordllama"))
        for d in (64, 128):
            out.append(E.Memo(E.WordLlama(dims=d)))
    return out


def evaluate(embs, set_names) -> dict:
    results: dict = {"sets": {}, "embedders": {}}
    loaded = {}
    for name in set_names:
        if name in D.PAIR_SETS:
            loaded[name] = D.PAIR_SETS[name]()
        elif name in D.RETRIEVAL_SETS:
            loaded[name] = D.RETRIEVAL_SETS[name]()
        else:
            raise SystemExit(
                f"unknown set {name!r}; known: {', '.join([*D.PAIR_SETS, *D.RETRIEVAL_SETS])}"
            )
        results["sets"][name] = loaded[name].about
    for emb in embs:
        row: dict = {}
        for name, ds in loaded.items():
            t0 = time.perf_counter()
            if isinstance(ds, D.PairSet) and isinstance(emb, E.BankEndToEnd):
                row[name] = None
                continue
            if isinstance(ds, D.PairSet):
                s = emb.pair_scores(ds.texts, ds.pairs)
                row[name] = {"pearson": M.pearson(s, ds.gold), "spearman": M.spearman(s, ds.gold)}
            else:
                s = emb.query_scores(ds.queries, ds.corpus)
                row[name] = M.ranking(s, ds.relevant)
            row[name]["seconds"] = time.perf_counter() - t0
        results["embedders"][emb.name] = row
    return results


def ms_per_doc(embs, texts) -> dict:
    out = {}
    for e in embs:
        if isinstance(e, (E.Fusion, E.CallableSim)):
            continue
        inner = e.inner if isinstance(e, E.Memo) else e
        try:
            out[e.name] = E.time_per_doc(inner, texts)
        except Exception:
            pass
    return out


def table(res: dict, speed: dict | None) -> str:
    sets = list(res["sets"])
    head = ["embedder"]
    for s in sets:
        head += [f"{s} r", f"{s} rho"] if s in D.PAIR_SETS else [f"{s} R@1", f"{s} R@5", f"{s} MRR"]
    if speed:
        head.append("ms/doc")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in res["embedders"].items():
        cells = [name]
        for s in sets:
            m = row[s]
            if m is None:
                cells += ["-"] * (2 if s in D.PAIR_SETS else 3)
                continue
            if s in D.PAIR_SETS:
                cells += [f"{m['pearson']:.3f}", f"{m['spearman']:.3f}"]
            else:
                cells += [f"{m['recall@1']:.3f}", f"{m['recall@5']:.3f}", f"{m['mrr']:.3f}"]
        if speed:
            cells.append(f"{speed[name]:.3f}" if name in speed else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verify_rbwasm(n: int = 60) -> dict:
    """Check the rbwasm-chars port against the real ReasoningBankWasm build (needs node/npm):
    the stored embeddings must match and findSimilar's composite must equal 0.5*cos + 0.3
    (same category, no context, success_score 0 on both sides)."""
    import os
    import subprocess
    from pathlib import Path

    peer = Path(__file__).resolve().parent.parent / "peer"
    r = subprocess.run(["bash", str(peer / "setup.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"peer setup failed: {r.stderr[-1000:]}")
    env = dict(os.environ, PEER_DIR=r.stdout.strip().splitlines()[-1])
    texts = D.stsb("test").texts[:n] + ["h\u00e9llo w\u00f6rld \u2713", "x" * 500]
    r = subprocess.run(
        ["node", str(peer / "wasm_embed_check.mjs")],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=env,
    )
    if r.returncode != 0:
        raise SystemExit(f"wasm check failed: {r.stderr[-1000:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    ours = E.RBWasmChars().encode(texts)
    idx = {pid: i for i, pid in enumerate(d["ids"])}
    emb_err = max(
        float(np.abs(np.asarray(v, dtype=np.float32) - ours[idx[pid]]).max())
        for pid, v in d["embeddings"].items()
    )
    score_err = max(
        abs(sc - (0.5 * float(ours[qi] @ ours[idx[pid]]) + 0.3))
        for qi, res in enumerate(d["queries"])
        for pid, sc in res
    )
    return {
        "texts": len(texts),
        "embedding_max_abs_diff": emb_err,
        "composite_max_abs_diff": score_err,
        "ok": emb_err < 1e-6 and score_err < 1e-6,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.quality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--sets",
        default=",".join(DEFAULT_SETS),
        help=f"comma list (default {','.join(DEFAULT_SETS)}; also stsb-dev-retrieval)",
    )
    ap.add_argument("--only", help="keep embedders whose name contains any of these (comma list)")
    ap.add_argument("--grid", action="store_true", help="add tf-idf ablations and fusion sweep")
    ap.add_argument("--minilm", action="store_true", help="add the all-MiniLM-L6-v2 reference")
    ap.add_argument("--no-semantic", action="store_true", help="skip WordLlama and fusion")
    ap.add_argument(
        "--bank",
        action="store_true",
        help="also rank retrieval sets through a real bank's find_similar",
    )
    ap.add_argument(
        "--analyzer",
        action="append",
        metavar="MOD:FN",
        help="text -> list of terms, scored through the library's LexicalIndex",
    )
    ap.add_argument(
        "--callable", action="append", metavar="MOD:FN", help="fn(texts) -> n x n similarity matrix"
    )
    ap.add_argument(
        "--embedder",
        action="append",
        metavar="MOD:OBJ",
        help="object (or class) with fit(docs) and encode(texts)",
    )
    ap.add_argument(
        "--speed",
        action="store_true",
        help="also time encoding (ms per text, first 500 STS-B test sentences)",
    )
    ap.add_argument("--json", metavar="FILE", help="write results as JSON ('-' for stdout)")
    ap.add_argument(
        "--verify-rbwasm",
        action="store_true",
        help="check the rbwasm-chars port against the real WASM build, then exit",
    )
    args = ap.parse_args(argv)
    if args.verify_rbwasm:
        v = verify_rbwasm()
        print(json.dumps(v))
        return 0 if v["ok"] else 1
    embs = build_embedders(args)
    t0 = time.perf_counter()
    res = evaluate(embs, [s.strip() for s in args.sets.split(",") if s.strip()])
    speed = ms_per_doc(embs, D.stsb("test").texts[:500]) if args.speed else None
    if speed:
        res["ms_per_doc_stsb_test"] = speed
    res["seconds"] = time.perf_counter() - t0
    if args.json == "-":
        json.dump(res, sys.stdout, indent=1)
        print()
        return 0
    print(table(res, speed))
    for s, about in res["sets"].items():
        print(f"  {s}: {about}")
    print(f"  ({res['seconds']:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0
