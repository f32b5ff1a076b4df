"""Tests of recsys.rules: ranking, blocked items and popular backfill."""

from __future__ import annotations

import numpy as np
import pytest

from recsys import rules


def reference_top_n(scores: np.ndarray, blocked: np.ndarray, n: int) -> np.ndarray:
    """Rank by a full sort: descending score, ties by ascending position."""
    candidates = [
        position for position in range(len(scores)) if scores[position] > 0 and not blocked[position]
    ]
    candidates.sort(key=lambda position: (-scores[position], position))
    return np.array(candidates[:n], dtype=np.int64)


def test_top_n_descending_scores() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.7])

    chosen = rules.top_n(scores, np.zeros(4, dtype=bool), 3)

    assert chosen.tolist() == [1, 3, 2]


def test_top_n_ties_to_smaller_position() -> None:
    scores = np.array([1.0, 2.0, 2.0, 1.0, 2.0])

    chosen = rules.top_n(scores, np.zeros(5, dtype=bool), 4)

    assert chosen.tolist() == [1, 2, 4, 0]


def test_top_n_skips_zero_and_blocked() -> None:
    scores = np.array([0.0, 3.0, 2.0, 1.0, 0.0])
    blocked = np.array([False, True, False, False, False])

    chosen = rules.top_n(scores, blocked, 10)

    assert chosen.tolist() == [2, 3]


def test_top_n_zero_n() -> None:
    chosen = rules.top_n(np.array([1.0, 2.0]), np.zeros(2, dtype=bool), 0)

    assert chosen.dtype == np.int64
    assert len(chosen) == 0


def test_top_n_partition_equals_full_sort(rng: np.random.Generator) -> None:
    # Integer scores give many ties at the n-th place. With many more candidates
    # than n, top_n takes the partition path.
    for n in (1, 3, 10, 25):
        scores = rng.integers(0, 6, size=1000).astype(np.float64)
        blocked = rng.random(1000) < 0.2
        assert (scores > 0).sum() > rules._PARTITION_FACTOR * n

        chosen = rules.top_n(scores, blocked, n)

        assert chosen.tolist() == reference_top_n(scores, blocked, n).tolist(), f"n={n}"


def test_top_n_few_candidates_equals_full_sort(rng: np.random.Generator) -> None:
    scores = rng.integers(0, 4, size=30).astype(np.float64)
    blocked = rng.random(30) < 0.3

    chosen = rules.top_n(scores, blocked, 10)

    assert chosen.tolist() == reference_top_n(scores, blocked, 10).tolist()


def test_blocked_mask_excluded() -> None:
    blocked = rules.blocked_mask(5, excluded=np.array([1, 3]))

    assert blocked.tolist() == [False, True, False, True, False]


def test_blocked_mask_allowed() -> None:
    blocked = rules.blocked_mask(5, allowed=np.array([0, 4]))

    assert blocked.tolist() == [False, True, True, True, False]


def test_blocked_mask_allowed_and_excluded() -> None:
    blocked = rules.blocked_mask(4, excluded=np.array([0]), allowed=np.array([0, 2]))

    assert blocked.tolist() == [True, True, False, True]


def test_blocked_mask_empty_allow_blocks_all() -> None:
    blocked = rules.blocked_mask(3, allowed=np.empty(0, dtype=np.int64))

    assert blocked.all()


def test_blocked_mask_defaults_block_nothing() -> None:
    blocked = rules.blocked_mask(3, excluded=np.empty(0, dtype=np.int64))

    assert blocked.dtype == bool
    assert not blocked.any()


def test_backfill_skips_chosen_and_blocked() -> None:
    popular_order = np.array([4, 2, 0, 3, 1])
    blocked = np.array([False, False, True, False, False])

    fill = rules.backfill(np.array([4]), popular_order, blocked, 4)

    assert fill.dtype == np.int64
    assert fill.tolist() == [0, 3, 1]


def test_backfill_stops_at_n() -> None:
    fill = rules.backfill(np.empty(0, dtype=np.int64), np.array([2, 0, 1]), np.zeros(3, dtype=bool), 2)

    assert fill.tolist() == [2, 0]


@pytest.mark.parametrize("n", [0, 1, 2])
def test_backfill_full_list(n: int) -> None:
    fill = rules.backfill(np.array([0, 1]), np.array([2, 0, 1]), np.zeros(3, dtype=bool), n)

    assert len(fill) == 0


def test_backfill_runs_out() -> None:
    fill = rules.backfill(np.array([0]), np.array([0, 1]), np.zeros(3, dtype=bool), 10)

    assert fill.tolist() == [1]
