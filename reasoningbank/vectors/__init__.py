"""Dense vectors: the maths (``base``), the index (``dense``: numpy or pure Python) and the
browser's kernel (``js``: WebAssembly SIMD or a JS loop, under Pyodide)."""

from .base import FLOAT32_MAX, MAX_VECTOR_NORM, check_vector, cosine, euclidean
from .dense import DenseIndex, make_dense_index

__all__ = [
    "FLOAT32_MAX",
    "MAX_VECTOR_NORM",
    "DenseIndex",
    "check_vector",
    "cosine",
    "euclidean",
    "make_dense_index",
]
