"""Tests of EASE against a dense NumPy computation of the closed form."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import EASE, DataValidationError, Interactions, RecsysWarning
from recsys.models.ease import ease_weights


def random_interactions(seed: int, n_users: int = 40, n_items: int = 15) -> Interactions:
    """Build purchases of weight 1 on random (user, item) pairs (seeded)."""
    generator = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        for item in generator.choice(n_items, size=int(generator.integers(1, 7)), replace=False):
            rows.append((f"u{user:02d}", f"i{item:02d}", "purchase"))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event"])
    return Interactions.from_events(events, event_weights={"purchase": 1.0})


def oracle_weights(matrix: np.ndarray, l2: float) -> np.ndarray:
    """Return B = I - P diag(1 / diag(P)) with P = (X^T X + l2 I)^-1, diagonal set to 0."""
    n_items = matrix.shape[1]
    inverse = np.linalg.inv(matrix.T @ matrix + l2 * np.eye(n_items))
    weights = np.eye(n_items) - inverse @ np.diag(1.0 / np.diag(inverse))
    np.fill_diagonal(weights, 0.0)
    return weights


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("l2", [0.5, 10.0, 500.0])
def test_ease_weights_match_oracle(seed: int, l2: float) -> None:
    generator = np.random.default_rng(seed)
    matrix = np.where(generator.random((30, 12)) < 0.3, generator.uniform(0.5, 5.0, (30, 12)), 0.0)

    result = ease_weights(sp.csr_array(matrix), l2=l2)

    expected = oracle_weights(matrix, l2)
    assert result.dtype == np.float32
    assert result.flags.c_contiguous
    assert np.all(np.diag(result) == 0)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-7 * np.abs(expected).max())


def test_ease_weights_closed_form_optimum() -> None:
    # B minimises ||X - XB||^2 + l2 ||B||^2 with diag(B) = 0: the gradient of each
    # column vanishes off the diagonal.
    generator = np.random.default_rng(3)
    matrix = (generator.random((50, 10)) < 0.35).astype(np.float64)
    l2 = 4.0

    weights = ease_weights(sp.csr_array(matrix), l2=l2).astype(np.float64)

    gradient = -matrix.T @ (matrix - matrix @ weights) + l2 * weights
    np.fill_diagonal(gradient, 0.0)
    np.testing.assert_allclose(gradient, 0.0, atol=1e-4)


# --------------------------------------------------------------------------- requests


@pytest.fixture(scope="module")
def fitted() -> EASE:
    return EASE(l2=5.0).fit(random_interactions(4))


def test_ease_model_weights(fitted: EASE) -> None:
    matrix = fitted.user_items_.toarray().astype(np.float64)

    np.testing.assert_allclose(fitted.weights_, oracle_weights(matrix, 5.0), rtol=1e-5, atol=1e-7)


def test_ease_basket_scores_positive_only(fitted: EASE) -> None:
    weights = fitted.weights_.astype(np.float64)
    basket = {"i03": 1.0, "i08": 2.0}
    positions = [fitted.item_ids_.index_of(item) for item in basket]
    scores = 1.0 * weights[positions[0]] + 2.0 * weights[positions[1]]

    result = fitted.recommend_basket(basket, n=15)

    candidates = [j for j in np.argsort(-scores, kind="stable") if j not in positions and scores[j] > 0]
    assert (np.delete(scores, positions) < 0).any(), "the basket should give some item a negative score"
    assert result.item_ids == fitted.item_ids_.ids_of(candidates)
    np.testing.assert_allclose(result.scores, scores[candidates], rtol=1e-9)


def test_ease_because_and_explain(fitted: EASE) -> None:
    basket = {"i01": 1.0, "i05": 1.5, "i09": 0.5}
    positions = {fitted.item_ids_.index_of(item): weight for item, weight in basket.items()}

    for item in fitted.recommend_basket(basket, n=5):
        target = fitted.item_ids_.index_of(item.item_id)
        shares = {i: weight * float(fitted.weights_[i, target]) for i, weight in positions.items()}
        positive = sorted((i for i in shares if shares[i] > 0), key=lambda i: (-shares[i], i))
        assert item.because == tuple(fitted.item_ids_.ids_of(positive[:3])), item.item_id

        frame = fitted.explain(item.item_id, basket=basket)
        assert frame["history_item_id"].tolist() == fitted.item_ids_.ids_of(positive)
        np.testing.assert_allclose(frame["contribution"], [shares[i] for i in positive], rtol=1e-12)


def test_ease_similar_items(fitted: EASE) -> None:
    item = fitted.item_ids_.index_of("i02")
    row = fitted.weights_[item].astype(np.float64)

    result = fitted.similar_items("i02", n=20)

    expected = sorted((j for j in range(len(row)) if row[j] > 0), key=lambda j: (-row[j], j))
    assert result.item_ids == fitted.item_ids_.ids_of(expected)
    assert result.scores == row[expected].tolist()


def test_ease_saved_as_float32_array(fitted: EASE, tmp_path: Path) -> None:
    fitted.save(tmp_path / "model")

    stored = np.load(tmp_path / "model" / "ease_weights.npy", allow_pickle=False)
    loaded = EASE.load(tmp_path / "model")

    assert stored.dtype == np.float32
    assert np.array_equal(stored, fitted.weights_)
    assert loaded.get_params() == {
        "l2": 5.0,
        "event_weights": None,
        "half_life_days": None,
        "count_repeats": None,
    }
    assert loaded.recommend_basket(["i03"]).scores == fitted.recommend_basket(["i03"]).scores


# --------------------------------------------------------------------------- limits and errors


def test_ease_item_limit_rejected() -> None:
    n_items = EASE.MAX_ITEMS + 1
    events = pd.DataFrame(
        {"user_id": np.arange(n_items) // 2, "item_id": np.arange(n_items), "event": "purchase"}
    )

    with pytest.raises(DataValidationError, match=r"20,001 items would take about 9\.6 GB") as error:
        EASE().fit(events)

    assert "3 * n_items**2 * 8 bytes" in str(error.value)
    assert "use ItemKNN or RP3Beta" in str(error.value)


def test_ease_item_count_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EASE, "WARN_ITEMS", 10)
    interactions = random_interactions(5)

    with pytest.warns(RecsysWarning, match=r"EASE on 15 items needs about 0\.0 GB to fit"):
        EASE().fit(interactions)


def test_ease_default_l2() -> None:
    assert EASE().get_params()["l2"] == 500.0


@pytest.mark.parametrize("l2", [0.0, -1.0, math.nan, math.inf, True, "500"])
def test_ease_invalid_l2(l2: object) -> None:
    with pytest.raises(DataValidationError, match=rf"l2 must be a finite number > 0; got {l2!r}"):
        EASE(l2=l2).fit(random_interactions(6))  # type: ignore[arg-type]
