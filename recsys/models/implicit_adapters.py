"""Reference models fitted with the ``implicit`` package, behind the recsys contract.

The adapters let recsys's own models be compared with implicit's on the same
data, the same filters and the same evaluation:

- ``ImplicitCosine``: ``implicit.nearest_neighbours.CosineRecommender``, the same
  measure as ``ItemKNN(similarity="cosine")``;
- ``ImplicitBM25``: ``implicit.nearest_neighbours.BM25Recommender``, the same
  measure as ``ItemKNN(weighting="bm25", similarity="cooccurrence")``;
- ``ImplicitTFIDF``: ``implicit.nearest_neighbours.TFIDFRecommender``, the same
  measure as ``ItemKNN(weighting="tfidf", similarity="cosine")``;
- ``ImplicitALS``: ``implicit.cpu.als.AlternatingLeastSquares``, matrix
  factorisation, which recsys has no model of its own for.

The class names are implicit's, prefixed with ``Implicit`` and shortened. The
versions named in this module are those the adapters were checked against.

implicit is only needed to fit. It is imported inside ``fit``, so ``import
recsys`` never imports it, and a saved adapter (plain arrays, as every recsys
model) loads and serves without implicit installed. Fitting uses every core
(implicit's ``num_threads=0``) and shows implicit's progress bars only with
``show_progress=True``.
"""

from __future__ import annotations

import importlib
import math
import warnings
from abc import abstractmethod
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recsys.data import Interactions
from recsys.exceptions import DataValidationError
from recsys.models.base import Recommender
from recsys.models.item_knn import ItemKNN
from recsys.similarity import ItemStats, _check_parameters, similarity_from_cooccurrence
from recsys.weighting import check_bm25_parameters

__all__ = ["ImplicitALS", "ImplicitBM25", "ImplicitCosine", "ImplicitTFIDF"]


def _import_implicit(module: str, model: str) -> ModuleType:
    try:
        return importlib.import_module(f"implicit.{module}")
    except ImportError as error:
        raise ImportError(
            f"{model} needs the implicit package to fit: pip install implicit "
            f"(a saved {model} loads without it)"
        ) from error


def _implicit_input(user_items: sp.csr_array) -> sp.csr_matrix:
    """Return ``user_items`` as the float32 ``csr_matrix`` implicit expects."""
    return sp.csr_matrix(user_items, dtype=np.float32)


class _ImplicitItemItem(ItemKNN):
    """Shared fit of the adapters of implicit's item-item recommenders.

    implicit keeps, for each item, its ``K`` largest similarities *including the
    item itself*, so the adapter fits with ``K = n_neighbors + 1``, drops the
    diagonal, and keeps the best ``n_neighbors`` remaining pairs of each row (ties
    to the smaller position). When the item itself is among its ``K`` best, which
    holds for the cosine measures, the rows are exactly implicit's rows without
    the item. Scoring is :class:`ItemKNN`'s.
    """

    n_neighbors: int
    show_progress: bool

    def __init__(
        self,
        n_neighbors: int = 20,
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        count_repeats: bool | None = None,
        show_progress: bool = False,
    ) -> None:
        # ImplicitBM25 has its own __init__, which adds k1 and b.
        self.n_neighbors = n_neighbors
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats
        self.show_progress = show_progress

    @abstractmethod
    def _implicit_model(self, nearest_neighbours: ModuleType, k: int) -> Any:
        """Return the unfitted implicit recommender."""

    def _fit_model(self, interactions: Interactions) -> None:
        _check_parameters("cooccurrence", self.n_neighbors, 1)
        self._check_implicit_parameters()
        nearest_neighbours = _import_implicit("nearest_neighbours", type(self).__name__)
        utils = _import_implicit("utils", type(self).__name__)
        model = self._implicit_model(nearest_neighbours, self.n_neighbors + 1)
        with warnings.catch_warnings():
            # implicit converts its own weighted COO matrix to CSR inside fit and
            # warns with ParameterWarning, although the input given here is CSR.
            warnings.filterwarnings("ignore", category=utils.ParameterWarning)
            model.fit(_implicit_input(interactions.user_items), show_progress=self.show_progress)
        self.similarity_ = _without_diagonal(sp.csr_array(model.similarity), self.n_neighbors)

    def _check_implicit_parameters(self) -> None:
        """Validate the parameters beyond ``n_neighbors``."""


class ImplicitCosine(_ImplicitItemItem):
    """implicit's ``CosineRecommender`` (implicit 0.7.3) behind the recsys contract.

    The similarity is the cosine of the item columns of ``user_items``, with the
    event weights; it matches ``ItemKNN(similarity="cosine")`` up to rounding.

    Parameters
    ----------
    n_neighbors : int, default 20
        Neighbours kept per item; implicit is fitted with ``K = n_neighbors + 1``
        because its ``K`` counts the item itself.
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.
    show_progress : bool, default False
        Show implicit's progress bar while fitting.

    Attributes
    ----------
    similarity_ : csr_array, items x items, float32
        implicit's similarity rows without the diagonal, in canonical CSR form.
    """

    def _implicit_model(self, nearest_neighbours: ModuleType, k: int) -> Any:
        return nearest_neighbours.CosineRecommender(K=k, num_threads=0)


