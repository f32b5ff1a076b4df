"""Tests of the per-group cap and the rule-aware backfill of recsys.rules."""

from __future__ import annotations

import numpy as np
import pytest

from recsys import rules


def reference_capped(
    scores: np.ndarray, blocked: np.ndarray, n: int, groups: np.ndarray, cap: int
) -> list[int]:
    """Pick greedily in (score desc, position asc) order, skipping items over their group's cap."""
    order = sorted(
        (position for position in range(len(scores)) if scores[position] > 0 and not blocked[position]),
        key=lambda position: (-scores[position], position),
    )
    counts: dict[int, int] = {}
    picked = []
    for position in order:
        group = int(groups[position])
        if group >= 0 and counts.get(group, 0) >= cap:
            continue
        counts[group] = counts.get(group, 0) + 1
        picked.append(position)
        if len(picked) == n:
            break
    return picked


def test_top_n_cap_hand_computed() -> None:
    scores = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0])
    groups = np.array([0, 0, 0, 1, -1, 1])
    blocked = np.zeros(6, dtype=bool)

    chosen = rules.top_n(scores, blocked, 4, groups=groups, max_per_group=1)

    # 1 and 2 are over group 0's cap, 5 over group 1's; 4 has no group.
    assert chosen.tolist() == [0, 3, 4]


def test_top_n_cap_fills_after_skipping() -> None:
    scores = np.array([9.0, 8.0, 7.0, 6.0])
    groups = np.array([0, 0, 1, 1])

    chosen = rules.top_n(scores, np.zeros(4, dtype=bool), 2, groups=groups, max_per_group=1)

    assert chosen.tolist() == [0, 2]


def test_top_n_cap_counts_taken() -> None:
    scores = np.array([9.0, 8.0, 7.0])
    groups = np.array([0, 0, 1])

    chosen = rules.top_n(
        scores, np.zeros(3, dtype=bool), 3, groups=groups, max_per_group=1, taken=np.array([1])
    )

    assert chosen.tolist() == [2]


def test_top_n_cap_equals_greedy(rng: np.random.Generator) -> None:
    for cap in (1, 2, 3):
        scores = rng.integers(0, 5, size=300).astype(np.float64)
        groups = rng.integers(-1, 6, size=300)
        blocked = rng.random(300) < 0.2

        chosen = rules.top_n(scores, blocked, 12, groups=groups, max_per_group=cap)

        assert chosen.tolist() == reference_capped(scores, blocked, 12, groups, cap), f"cap={cap}"


def test_backfill_ranked_boost_and_cap() -> None:
    popularity = np.array([10.0, 8.0, 6.0, 4.0, 0.0])
    multiplier = np.array([1.0, 1.0, 1.0, 3.0, 5.0])
    groups = np.array([0, 0, 1, 1, 1])

    fill = rules.backfill_ranked(
        np.array([0]),
        popularity,
        np.zeros(5, dtype=bool),
        4,
        multiplier=multiplier,
        groups=groups,
        max_per_group=1,
    )

    # 3 scores 12, then 2 (6) is over group 1's cap, 1 over group 0's (0 is chosen);
    # 4 has popularity 0 and is never used.
    assert fill.tolist() == [3]


def test_backfill_ranked_equals_backfill_without_rules(rng: np.random.Generator) -> None:
    popularity = rng.integers(0, 4, size=50).astype(np.float64)
    order = np.argsort(-popularity, kind="stable")
    popular_order = order[popularity[order] > 0]
    blocked = rng.random(50) < 0.3
    chosen = np.array([1, 2])

    assert (
        rules.backfill_ranked(chosen, popularity, blocked, 20).tolist()
        == rules.backfill(chosen, popular_order, blocked, 20).tolist()
    )


@pytest.mark.parametrize("cap", [0, -1, True, 1.5])
def test_rules_cap_checked(cap: object) -> None:
    with pytest.raises(rules.DataValidationError, match="max_per_category must be an int >= 1"):
        rules.Rules(max_per_category=cap)  # type: ignore[arg-type]


def test_rules_cache_key_ignores_now() -> None:
    first = rules.Rules(include={"category": "garden"}, now="2026-01-01")
    second = rules.Rules(include={"category": "garden"}, now="2027-01-01")

    assert first.cache_key() == second.cache_key()
    assert first.cache_key() != rules.Rules(include={"category": "kitchen"}).cache_key()


def test_range_needs_a_bound() -> None:
    with pytest.raises(rules.DataValidationError, match="a Range needs min, max or both"):
        rules.Range()
