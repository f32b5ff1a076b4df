"""Re-weighting of ``user_items`` before an item-item similarity is computed.

The three functions borrow term weighting from text retrieval. For item-item
collaborative filtering the convention is that of implicit's ``nearest_neighbours``
module (implicit 0.7.3, ``bm25_weight`` and ``tfidf_weight`` applied to
``user_items.T``): **items are the documents and users are the terms**. An item is a
"document" made of the users who have it, so that

- the *term frequency* of user ``u`` in item ``i`` is the weight ``x_ui``;
- the *document frequency* of user ``u`` is ``n_u``, the number of items ``u`` has;
- the *document length* of item ``i`` is ``L_i = sum_u x_ui``;
- ``N`` is the number of items (the columns of ``user_items``).

The inverse document frequency therefore lowers the weight of very active users
(resellers, bots, users who buy half the catalogue), because their purchases carry
less information about whether two given items belong together.

Every function takes a users x items sparse matrix of finite weights >= 0 and
returns a new float32 CSR matrix with the same sparsity pattern: stored zeros and
duplicate entries of the input are dropped or summed first, and an entry whose new
weight is 0 stays stored as an explicit zero.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

from recsys.exceptions import DataValidationError

__all__ = [
    "WEIGHTINGS",
    "bm25",
    "check_bm25_parameters",
    "inverse_user_frequency",
    "tfidf",
    "weight_user_items",
]

#: Values of ``ItemKNN(weighting=...)``.
WEIGHTINGS = ("none", "bm25", "tfidf", "iuf")


def bm25(user_items: Any, k1: float = 1.2, b: float = 0.75) -> sp.csr_array:
    """Weight ``user_items`` with Okapi BM25, items being the documents and users the terms.

    Parameters
    ----------
    user_items : sparse matrix, users x items
        Finite weights >= 0.
    k1 : float, default 1.2
        Term-frequency saturation, >= 0: 0 turns every weight into its IDF alone.
    b : float, default 0.75
        Length normalisation, between 0 (none) and 1 (full).

    Returns
    -------
    csr_array, users x items, float32

    Notes
    -----
    With ``L_i`` the document length of item ``i`` and ``avg(L)`` its mean over all
    ``N`` items (see the module notes),

    .. math::

        x'_{ui} = \\frac{x_{ui} (k_1 + 1)}{k_1 (1 - b + b L_i / \\mathrm{avg}(L)) + x_{ui}}
                  \\cdot \\max(0, \\log N - \\log(1 + n_u))

    This is implicit's ``bm25_weight`` (implicit 0.7.3) applied to
    ``user_items.T``, except that the IDF is clipped at 0: implicit gives a user who
    has every item the weight ``log(N / (N + 1)) < 0``, and similarities need
    weights >= 0.

    References
    ----------
    S. Robertson, H. Zaragoza, "The probabilistic relevance framework: BM25 and
    beyond", Foundations and Trends in Information Retrieval 3(4), 2009.
    """
    check_bm25_parameters(k1, b)
    matrix = _canonical(user_items)
    if matrix.nnz == 0:
        return _with_data(matrix, matrix.data)
    weights = matrix.data
    items = matrix.indices
    # Stored zeros were dropped, so every length of a stored entry and the mean are > 0.
    lengths = np.bincount(items, weights=weights, minlength=matrix.shape[1])
    length_norm = (1.0 - b) + b * lengths[items] / lengths.mean()
    denominator = k1 * length_norm + weights
    saturated = np.divide(
        weights * (k1 + 1.0), denominator, out=np.zeros_like(weights), where=denominator > 0
    )
    return _with_data(matrix, saturated * _user_idf(matrix, smooth=True))


def tfidf(user_items: Any) -> sp.csr_array:
    """Weight ``user_items`` with TF-IDF, items being the documents and users the terms.

    Parameters
    ----------
    user_items : sparse matrix, users x items
        Finite weights >= 0.

    Returns
    -------
    csr_array, users x items, float32

    Notes
    -----
    .. math:: x'_{ui} = \\sqrt{x_{ui}} \\cdot \\max(0, \\log N - \\log(1 + n_u))

    This is implicit's ``tfidf_weight`` (implicit 0.7.3) applied to
    ``user_items.T``, with the IDF clipped at 0 as in :func:`bm25`. The square root
    damps repeated or heavily weighted events. implicit's ``TFIDFRecommender`` then
    takes the cosine of these columns, which is
    ``ItemKNN(weighting="tfidf", similarity="cosine")``.
    """
    matrix = _canonical(user_items)
    return _with_data(matrix, np.sqrt(matrix.data) * _user_idf(matrix, smooth=True))


def inverse_user_frequency(user_items: Any) -> sp.csr_array:
    """Weight each user's entries by the log of the inverse share of items the user has.

    Parameters
    ----------
    user_items : sparse matrix, users x items
        Finite weights >= 0.

    Returns
    -------
    csr_array, users x items, float32

    Notes
    -----
    .. math:: x'_{ui} = x_{ui} \\cdot \\log(N / n_u)

    Breese et al. weight each item ``j`` by ``log(n / n_j)`` (``n`` users, ``n_j``
    of them with the item) in user-user similarities. This is the item-item
    counterpart: with items as the documents, each user ``u`` is weighted by
    ``log(N / n_u)``. Unlike :func:`tfidf`, the weights keep their scale and the
    logarithm is not smoothed, so a user who has every item gets weight 0.

    References
    ----------
    J. S. Breese, D. Heckerman, C. Kadie, "Empirical analysis of predictive
    algorithms for collaborative filtering", Proceedings of the 14th Conference on
    Uncertainty in Artificial Intelligence (UAI), 1998.
    """
    matrix = _canonical(user_items)
    return _with_data(matrix, matrix.data * _user_idf(matrix, smooth=False))


def weight_user_items(user_items: Any, weighting: str) -> sp.csr_array:
    """Apply the weighting named ``weighting`` (one of :data:`WEIGHTINGS`).

    ``"none"`` returns ``user_items`` unchanged, without a copy.
    """
    if weighting == "none":
        return user_items
    if weighting == "bm25":
        return bm25(user_items)
    if weighting == "tfidf":
        return tfidf(user_items)
    if weighting == "iuf":
        return inverse_user_frequency(user_items)
    raise DataValidationError(f"weighting must be one of {list(WEIGHTINGS)}; got {weighting!r}")


def check_bm25_parameters(k1: Any, b: Any) -> None:
    """Raise DataValidationError unless ``k1`` is a finite number >= 0 and ``b`` lies in [0, 1]."""
    if isinstance(k1, bool) or not isinstance(k1, (int, float, np.number)) or not math.isfinite(k1) or k1 < 0:
        raise DataValidationError(f"k1 must be a finite number >= 0; got {k1!r}")
    if isinstance(b, bool) or not isinstance(b, (int, float, np.number)) or not 0 <= b <= 1:
        raise DataValidationError(f"b must be a number between 0 and 1; got {b!r}")


def _canonical(user_items: Any) -> sp.csr_array:
    """Return a canonical float64 CSR copy of ``user_items`` without stored zeros."""
    if not sp.issparse(user_items):
        raise DataValidationError(
            f"user_items must be a scipy sparse matrix (users x items); got {type(user_items).__name__}"
        )
    matrix = sp.csr_array(cast(Any, user_items)).astype(np.float64, copy=True)
    matrix.sum_duplicates()
    if matrix.nnz and (not np.isfinite(matrix.data).all() or matrix.data.min() < 0):
        raise DataValidationError("user_items must hold finite weights >= 0")
    matrix.eliminate_zeros()
    return matrix


def _user_idf(matrix: sp.csr_array, *, smooth: bool) -> np.ndarray:
    """Return the inverse document frequency of each stored entry's user, >= 0."""
    if matrix.nnz == 0:
        return np.zeros(0)
    n_items = matrix.shape[1]
    user_counts = np.diff(matrix.indptr)
    if smooth:
        per_user = np.log(n_items) - np.log1p(user_counts)
    else:
        # Every user with an entry has 1 <= n_u <= N, so this is >= 0.
        per_user = np.log(n_items) - np.log(np.maximum(user_counts, 1))
    return np.repeat(np.maximum(per_user, 0.0), user_counts)


def _with_data(matrix: sp.csr_array, data: np.ndarray) -> sp.csr_array:
    result = sp.csr_array(
        (data.astype(np.float32), matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape
    )
    result.has_sorted_indices = True
    return result
