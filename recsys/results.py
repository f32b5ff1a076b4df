"""Result types of the ``recommend*`` and ``similar_items`` methods."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import pandas as pd

from recsys._ids import Id

__all__ = ["Reason", "Recommendation", "Recommendations"]

Reason = Literal["similar", "popular"]


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One recommended item.

    Attributes
    ----------
    item_id : int or str
        The external id, of the same type as in the training data.
    score : float
        Finite and > 0. For ``reason="similar"`` it is the item-item score summed
        over the history; for ``reason="popular"`` it is the item's popularity
        (its column sum of ``user_items``). The two scales are not comparable.
    reason : {"similar", "popular"}
        ``"similar"`` when the history produced the item, ``"popular"`` when it
        comes from the popularity fallback or backfill.
    because : tuple of ids
        The history items that contributed most to the score, largest first
        (at most three); empty for ``reason="popular"``.
    signals : tuple of (str, id) pairs
        The (event type, history item) pairs that contributed most to the score,
        largest first (at most three), for models that score event types apart,
        such as :class:`~recsys.models.cross_occurrence.CrossOccurrence`: for
        example ``(("view", 42),)`` when viewing item 42 drove the pick. Empty for
        the other models and for ``reason="popular"``.
    """

    item_id: Id
    score: float
    reason: Reason
    because: tuple[Id, ...] = ()
    signals: tuple[tuple[str, Id], ...] = ()

    @property
    def fallback(self) -> bool:
        """Whether the item comes from the popularity fallback rather than the history."""
        return self.reason == "popular"


@dataclass(frozen=True)
class Recommendations(Sequence[Recommendation]):
    """An ordered list of :class:`Recommendation` plus what the request could not use.

    It behaves as a read-only sequence; ``item_ids`` and :meth:`to_frame` give
    other views.

    Attributes
    ----------
    items : tuple of Recommendation
        Best first, never longer than the requested ``n``.
    unknown_items : tuple of ids
        Ids from the basket, ``exclude`` or ``allow`` arguments that the model does
        not know; they were ignored.
    known_user : bool or None
        For user requests: whether the model has the user's history. None otherwise.
    short_of_evidence : bool
        Whether fewer than the requested ``n`` items are backed by evidence (the
        history, or the item's neighbours), after the rules. Popular items from the
        fallback or backfill do not count, so this stays True when ``backfill``
        filled the list.
    below_min_support : int
        Number of items that had evidence, but none from an item pair with at
        least ``min_support`` co-buyers, so the gate left them out; 0 without
        ``min_support``.
    """

    items: tuple[Recommendation, ...]
    unknown_items: tuple[Any, ...] = field(default=())
    known_user: bool | None = None
    short_of_evidence: bool = False
    below_min_support: int = 0

    @property
    def item_ids(self) -> list[Id]:
        """The recommended ids, best first."""
        return [item.item_id for item in self.items]

    @property
    def scores(self) -> list[float]:
        """The scores, in the order of ``item_ids``."""
        return [item.score for item in self.items]

    @property
    def fallback(self) -> bool:
        """Whether the list is (or contains) the popularity fallback.

        True for an unknown user even when the list is empty (``n=0``), and when
        any item was backfilled.
        """
        return self.known_user is False or any(item.fallback for item in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Recommendation]:
        return iter(self.items)

    @overload
    def __getitem__(self, index: int) -> Recommendation: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Recommendation, ...]: ...

    def __getitem__(self, index: int | slice) -> Recommendation | tuple[Recommendation, ...]:
        return self.items[index]

    def to_frame(self, signals: bool | None = None) -> pd.DataFrame:
        """Return one row per item with columns item_id, score, reason, because and maybe signals.

        Parameters
        ----------
        signals : bool, optional
            Add a ``signals`` column: a list of ``(event, item_id)`` tuples per row,
            as :attr:`Recommendation.signals`. None (the default) adds it when any
            item has signals. Only models that score event types apart
            (:class:`~recsys.models.cross_occurrence.CrossOccurrence`) fill them.
            Pass True to get the column for every list of such a model, including
            a list of popular items only.
        """
        columns: dict[str, Any] = {
            "item_id": pd.Series(self.item_ids, dtype=object),
            "score": self.scores,
            "reason": [item.reason for item in self.items],
            "because": [list(item.because) for item in self.items],
        }
        if signals or (signals is None and any(item.signals for item in self.items)):
            columns["signals"] = pd.Series([list(item.signals) for item in self.items], dtype=object)
        return pd.DataFrame(columns)
