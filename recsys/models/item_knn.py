"""Item-item collaborative filtering: the core model of recsys."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from recsys.data import Interactions
from recsys.models.base import Recommender
from recsys.similarity import item_similarity

__all__ = ["ItemKNN"]


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
    n_neighbors : int, default 50
        Neighbours kept per item.
    min_support : int, default 1
        Minimum number of users who have both items for the pair to count.
    max_items_per_user : int, optional
        Fit the similarity on at most this many items per user, sampled with
        ``random_state``, to bound the cost of very active users (resellers, bots):
        a user with ``d`` items costs ``d**2`` pair visits. None (the default) uses
        every item. Histories used at request time are never capped.
    random_state : int, default 0
        Seed of that sampling.
    event_weights, half_life_days, count_repeats
        See :class:`~recsys.models.base.Recommender`.
    show_progress : bool, default False
        Show a progress bar while fitting.

    Attributes
    ----------
    similarity_ : csr_array, items x items, float32
        Row ``i`` contains the scores of the neighbours of item ``i``, in canonical
        CSR form (columns sorted).

    Notes
    -----
    Memory at serving time is linear in the catalogue: at most
    ``n_items * n_neighbors`` stored pairs, plus the fitted histories.

    References
    ----------
    B. Sarwar, G. Karypis, J. Konstan, J. Riedl, "Item-based collaborative filtering
    recommendation algorithms", WWW 2001.
    G. Linden, B. Smith, J. York, "Amazon.com recommendations: item-to-item
    collaborative filtering", IEEE Internet Computing 7(1), 2003.

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
        n_neighbors: int = 50,
        min_support: int = 1,
        *,
        max_items_per_user: int | None = None,
        random_state: int = 0,
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
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.count_repeats = count_repeats
        self.show_progress = show_progress

    def _fit_model(self, interactions: Interactions) -> None:
        self.similarity_ = item_similarity(
            interactions.user_items,
            similarity=self.similarity,
            n_neighbors=self.n_neighbors,
            min_support=self.min_support,
            max_items_per_user=self.max_items_per_user,
            random_state=self.random_state,
            show_progress=self.show_progress,
        )

    def _rows(self, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the positions in ``similarity_.data`` of the history rows, and row lengths."""
        indptr = self.similarity_.indptr
        starts = indptr[history].astype(np.int64)
        lengths = indptr[history + 1].astype(np.int64) - starts
        # Concatenated ranges start..start+length without a Python loop.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        return offsets + np.arange(lengths.sum()), lengths

    def _score(self, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
        positions, lengths = self._rows(history)
        columns = self.similarity_.indices[positions]
        values = self.similarity_.data[positions] * np.repeat(weights, lengths)
        return np.bincount(columns, weights=values, minlength=self.similarity_.shape[1])

    def _neighbors(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        start, stop = self.similarity_.indptr[item], self.similarity_.indptr[item + 1]
        neighbors = np.asarray(self.similarity_.indices[start:stop], dtype=np.int64)
        scores = np.asarray(self.similarity_.data[start:stop], dtype=np.float64)
        # Rows are stored in column order; rank them by score, ties by the smaller position.
        order = np.lexsort((neighbors, -scores))
        return neighbors[order], scores[order]

    def _contributions(self, history: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
        positions, lengths = self._rows(history)
        columns = self.similarity_.indices[positions]
        rows = np.repeat(np.arange(len(history)), lengths)
        values = self.similarity_.data[positions] * weights[rows]

        target_slot = np.full(self.similarity_.shape[1], -1, dtype=np.int64)
        target_slot[targets] = np.arange(len(targets))
        slot = target_slot[columns]
        hit = slot >= 0
        result = np.zeros((len(targets), len(history)))
        result[slot[hit], rows[hit]] = values[hit]
        return result

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {
            "similarity_indptr": self.similarity_.indptr,
            "similarity_indices": self.similarity_.indices,
            "similarity_data": self.similarity_.data,
        }

    def _restore_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        n_items = len(arrays["similarity_indptr"]) - 1
        self.similarity_ = sp.csr_array(
            (arrays["similarity_data"], arrays["similarity_indices"], arrays["similarity_indptr"]),
            shape=(n_items, n_items),
            copy=False,
        )
