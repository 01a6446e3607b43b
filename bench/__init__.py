"""Benchmarks for ReasoningBank-Py: side-by-side speed against the npm peer, memory, retrieval quality.

Not part of the installed package; run from a source checkout (``python -m bench.compare``,
``python -m bench.memory``, ``python -m bench.quality``).
"""