class ImplicitBM25(_ImplicitItemItem):
    """implicit's ``BM25Recommender`` (implicit 0.7.3) behind the recsys contract.

    The similarity is the dot product of BM25-weighted item columns, items being
    the documents and users the terms (see :func:`recsys.weighting.bm25`). It
    matches ``ItemKNN(weighting="bm25", similarity="cooccurrence")`` up to
    rounding. The one exception is a user who has every item: implicit gives that
    user a negative IDF, and recsys gives 0.

    Parameters
    ----------
    n_neighbors : int, default 20
        Neighbours kept per item; implicit is fitted with ``K = n_neighbors + 1``.
    k1 : float, default 1.2
        BM25 term-frequency saturation, >= 0 (implicit's ``K1``).
    b : float, default 0.75
        BM25 length normalisation, in [0, 1] (implicit's ``B``).
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.
    show_progress : bool, default False
        Show implicit's progress bar while fitting.

    Attributes
    ----------
    similarity_ : csr_array, items x items, float32
        implicit's similarity rows without the diagonal, in canonical CSR form.
    """

    def __init__(
        self,
        n_neighbors: int = 20,
        k1: float = 1.2,
        b: float = 0.75,
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        count_repeats: bool | None = None,
        show_progress: bool = False,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.k1 = k1
        self.b = b
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats
        self.show_progress = show_progress

    def _check_implicit_parameters(self) -> None:
        check_bm25_parameters(self.k1, self.b)

    def _implicit_model(self, nearest_neighbours: ModuleType, k: int) -> Any:
        return nearest_neighbours.BM25Recommender(K=k, K1=float(self.k1), B=float(self.b), num_threads=0)


class ImplicitTFIDF(_ImplicitItemItem):
    """implicit's ``TFIDFRecommender`` (implicit 0.7.3) behind the recsys contract.

    The similarity is the cosine of TF-IDF-weighted item columns (see
    :func:`recsys.weighting.tfidf`); it matches
    ``ItemKNN(weighting="tfidf", similarity="cosine")`` up to rounding.

    Parameters
    ----------
    n_neighbors : int, default 20
        Neighbours kept per item; implicit is fitted with ``K = n_neighbors + 1``.
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.
    show_progress : bool, default False
        Show implicit's progress bar while fitting.

    Attributes
    ----------
    similarity_ : csr_array, items x items, float32
        implicit's similarity rows without the diagonal, in canonical CSR form.
    """

    def _implicit_model(self, nearest_neighbours: ModuleType, k: int) -> Any:
        return nearest_neighbours.TFIDFRecommender(K=k, num_threads=0)


def _without_diagonal(similarity: sp.csr_array, n_neighbors: int) -> sp.csr_array:
    """Drop the diagonal and scores <= 0, and keep the best ``n_neighbors`` of each row."""
    similarity.sum_duplicates()
    n_items = similarity.shape[0]
    # The kernel compares the support with min_support, so support 1 per pair keeps them all.
    support = sp.csr_array(
        (np.ones(similarity.nnz), similarity.indices, similarity.indptr), shape=similarity.shape
    )
    no_stats = ItemStats(np.zeros(n_items), np.zeros(n_items), 0)
    return similarity_from_cooccurrence(
        similarity, support, no_stats, similarity="cooccurrence", n_neighbors=n_neighbors, min_support=1
    )


class ImplicitALS(Recommender):
    """implicit's ``AlternatingLeastSquares`` (implicit 0.7.3, CPU) behind the recsys contract.

    Fitting factorises ``user_items`` into user and item factors with implicit's
    conjugate-gradient ALS. A request does not read the stored user factors: it
    recomputes the user factor from the history (see the notes), so a known user
    and a basket with the same weights get the same scores.

    Parameters
    ----------
    factors : int, default 100
        Number of latent factors.
    regularization : float, default 0.01
        L2 regularisation ``lambda``, > 0 so that the per-request system is
        positive definite.
    alpha : float, default 1.0
        Confidence scale: implicit uses ``c_ui = alpha * x_ui`` on stored entries
        and 1 elsewhere.
    iterations : int, default 15
        ALS sweeps.
    random_state : int, default 0
        Seed of the initial factors; a fit is deterministic for a given seed.
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.
    show_progress : bool, default False
        Show implicit's progress bar while fitting.

    Attributes
    ----------
    user_factors_ : ndarray, users x factors, float32
        implicit's fitted user factors, kept for reference.
    item_factors_ : ndarray, items x factors, float32
        implicit's fitted item factors ``Y``.

    Notes
    -----
    For a history ``h`` with weights ``w_i`` and confidences ``c_i = alpha * w_i``,
    the user factor is the exact least-squares step of ALS, which is what
    implicit's ``recalculate_user`` solves:

    .. math::

        A = Y^\\top Y + \\lambda I + \\sum_{i \\in h} (c_i - 1) \\, y_i y_i^\\top, \\qquad
        x = A^{-1} \\sum_{i \\in h} c_i \\, y_i, \\qquad
        \\mathrm{score}(j) = y_j^\\top x

    The score splits exactly into one term per history item,
    ``c_i * y_j^T A^{-1} y_i``, which gives ``because`` and ``explain``. Terms and
    scores can be negative; negative scores are reported as 0, which the ranking
    skips (only items with a score > 0 are recommended), and ``explain`` lists
    only the positive terms.

    ``similar_items`` ranks the other items by the cosine of their factors and
    returns those with a cosine > 0.

    BLAS runs single-threaded during the fit (``threadpoolctl.threadpool_limits(1,
    "blas")``), as implicit recommends, because implicit parallelises over users
    itself.

    References
    ----------
    Y. Hu, Y. Koren, C. Volinsky, "Collaborative filtering for implicit feedback
    datasets", ICDM 2008.
    G. Takács, I. Pilászy, D. Tikk, "Applications of the conjugate gradient method
    for implicit feedback collaborative filtering", RecSys 2011.
    """

    def __init__(
        self,
        factors: int = 100,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: int = 0,
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        count_repeats: bool | None = None,
        show_progress: bool = False,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats
        self.show_progress = show_progress

    def _fit_model(self, interactions: Interactions) -> None:
        self._check_parameters()
        als = _import_implicit("cpu.als", type(self).__name__)
        import threadpoolctl  # installed with implicit

        with threadpoolctl.threadpool_limits(1, "blas"):
            # implicit checks the BLAS thread count when the model is built, so the
            # model is built inside the limit too.
            model = als.AlternatingLeastSquares(
                factors=int(self.factors),
                regularization=float(self.regularization),
                alpha=float(self.alpha),
                iterations=int(self.iterations),
                random_state=int(self.random_state),
                dtype=np.float32,
                num_threads=0,
            )
            model.fit(_implicit_input(interactions.user_items), show_progress=self.show_progress)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._prepare_scoring()

    def _check_parameters(self) -> None:
        for name in ("factors", "iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise DataValidationError(f"{name} must be an int >= 1; got {value!r}")
        for name in ("regularization", "alpha"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise DataValidationError(f"{name} must be a finite number > 0; got {value!r}")
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise DataValidationError(f"random_state must be an int >= 0; got {seed!r}")

    def _prepare_scoring(self) -> None:
        """Derive the float64 factors, their norms and ``Y^T Y + lambda I`` from ``item_factors_``."""
        # A fresh float64 copy also gives the BLAS calls the same memory layout
        # whether the factors were fitted or memory-mapped from disk.
        self._item_factors = np.array(self.item_factors_, dtype=np.float64)
        self._item_norms = np.linalg.norm(self._item_factors, axis=1)
        gram = self._item_factors.T @ self._item_factors
        gram[np.diag_indices_from(gram)] += float(self.regularization)
        self._gram = gram

    def _user_system(self, history: np.ndarray, weights: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        """Return the Cholesky factor of ``A``, the history's factors and confidences."""
        factors = self._item_factors[history]
        confidence = float(self.alpha) * weights
        system = self._gram + (factors.T * (confidence - 1.0)) @ factors
        return scipy.linalg.cho_factor(system), factors, confidence

    def _score(self, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
        cholesky, factors, confidence = self._user_system(history, weights)
        user = scipy.linalg.cho_solve(cholesky, factors.T @ confidence)
        return np.maximum(self._item_factors @ user, 0.0)

    def _neighbors(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        norm = self._item_norms[item]
        if norm == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        denominators = self._item_norms * norm
        cosines = np.divide(
            self._item_factors @ self._item_factors[item],
            denominators,
            out=np.zeros(len(denominators)),
            where=denominators > 0,
        )
        cosines[item] = 0.0
        neighbors = np.flatnonzero(cosines > 0)
        scores = cosines[neighbors]
        order = np.lexsort((neighbors, -scores))
        return neighbors[order], scores[order]

    def _contributions(self, history: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
        cholesky, factors, confidence = self._user_system(history, weights)
        solved = scipy.linalg.cho_solve(cholesky, factors.T)
        return (self._item_factors[targets] @ solved) * confidence[None, :]

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        user_factors, item_factors = arrays["user_factors"], arrays["item_factors"]
        expected_users = (len(self.user_ids_), int(self.factors))
        expected_items = (len(self.item_ids_), int(self.factors))
        if user_factors.shape != expected_users or item_factors.shape != expected_items:
            raise ValueError(
                f"ALS factors have shapes {user_factors.shape} and {item_factors.shape}, expected "
                f"{expected_users} and {expected_items}"
            )
        self.user_factors_ = user_factors
        self.item_factors_ = item_factors
        self._prepare_scoring()
