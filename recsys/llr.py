"""Dunning's log-likelihood ratio (G²) of 2 x 2 contingency tables, vectorised.

For two events A and B counted over ``N`` users, the table is::

                  B          not B
    A            k11          k12        row total r1 = k11 + k12
    not A        k21          k22        row total r2 = k21 + k22
                 c1 = k11+k21 c2 = k12+k22               N

and ``G² = 2 * sum_ij k_ij * log(k_ij / E_ij)`` with the expected counts
``E_ij = r_i * c_j / N``. Under independence G² follows a chi-squared law with one
degree of freedom, so ``G² >= 3.84`` is the 5 % level of a single test.

Numerical form: the textbook entropy form ``2 * (sum k log k - sum r log r - sum c
log c + N log N)`` subtracts terms of size ``N log N``, so for large ``N`` most
digits cancel. Here each cell's ratio is written as ``k_ij * N / (r_i c_j) = 1 + s_ij
D / (r_i c_j)`` with ``D = k11 * N - r1 * c1`` and signs ``s = (+, -, -, +)``, an
identity of the 2 x 2 table. Each term is then ``k_ij * log1p(s_ij D / (r_i c_j))``,
which stays accurate when the ratio is close to 1 and never subtracts large numbers.

References
----------
T. Dunning, "Accurate methods for the statistics of surprise and coincidence",
Computational Linguistics 19(1), 1993.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from recsys.exceptions import DataValidationError

__all__ = ["log_likelihood_ratio", "log_likelihood_ratio_from_counts"]


def log_likelihood_ratio(k11: ArrayLike, k12: ArrayLike, k21: ArrayLike, k22: ArrayLike) -> np.ndarray:
    """Compute G² of 2 x 2 tables given cell by cell.

    Parameters
    ----------
    k11, k12, k21, k22 : array-like of counts >= 0
        The cells, broadcast against each other. Counts may be non-integer
        (weighted users).

    Returns
    -------
    ndarray of float64
        G² >= 0 per table; 0 for a table with an empty row or column.

    Raises
    ------
    DataValidationError
        If a cell is negative or not finite.
    """
    cells = np.broadcast_arrays(*(np.asarray(value, dtype=np.float64) for value in (k11, k12, k21, k22)))
    for name, cell in zip(("k11", "k12", "k21", "k22"), cells, strict=True):
        bad = ~np.isfinite(cell) | (cell < 0)
        if bad.any():
            raise DataValidationError(
                f"{name} must hold finite counts >= 0; got {cell[bad][:3].tolist()} among its values"
            )
    a, b, c, d = cells
    return log_likelihood_ratio_from_counts(a, a + b, a + c, a + b + c + d)


def log_likelihood_ratio_from_counts(
    k11: ArrayLike, row_total: ArrayLike, column_total: ArrayLike, n: ArrayLike
) -> np.ndarray:
    """Compute G² from the co-count and the margins, as stored for a sparse pair.

    Parameters
    ----------
    k11 : array-like
        Users with both events (the co-count).
    row_total : array-like
        ``r1``: users with the first event.
    column_total : array-like
        ``c1``: users with the second event.
    n : array-like
        ``N``: all users counted.

    Returns
    -------
    ndarray of float64
        G² >= 0 per pair. The inputs are not validated: callers pass margins that
        are consistent with the co-counts (``k11 <= r1, c1 <= N``).
    """
    k11, r1, c1, total = np.broadcast_arrays(
        *(np.asarray(value, dtype=np.float64) for value in (k11, row_total, column_total, n))
    )
    r2 = total - r1
    c2 = total - c1
    cells = (k11, r1 - k11, c1 - k11, total - r1 - c1 + k11)
    margins = ((r1, c1), (r1, c2), (r2, c1), (r2, c2))
    signs = (1.0, -1.0, -1.0, 1.0)
    deviation = k11 * total - r1 * c1

    g2 = np.zeros(k11.shape, dtype=np.float64)
    for cell, (row, column), sign in zip(cells, margins, signs, strict=True):
        expected = row * column
        present = (cell > 0) & (expected > 0)
        ratio = np.divide(sign * deviation, expected, out=np.zeros_like(g2), where=present)
        # A cell of 0 contributes 0 (the limit of k log k); log1p(-1) would be -inf.
        g2 += np.where(present, cell * np.log1p(np.maximum(ratio, -1.0 + 1e-300)), 0.0)
    # Rounding can leave a tiny negative value for independent events.
    return np.maximum(2.0 * g2, 0.0)
