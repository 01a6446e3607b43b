import math
import random

import pytest

from reasoningbank import InvalidPattern, cosine, euclidean
from reasoningbank._ranking import ScoreWeights, context_overlap
from reasoningbank.vectors import DenseIndex

np = pytest.importorskip("numpy")


def test_cosine_and_euclidean():
    assert cosine([1, 0], [0, 1]) == 0.0
    assert math.isclose(cosine([1, 2, 3], [2, 4, 6]), 1.0)
    assert euclidean([0, 0], [3, 4]) == 5.0
    assert cosine([0, 0], [1, 1]) == 0.0
    with pytest.raises(InvalidPattern):
        cosine([1], [1, 2])


def test_numpy_and_pure_python_dense_paths_agree_within_1e6():
    rnd = random.Random(11)
    dim = 384
    fast, pure = DenseIndex("numpy"), DenseIndex("python")
    assert (fast.backend, pure.backend) == ("numpy", "python")
    for slot in range(1500):
        vec = [rnd.gauss(0, 1) for _ in range(dim)]
        fast.add(slot, vec)
        pure.add(slot, vec)
    fast.remove(7)
    pure.remove(7)
    for _ in range(5):
        q = [rnd.gauss(0, 1) for _ in range(dim)]
        a, b = fast.scores(q), pure.scores(q)
        assert a.keys() == b.keys() and 7 not in a
        assert max(abs(a[s] - b[s]) for s in a) < 1e-6
        top_fast, top_pure = fast.top_k(q, 10), pure.top_k(q, 10)
        assert [s for s, _ in top_fast] == [s for s, _ in top_pure]


def test_dense_index_refuses_wrong_dimension_and_zero_vectors():
    index = DenseIndex("python")
    index.add(0, [1.0, 0.0])
    with pytest.raises(InvalidPattern, match="dimension"):
        index.add(1, [1.0, 0.0, 0.0])
    with pytest.raises(InvalidPattern, match="zeros"):
        index.add(1, [0.0, 0.0])
    assert index.vector(0) == [1.0, 0.0]


def test_context_overlap_counts_matching_query_entries():
    assert context_overlap({"lang": "Python", "os": "linux"}, {"lang": "python"}) == 0.5
    assert context_overlap(None, {"lang": "python"}) == 0.0


def test_score_weights_validate():
    with pytest.raises(InvalidPattern):
        ScoreWeights.from_any({"similarity": -1})
    with pytest.raises(InvalidPattern):
        ScoreWeights.from_any({"bogus": 1})


@pytest.mark.parametrize("backend", ["python", "numpy"])
def test_cosines_of_some_slots_equal_their_scores(backend):
    import random

    from reasoningbank.vectors import DenseIndex

    rnd = random.Random(4)
    index = DenseIndex(backend)
    for slot in range(0, 300, 2):
        index.add(slot, [rnd.gauss(0, 1) for _ in range(12)])
    index.remove(10)
    query = [rnd.gauss(0, 1) for _ in range(12)]
    every = index.scores(query)
    some = index.cosines(query, [0, 3, 10, 12, 298, 999])  # odd, removed, unknown: left out
    assert some.keys() == {0, 12, 298}
    for slot, value in some.items():
        assert abs(value - every[slot]) < 1e-6


def test_float32_rows_are_accepted_exactly_as_check_vector_decides():
    """Stored vectors arrive as float32 arrays and are checked by the norm numpy computes
    anyway; every edge case must still be decided as ``check_vector`` decides it."""
    from array import array

    from reasoningbank.vectors import FLOAT32_MAX, MAX_VECTOR_NORM, check_vector

    tiny = 1e-44  # a float32 subnormal: tiny norm, yet not all zeros
    cases = [
        [1.0, 2.0, 3.0],
        [0.0, 0.0, 0.0],
        [tiny, 0.0, 0.0],
        [math.nan, 1.0, 1.0],
        [math.inf, 1.0, 1.0],
        [FLOAT32_MAX, 0.0, 0.0],
        [MAX_VECTOR_NORM * 0.999, 0.0, 0.0],
        [MAX_VECTOR_NORM * 1.001, 0.0, 0.0],
        [1.0, 2.0],
        [],
    ]
    for values in cases:
        row = array("f", values)
        try:
            check_vector(row, 3)
            expected = True
        except InvalidPattern:
            expected = False
        index = DenseIndex("numpy")
        index.add(0, array("f", [1.0, 1.0, 1.0]))  # fixes the dimension at 3
        try:
            index.add(1, row)
            accepted = True
        except InvalidPattern:
            accepted = False
        assert accepted == expected, values
        assert index.has(1) == expected
