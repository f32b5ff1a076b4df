"""Dunning's log-likelihood ratio against a hand computation and SciPy's G-test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import chi2, chi2_contingency

from recsys import DataValidationError, ItemKNN
from recsys.llr import log_likelihood_ratio, log_likelihood_ratio_from_counts
from recsys.models.cross_occurrence import indicator_matrix


def test_llr_hand_computed_table() -> None:
    # Table [[10, 5], [3, 982]]: rows 15 and 985, columns 13 and 987, N = 1000.
    cells = [(10, 15, 13), (5, 15, 987), (3, 985, 13), (982, 985, 987)]
    by_hand = 2 * sum(k * math.log(k * 1000 / (row * column)) for k, row, column in cells)

    assert log_likelihood_ratio(10, 5, 3, 982) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(78.892762, rel=1e-6)


@pytest.mark.parametrize(
    "table",
    [[[10, 5], [3, 982]], [[1, 0], [0, 1]], [[2, 3], [4, 6]], [[7, 40], [25, 3000]], [[0, 9], [4, 2]]],
)
def test_llr_equals_scipy_g_test(table: list[list[int]]) -> None:
    expected = chi2_contingency(np.array(table), correction=False, lambda_="log-likelihood")[0]

    assert log_likelihood_ratio(*np.ravel(table)) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_llr_chi2_threshold() -> None:
    # G² is chi-squared with one degree of freedom under independence.
    g2 = float(log_likelihood_ratio(10, 5, 3, 982))

    assert chi2.sf(g2, df=1) < 1e-15
    assert chi2.ppf(0.95, df=1) == pytest.approx(3.841, abs=1e-3)


def test_llr_independent_table_is_zero() -> None:
    assert log_likelihood_ratio(2, 3, 4, 6) == pytest.approx(0.0, abs=1e-12)
    assert log_likelihood_ratio(0, 0, 5, 5) == 0.0


def test_llr_large_n_stays_accurate() -> None:
    # One shared user among 1e9: G² = 2 (log(N + 1) + N log1p(1 / N)) ~ 2 (log N + 1).
    n = 1e9
    expected = 2 * (math.log(n + 1) + n * math.log1p(1 / n))

    assert log_likelihood_ratio(1, 0, 0, n) == pytest.approx(expected, rel=1e-12)


def test_llr_from_counts_vectorised() -> None:
    k11 = np.array([10.0, 2.0, 7.0])
    rows = np.array([15.0, 5.0, 47.0])
    columns = np.array([13.0, 6.0, 32.0])
    n = np.array([1000.0, 15.0, 3072.0])

    result = log_likelihood_ratio_from_counts(k11, rows, columns, n)
    cellwise = log_likelihood_ratio(k11, rows - k11, columns - k11, n - rows - columns + k11)

    np.testing.assert_allclose(result, cellwise, rtol=1e-12)


def test_llr_negative_count_rejected() -> None:
    with pytest.raises(DataValidationError, match=r"k12 must hold finite counts >= 0"):
        log_likelihood_ratio(1, -1, 0, 5)


def test_llr_matches_item_knn_llr() -> None:
    generator = np.random.default_rng(3)
    dense = (generator.random((60, 12)) < 0.3).astype(np.float32)
    user_items = sp.csr_array(dense)

    knn = ItemKNN(similarity="llr", n_neighbors=12).fit(_events_from_dense(dense)).similarity_.toarray()
    cross = indicator_matrix(user_items, user_items, n_users=60.0, n_neighbors=12, drop_diagonal=True)

    assert dense.sum(axis=1).min() > 0
    assert dense.sum(axis=0).min() > 0

    np.testing.assert_allclose(cross.toarray(), knn, rtol=1e-5, atol=1e-5)


def _events_from_dense(dense: np.ndarray) -> pd.DataFrame:
    users, items = np.nonzero(dense)
    return pd.DataFrame({"user_id": users, "item_id": items, "event": "purchase"})
