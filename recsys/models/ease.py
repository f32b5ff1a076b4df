"""EASE: a dense item-item weight matrix learned in closed form."""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recsys.data import Interactions
from recsys.exceptions import DataValidationError, RecsysWarning
from recsys.models.base import Recommender

__all__ = ["EASE", "ease_weights"]

logger = logging.getLogger(__name__)


class EASE(Recommender):
    """Embarrassingly shallow autoencoder: a dense item x item weight matrix ``B``.

    ``B`` is the ridge regression of each item's column of ``user_items`` on all
    the other columns, solved for every item at once in closed form (see
    :func:`ease_weights`). A request scores every item ``j`` from a weighted
    history ``h`` as

    .. math:: \\mathrm{score}(j) = \\sum_{i \\in h} w_i \\, B_{ij}

    Parameters
    ----------
    l2 : float, default 500.0
        The L2 regularisation ``lambda``, > 0. It is added to the diagonal of
        ``X^T X``, so its scale is that of the squared event weights: with every
        event a purchase of weight 5, ``l2=500`` regularises as ``l2=20`` would on
        0/1 data.
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.

    Attributes
    ----------
    weights_ : ndarray, items x items, float32
        ``B``; row ``i`` contains the weight of every item ``j`` given item ``i``.

    Notes
    -----
    Unlike the neighbourhood models, ``B`` has negative weights, so a score can be
    negative. Only items with a score > 0 are recommended (as for every model,
    see :func:`recsys.rules.top_n`), and negative scores are reported as 0, which
    the ranking then skips. For the same reason ``explain`` and ``because`` list
    only the history items with a positive contribution, which may then sum to
    more than the score.

    ``B`` is dense, so the fit needs about ``3 * n_items**2 * 8`` bytes (the Gram
    matrix, its inverse, and ``B``) and a saved model ``n_items**2 * 4`` bytes. Above
    :attr:`WARN_ITEMS` items the fit warns with :class:`~recsys.exceptions.RecsysWarning`;
    above :attr:`MAX_ITEMS` it raises :class:`~recsys.exceptions.DataValidationError`
    before allocating anything. :class:`~recsys.models.item_knn.ItemKNN` and
    :class:`~recsys.models.rp3beta.RP3Beta` keep memory linear in the catalogue.

    References
    ----------
    H. Steck, "Embarrassingly shallow autoencoders for sparse data", The World Wide
    Web Conference (WWW), 2019.
    """

    #: Item count above which ``fit`` raises: about 9.6 GB for the fit.
    MAX_ITEMS = 20_000
    #: Item count above which ``fit`` warns: about 2.4 GB for the fit.
    WARN_ITEMS = 10_000

    def __init__(
        self,
        l2: float = 500.0,
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        count_repeats: bool | None = None,
    ) -> None:
        self.l2 = l2
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats

    def _fit_model(self, interactions: Interactions) -> None:
        _check_l2(self.l2)
        n_items = interactions.shape[1]
        estimate = _fit_bytes(n_items)
        if n_items > self.MAX_ITEMS:
            raise DataValidationError(
                f"EASE needs a dense items x items matrix: {n_items:,} items would take about "
                f"{estimate / 1e9:.1f} GB to fit (3 * n_items**2 * 8 bytes), above the limit of "
                f"{self.MAX_ITEMS:,} items; use ItemKNN or RP3Beta, whose memory is linear in the "
                f"catalogue, or fit EASE on fewer items"
            )
        if n_items > self.WARN_ITEMS:
            warnings.warn(
                f"EASE on {n_items:,} items needs about {estimate / 1e9:.1f} GB to fit "
                f"(3 * n_items**2 * 8 bytes); ItemKNN or RP3Beta keep memory linear in the catalogue",
                RecsysWarning,
                stacklevel=3,
            )
        self.weights_ = ease_weights(interactions.user_items, l2=float(self.l2))

    def _score(self, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
        scores = weights @ np.asarray(self.weights_[history], dtype=np.float64)
        # A negative score is evidence against an item. The request path reads 0
        # as "no evidence", and top_n skips both alike.
        return np.maximum(scores, 0.0)

    def _neighbors(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        row = np.asarray(self.weights_[item], dtype=np.float64)
        neighbors = np.flatnonzero(row > 0)
        scores = row[neighbors]
        # Ties go to the smaller position, as everywhere in recsys.
        order = np.lexsort((neighbors, -scores))
        return neighbors[order], scores[order]

    def _contributions(self, history: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
        block = np.asarray(self.weights_[np.ix_(history, targets)], dtype=np.float64)
        return (block * weights[:, None]).T

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"ease_weights": self.weights_}

    def _restore_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        weights = arrays["ease_weights"]
        n_items = len(self.item_ids_)
        if weights.shape != (n_items, n_items):
            raise ValueError(f"ease_weights has shape {weights.shape}, expected {(n_items, n_items)}")
        self.weights_ = weights


def ease_weights(user_items: Any, *, l2: float = 500.0) -> np.ndarray:
    """Compute the EASE weight matrix ``B`` of a users x items matrix.

    Parameters
    ----------
    user_items : sparse matrix, users x items
        The weights ``X``.
    l2 : float, default 500.0
        The regularisation ``lambda``, > 0.

    Returns
    -------
    ndarray, items x items, float32
        ``B`` with a zero diagonal.

    Notes
    -----
    EASE minimises ``||X - X B||_F^2 + lambda ||B||_F^2`` subject to
    ``diag(B) = 0``, which has the closed form

    .. math::

        P = (X^\\top X + \\lambda I)^{-1}, \\qquad
        B = I - P \\, \\mathrm{diag}(1 / \\mathrm{diag}(P)),

    that is ``B_ij = -P_ij / P_jj`` for ``i != j`` and ``B_jj = 0``. The inverse is
    computed in float64 from the Cholesky factor of the positive definite
    ``X^T X + lambda I``.
    """
    _check_l2(l2)
    started = time.perf_counter()
    matrix = sp.csr_array(user_items, dtype=np.float64)
    gram = np.asarray((matrix.T @ matrix).toarray(), dtype=np.float64)
    n_items = gram.shape[0]
    gram[np.diag_indices(n_items)] += l2

    # X^T X + lambda I is symmetric positive definite, so it is inverted through its
    # Cholesky factor, in place. LAPACK works on Fortran order, and the transpose
    # of this symmetric C-ordered array is that same matrix in Fortran order.
    factor, info = scipy.linalg.lapack.dpotrf(gram.T, lower=False, overwrite_a=True)
    if info == 0:
        inverse, info = scipy.linalg.lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise DataValidationError(
            f"EASE could not invert X^T X + l2 * I (LAPACK info {info}); the weights must be "
            f"finite and l2 > 0, got l2={l2!r}"
        )
    inverse = _symmetric_from_upper(inverse).T

    diagonal = np.diag(inverse).copy()
    inverse /= -diagonal[None, :]
    inverse[np.diag_indices(n_items)] = 0.0
    result = inverse.astype(np.float32)
    logger.info("computed EASE weights of %s items in %.2f s", f"{n_items:,}", time.perf_counter() - started)
    return result


def _check_l2(l2: Any) -> None:
    if (
        isinstance(l2, bool)
        or not isinstance(l2, (int, float, np.integer, np.floating))
        or not math.isfinite(l2)
        or l2 <= 0
    ):
        raise DataValidationError(f"l2 must be a finite number > 0; got {l2!r}")


def _symmetric_from_upper(matrix: np.ndarray) -> np.ndarray:
    """Copy the upper triangle of a square matrix onto its lower triangle, in place.

    LAPACK's dpotri fills only the upper triangle. Copying one column at a time
    allocates no temporary larger than a row.
    """
    for row in range(matrix.shape[0] - 1):
        matrix[row + 1 :, row] = matrix[row, row + 1 :]
    return matrix


def _fit_bytes(n_items: int) -> int:
    """Estimate the memory of an EASE fit: three dense float64 items x items matrices."""
    return 3 * n_items * n_items * 8
