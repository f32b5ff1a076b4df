"""Assign a whole round at once under exposure caps.

Each lead brings a ranked list of candidates (from the model, best first). The
assignment gives every lead up to ``k`` items such that no item goes to more
leads than its cap and no category gets more sends than its quota.

Method: greedy over all (lead, candidate) pairs. History-based candidates
(``reason="similar"``) come first, in descending *relative* score, the score
divided by the lead's best candidate score. Raw scores grow with the length of
a lead's history, so ordering by them would let long histories take every
scarce item. With relative scores each lead's first choice is 1.0 and is
considered before anyone's second choice, with ties going to the higher raw
score, then to the earlier lead and the better rank. Backfilled candidates
(``reason="popular"``) then fill the leads still short, in lead order and
popularity order. An item that reaches its cap is skipped for the remaining
pairs, so a lead loses a pick only to a lead with a higher relative score for it.
Greedy is not optimal: a maximum-weight b-matching could keep more total score,
at a cost that grows much faster with the list size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from recsys.nurture._frames import id_key
from recsys.results import Recommendation

__all__ = ["CapReport", "assign_round"]


@dataclass(frozen=True)
class CapReport:
    """Relevance cost of the exposure caps in one round.

    Attributes
    ----------
    leads : int
        Leads assigned in this run (leads already sent are not reassigned).
    score_uncapped : float
        Sum of the scores of each lead's first ``k`` history-based candidates.
    score_capped : float
        Sum of the scores of the history-based items actually assigned.
    items_at_cap : tuple of ids
        Items that reached their cap, their quota or their category's quota and
        were therefore rejected for at least one lead.
    """

    leads: int
    score_uncapped: float
    score_capped: float
    items_at_cap: tuple[object, ...]

    @property
    def share_kept(self) -> float:
        """``score_capped / score_uncapped``, or 1.0 when nothing was scored."""
        return 1.0 if self.score_uncapped <= 0 else self.score_capped / self.score_uncapped


def assign_round(
    candidates: Sequence[Sequence[Recommendation]],
    k: int,
    *,
    item_caps: Mapping[str, int] | None = None,
    default_cap: int | None = None,
    item_categories: Mapping[str, str] | None = None,
    category_caps: Mapping[str, int] | None = None,
    used_items: Counter[str] | None = None,
    used_categories: Counter[str] | None = None,
) -> tuple[list[list[Recommendation]], CapReport]:
    """Pick up to ``k`` items per lead under the caps (see the module notes for the method).

    Parameters
    ----------
    candidates : sequence of sequences of Recommendation
        Per lead, the ranked candidates; ``reason="popular"`` marks backfill.
    k : int
        Items per lead.
    item_caps : mapping of str to int, optional
        Maximum leads per item, keyed by the item id's text.
    default_cap : int, optional
        Maximum leads for items without an entry in ``item_caps``; None is no cap.
    item_categories : mapping of str to str, optional
        Category of each item, keyed by the item id's text.
    category_caps : mapping of str to int, optional
        Maximum sends per category.
    used_items, used_categories : Counter, optional
        Sends already made in this round (by earlier runs), counted against the caps.

    Returns
    -------
    assignment : list of lists of Recommendation
        Per lead, in the input order, the assigned items by the lead's own rank.
    report : CapReport
    """
    item_caps = item_caps or {}
    item_categories = item_categories or {}
    category_caps = category_caps or {}
    item_counts: Counter[str] = Counter(used_items or {})
    category_counts: Counter[str] = Counter(used_categories or {})
    chosen: list[list[tuple[int, Recommendation]]] = [[] for _ in candidates]
    chosen_keys: list[set[str]] = [set() for _ in candidates]
    rejected: dict[str, object] = {}

    def cap_of(key: str) -> int | None:
        return item_caps.get(key, default_cap)

    def offer(lead: int, rank: int, recommendation: Recommendation) -> None:
        key = id_key(recommendation.item_id)
        if len(chosen[lead]) >= k or key in chosen_keys[lead]:
            return
        cap = cap_of(key)
        category = item_categories.get(key)
        category_cap = None if category is None else category_caps.get(category)
        if (cap is not None and item_counts[key] >= cap) or (
            category_cap is not None and category_counts[category or ""] >= category_cap
        ):
            rejected.setdefault(key, recommendation.item_id)
            return
        chosen[lead].append((rank, recommendation))
        chosen_keys[lead].add(key)
        item_counts[key] += 1
        if category is not None:
            category_counts[category] += 1

    pairs = []
    score_uncapped = 0.0
    for lead, ranked in enumerate(candidates):
        similar = [(rank, item) for rank, item in enumerate(ranked) if item.reason != "popular"]
        score_uncapped += sum(item.score for _, item in similar[:k])
        best = max((item.score for _, item in similar), default=0.0)
        for rank, item in similar:
            relative = item.score / best if best > 0 else 0.0
            pairs.append((-relative, -item.score, lead, rank, item))
    pairs.sort(key=lambda pair: pair[:4])
    for _, _, lead, rank, item in pairs:
        offer(lead, rank, item)
    score_capped = sum(item.score for picks in chosen for _, item in picks)

    for lead, ranked in enumerate(candidates):
        for rank, item in enumerate(ranked):
            if item.reason == "popular":
                offer(lead, rank, item)

    assignment = [[item for _, item in sorted(picks, key=lambda pick: pick[0])] for picks in chosen]
    report = CapReport(
        leads=len(candidates),
        score_uncapped=float(score_uncapped),
        score_capped=float(score_capped),
        items_at_cap=tuple(rejected.values()),
    )
    return assignment, report
