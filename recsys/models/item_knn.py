"""Item-item collaborative filtering: the core model of recsys."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Self

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys._ids import Id
from recsys.data import Interactions
from recsys.exceptions import DataValidationError
from recsys.models._sparse_rows import ranked_row, row_contributions, sum_rows
from recsys.models.base import Recommender
from recsys.similarity import (
    _WEIGHTED,
    ItemStats,
    _check_parameters,
    cap_user_items,
    item_similarity,
    similarity_from_cooccurrence,
)
from recsys.weighting import WEIGHTINGS, weight_user_items

__all__ = ["ItemKNN"]

#: With shrinkage, each item first keeps this many times ``n_neighbors`` candidates,
#: so that a pair just outside the top ``n_neighbors`` but with many shared users can
#: move in once the pairs above it are shrunk.
_SHRINKAGE_CANDIDATE_FACTOR = 2


class ItemKNN(Recommender):
    """Item-based k-nearest-neighbours recommender ("customers who bought this also bought").

    Fitting computes an item x item similarity from ``user_items`` and keeps the
    ``n_neighbors`` best neighbours of each item (see :mod:`recsys.similarity`).
    A request scores every item ``j`` from a weighted history ``h``:

    .. math:: \\mathrm{score}(j) = \\sum_{i \\in h} w_i \\, s_{ij}

    where ``s_ij`` is the similarity of ``j`` as a neighbour of ``i``, and 0 when
    ``j`` is not among the neighbours of ``i``.

    Parameters
    ----------
    similarity : str, default "cosine"
        One of ``cooccurrence``, ``cosine``, ``jaccard``, ``lift``, ``conditional``,
        ``llr``.
    n_neighbors : int, default 20
        Neighbours kept per item. 20 is also implicit's default ``K``; on Online
        Retail it ranked better than 50 or 100 (see ``docs/benchmarks.md``).
    min_support : int, default 1
        Minimum number of users who have both items for the pair to count.
    max_items_per_user : int, optional
        Fit the similarity on at most this many items per user, sampled with
        ``random_state``, to bound the cost of very active users (resellers, bots):
        a user with ``d`` items costs ``d**2`` pair visits. None (the default) uses
        every item. Histories used at request time are never capped.
    random_state : int, default 0
        Seed of that sampling.
    weighting : str, default "none"
        Re-weighting of ``user_items`` before the similarity: ``none``, ``bm25``,
        ``tfidf`` or ``iuf`` (see :mod:`recsys.weighting`). Only the weighted
        measures ``cosine`` and ``cooccurrence`` read weights, so the other measures
        raise :class:`~recsys.exceptions.DataValidationError` unless this is
        ``none``. The weighting only changes the similarity table: histories used
        at request time keep the raw event weights.
    shrinkage : float, default 0.0
        Shrink each similarity towards 0 by its support,
        ``s_ij * n_ij / (n_ij + shrinkage)``, where ``n_ij`` is the number of users
        who have both items; 0 turns shrinkage off. See the notes.
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.
    show_progress : bool, default False
        Show a progress bar while fitting.

    Attributes
    ----------
    similarity_ : csr_array, items x items, float32
        Row ``i`` contains the scores of the neighbours of item ``i``, in canonical
        CSR form (columns sorted).
    support_ : csr_array, items x items, int32
        The co-buyer count of each stored pair of ``similarity_`` (same pattern):
        the users with a weight > 0 on both items in the data the similarity saw.
        Requests read it for ``min_support``. None for a model saved without it.

    Notes
    -----
    Memory at serving time is linear in the catalogue: at most
    ``n_items * n_neighbors`` stored pairs, plus the fitted histories.

    Fitting runs these steps in order: sample down users over
    ``max_items_per_user``, apply ``weighting``, compute the similarity, apply
    ``shrinkage``. With shrinkage each item first keeps its best
    ``2 * n_neighbors`` pairs, then every kept pair is shrunk and the best
    ``n_neighbors`` shrunk pairs remain (ties to the smaller position). A pair
    outside those ``2 * n_neighbors`` candidates is never considered, even if it
    would rank higher after shrinking. The support ``n_ij`` counts the users with
    a weight > 0 on both items in the data the similarity saw, so after the
    per-user sampling.

    NOTE: :func:`recsys.distributed.fit_distributed` computes the plain similarity
    and does not apply ``weighting`` or ``shrinkage`` yet.

    References
    ----------
    B. Sarwar, G. Karypis, J. Konstan, J. Riedl, "Item-based collaborative filtering
    recommendation algorithms", WWW 2001.
    G. Linden, B. Smith, J. York, "Amazon.com recommendations: item-to-item
    collaborative filtering", IEEE Internet Computing 7(1), 2003.
    Y. Koren, "Factorization meets the neighborhood: a multifaceted collaborative
    filtering model", KDD 2008 (shrinkage of similarities by their support).

    Examples
    --------
    >>> import pandas as pd
    >>> from recsys import ItemKNN
    >>> events = pd.DataFrame({
    ...     "user_id": ["a", "a", "b", "b", "c"],
    ...     "item_id": ["tea", "cup", "tea", "cup", "tea"],
    ...     "event": "purchase",
    ... })
    >>> model = ItemKNN().fit(events)
    >>> model.similar_items("tea").item_ids
    ['cup']
    >>> model.recommend("c").item_ids
    ['cup']
    """

    def __init__(
        self,
        similarity: str = "cosine",
        n_neighbors: int = 20,
        min_support: int = 1,
        *,
        max_items_per_user: int | None = None,
        random_state: int = 0,
        weighting: str = "none",
        shrinkage: float = 0.0,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        count_repeats: bool | None = None,
        show_progress: bool = False,
    ) -> None:
        self.similarity = similarity
        self.n_neighbors = n_neighbors
        self.min_support = min_support
        self.max_items_per_user = max_items_per_user
        self.random_state = random_state
        self.weighting = weighting
        self.shrinkage = shrinkage
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats
        self.show_progress = show_progress

    def _fit_model(self, interactions: Interactions) -> None:
        _check_parameters(self.similarity, self.n_neighbors, self.min_support)
        _check_weighting(self.weighting, self.similarity)
        _check_shrinkage(self.shrinkage)

        matrix = interactions.user_items
        if self.max_items_per_user is not None:
            matrix = cap_user_items(matrix, self.max_items_per_user, random_state=self.random_state)
        matrix = weight_user_items(matrix, self.weighting)
        shrink = self.shrinkage > 0
        candidates = self.n_neighbors * _SHRINKAGE_CANDIDATE_FACTOR if shrink else self.n_neighbors
        similarity = item_similarity(
            matrix,
            similarity=self.similarity,
            n_neighbors=candidates,
            min_support=self.min_support,
            show_progress=self.show_progress,
        )
        if shrink:
            similarity = _shrink_similarity(similarity, matrix, float(self.shrinkage), self.n_neighbors)
        self.similarity_ = similarity
        self.support_: sp.csr_array | None = _pair_support(similarity, matrix)

    def partial_fit(self, data: Interactions | pd.DataFrame | str | PathLike[str]) -> Self:
        """Fold new events into the fitted model, recomputing only the rows they change.

        The result equals a refit on the old and the new events together: the same
        ids, histories, popularity, neighbour lists and recommendations, with
        scores equal up to float32 rounding (see :mod:`recsys.incremental`).

        Parameters
        ----------
        data : Interactions, DataFrame or path
            New events in the format :meth:`fit` reads, weighted with the model's
            event weights and repeat rule. New users and items are allowed. Ids
            stay sorted, so the positions of existing ids can shift; compare
            models by id, never by position.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            If the model was fitted with ``weighting`` other than ``"none"``,
            ``max_items_per_user`` or ``half_life_days``, which an update cannot
            reproduce (refit instead), or by a subclass with its own similarity.
            Also when ``count_repeats`` is False and the new events repeat an event
            type on a (user, item) that already has several event types, whose
            per-type values the model does not store.
        """
        from recsys.incremental import partial_fit

        partial_fit(self, data)
        return self

    def forget_users(self, user_ids: Iterable[Id], *, ignore_unknown: bool = False) -> Self:
        """Delete every event of the given users, as a refit without them would.

        The users' ids and histories leave the model, and so do items that only
        they had. Neighbour lists, popularity and recommendations equal those of
        a refit on the remaining events, with scores equal up to float32 rounding.
        A model saved afterwards contains neither the ids nor their rows.

        Parameters
        ----------
        user_ids : iterable of ids
            Users to delete; repeated ids count once.
        ignore_unknown : bool, default False
            Skip ids the model does not have instead of raising.

        Returns
        -------
        self

        Raises
        ------
        UnknownUserError
            For an id the model does not have, unless ``ignore_unknown``; the
            model is then unchanged.
        DataValidationError
            If every user would be deleted, or for the options
            :meth:`partial_fit` rejects.
        """
        from recsys.incremental import forget_users

        forget_users(self, user_ids, ignore_unknown=ignore_unknown)
        return self

    def _score(self, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return sum_rows(self.similarity_, history, weights)

    def _neighbors(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        return ranked_row(self.similarity_, item)

    def _contributions(self, history: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return row_contributions(self.similarity_, history, weights, targets)

    def _model_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "similarity_indptr": self.similarity_.indptr,
            "similarity_indices": self.similarity_.indices,
            "similarity_data": self.similarity_.data,
        }
        support = getattr(self, "support_", None)
        if support is not None and _same_pattern(support, self.similarity_):
            arrays["similarity_support"] = support.data
        return arrays

    def _restore_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        n_items = len(arrays["similarity_indptr"]) - 1
        self.similarity_ = sp.csr_array(
            (arrays["similarity_data"], arrays["similarity_indices"], arrays["similarity_indptr"]),
            shape=(n_items, n_items),
            copy=False,
        )
        support = arrays.get("similarity_support")
        self.support_ = (
            None
            if support is None or len(support) != len(self.similarity_.data)
            else sp.csr_array(
                (support, self.similarity_.indices, self.similarity_.indptr),
                shape=(n_items, n_items),
                copy=False,
            )
        )


def _same_pattern(first: sp.csr_array, second: sp.csr_array) -> bool:
    """Return whether two sparse tables store the same (row, column) pairs."""
    return (
        first.shape == second.shape
        and first.nnz == second.nnz
        and np.array_equal(first.indptr, second.indptr)
        and np.array_equal(first.indices, second.indices)
    )


def _without_zeros(user_items: sp.csr_array) -> sp.csr_array:
    """Return ``user_items`` as a CSR array without stored zeros, copying only when it has some."""
    present = sp.csr_array(user_items)
    if present.nnz and not present.data.all():
        present = present.copy()
        present.eliminate_zeros()
    return present


def _shared_user_counts(similarity: sp.csr_array, present: sp.csr_array) -> np.ndarray:
    """Return the number of users of ``present`` who have both items of each stored pair (float64)."""
    item_users = present.T.tocsr()
    item_users.sort_indices()
    counts = np.empty(similarity.nnz, dtype=np.float64)
    _count_shared_users(
        np.asarray(similarity.indptr, dtype=np.int64),
        np.asarray(similarity.indices, dtype=np.int64),
        np.asarray(item_users.indptr, dtype=np.int64),
        np.asarray(item_users.indices, dtype=np.int64),
        counts,
    )
    return counts


def _pair_support(similarity: sp.csr_array, user_items: sp.csr_array) -> sp.csr_array:
    """Return the co-buyer count of each stored pair of ``similarity``, with its pattern."""
    counts = _shared_user_counts(similarity, _without_zeros(user_items))
    return sp.csr_array(
        (counts.astype(np.int32), similarity.indices, similarity.indptr), shape=similarity.shape
    )


def _shrink_similarity(
    similarity: sp.csr_array, user_items: sp.csr_array, shrinkage: float, n_neighbors: int
) -> sp.csr_array:
    """Shrink each stored similarity by its support, then keep the best ``n_neighbors`` per row.

    Parameters
    ----------
    similarity : csr_array, items x items
        Canonical pruned similarity, as :func:`~recsys.similarity.item_similarity`
        returns it.
    user_items : csr_array, users x items
        The data the similarity was computed from; only its pattern of weights > 0
        is read.
    shrinkage : float
        ``lambda >= 0`` in ``s_ij * n_ij / (n_ij + lambda)``.
    n_neighbors : int
        Pairs kept per item after shrinking, ties going to the smaller column.

    Returns
    -------
    csr_array, items x items, float32
    """
    present = _without_zeros(user_items)
    support = _shared_user_counts(similarity, present)
    shrunk = similarity.data.astype(np.float64) * support / (support + shrinkage)
    pattern = (similarity.indices, similarity.indptr)
    return similarity_from_cooccurrence(
        sp.csr_array((shrunk, *pattern), shape=similarity.shape),
        # The kernel compares the support with min_support, so pass the real
        # counts: every kept pair already met min_support during the fit.
        sp.csr_array((support, *pattern), shape=similarity.shape),
        ItemStats.of(present, binary=True),
        similarity="cooccurrence",
        n_neighbors=n_neighbors,
        min_support=1,
    )


@numba.njit(cache=True, parallel=True)
def _count_shared_users(
    pair_indptr: np.ndarray,
    pair_indices: np.ndarray,
    item_indptr: np.ndarray,
    item_users: np.ndarray,
    out: np.ndarray,
) -> None:
    """Count, for each stored pair (i, j), the users of both items.

    ``item_indptr/item_users`` is the items x users pattern with sorted users, so
    each count is a merge of two sorted lists.
    """
    n_items = len(pair_indptr) - 1
    for i in numba.prange(n_items):
        first_start = item_indptr[i]
        first_stop = item_indptr[i + 1]
        for p in range(pair_indptr[i], pair_indptr[i + 1]):
            j = pair_indices[p]
            a = first_start
            b = item_indptr[j]
            b_stop = item_indptr[j + 1]
            shared = 0
            while a < first_stop and b < b_stop:
                user_a = item_users[a]
                user_b = item_users[b]
                if user_a == user_b:
                    shared += 1
                    a += 1
                    b += 1
                elif user_a < user_b:
                    a += 1
                else:
                    b += 1
            out[p] = shared


def _check_weighting(weighting: object, similarity: str) -> None:
    if not isinstance(weighting, str) or weighting not in WEIGHTINGS:
        raise DataValidationError(f"weighting must be one of {list(WEIGHTINGS)}; got {weighting!r}")
    if weighting != "none" and similarity not in _WEIGHTED:
        raise DataValidationError(
            f"weighting={weighting!r} has no effect with similarity={similarity!r}, which counts "
            f"users and ignores weights; use similarity='cosine' or 'cooccurrence', or weighting='none'"
        )


def _check_shrinkage(shrinkage: object) -> None:
    if (
        isinstance(shrinkage, bool)
        or not isinstance(shrinkage, (int, float, np.integer, np.floating))
        or not math.isfinite(shrinkage)
        or shrinkage < 0
    ):
        raise DataValidationError(f"shrinkage must be a finite number >= 0; got {shrinkage!r}")
