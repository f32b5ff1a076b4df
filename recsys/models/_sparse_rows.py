"""Scoring from the rows of an items x items CSR matrix.

:class:`~recsys.models.item_knn.ItemKNN` scores with its similarity and
:class:`~recsys.models.cross_occurrence.CrossOccurrence` with its indicators. A
history is a list of row positions with weights, and its score is the weighted
sum of those rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["ranked_row", "row_contributions", "row_positions", "sum_rows"]


def row_positions(matrix: sp.csr_array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the positions in ``matrix.data`` of the entries of ``rows``, and the row lengths."""
    indptr = matrix.indptr
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1].astype(np.int64) - starts
    # Concatenated ranges start..start+length without a Python loop.
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(lengths.sum()), lengths


def sum_rows(matrix: sp.csr_array, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the sum of ``rows`` of ``matrix``, each times its weight, as a dense float64 vector."""
    positions, lengths = row_positions(matrix, rows)
    columns = matrix.indices[positions]
    values = matrix.data[positions] * np.repeat(weights, lengths)
    return np.bincount(columns, weights=values, minlength=matrix.shape[1])


def ranked_row(matrix: sp.csr_array, row: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the columns and values of one row, largest value first."""
    start, stop = matrix.indptr[row], matrix.indptr[row + 1]
    columns = np.asarray(matrix.indices[start:stop], dtype=np.int64)
    values = np.asarray(matrix.data[start:stop], dtype=np.float64)
    # Rows are stored in column order, so rank by value with ties to the smaller column.
    order = np.lexsort((columns, -values))
    return columns[order], values[order]


def row_contributions(
    matrix: sp.csr_array, rows: np.ndarray, weights: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Return the part of each target column's sum owed to each weighted row.

    The result has shape (len(targets), len(rows)). Its row ``t`` sums to the
    value of :func:`sum_rows` at ``targets[t]``, up to rounding.
    """
    positions, lengths = row_positions(matrix, rows)
    columns = matrix.indices[positions]
    entry_rows = np.repeat(np.arange(len(rows)), lengths)
    values = matrix.data[positions] * weights[entry_rows]

    target_slot = np.full(matrix.shape[1], -1, dtype=np.int64)
    target_slot[targets] = np.arange(len(targets))
    slot = target_slot[columns]
    hit = slot >= 0
    result = np.zeros((len(targets), len(rows)))
    result[slot[hit], entry_rows[hit]] = values[hit]
    return result
