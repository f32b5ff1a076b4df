"""Tests of the implicit adapters against implicit itself and recsys's own models."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import (
    DataValidationError,
    ImplicitALS,
    ImplicitBM25,
    ImplicitCosine,
    ImplicitTFIDF,
    Interactions,
    ItemKNN,
    load,
)
from recsys.models.implicit_adapters import _ImplicitItemItem


@pytest.fixture(scope="module")
def implicit() -> ModuleType:
    return pytest.importorskip("implicit")


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    """Purchases with random float weights (seeded), so that ties are unlikely."""
    generator = np.random.default_rng(21)
    rows = []
    for user in range(60):
        for item in generator.choice(25, size=int(generator.integers(1, 9)), replace=False):
            rows.append((f"u{user:02d}", f"i{item:02d}", "purchase", float(generator.uniform(1.0, 5.0))))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "weight"])
    return Interactions.from_events(events, event_weights={"purchase": 1.0})


def implicit_item_model(implicit: ModuleType, adapter: _ImplicitItemItem, k: int) -> object:
    nearest_neighbours = implicit.nearest_neighbours
    if isinstance(adapter, ImplicitCosine):
        return nearest_neighbours.CosineRecommender(K=k)
    if isinstance(adapter, ImplicitBM25):
        return nearest_neighbours.BM25Recommender(K=k, K1=adapter.k1, B=adapter.b)
    return nearest_neighbours.TFIDFRecommender(K=k)


ITEM_ADAPTERS = [
    pytest.param(lambda: ImplicitCosine(n_neighbors=6), id="cosine"),
    pytest.param(lambda: ImplicitBM25(n_neighbors=6, k1=1.5, b=0.6), id="bm25"),
    pytest.param(lambda: ImplicitTFIDF(n_neighbors=6), id="tfidf"),
]


# --------------------------------------------------------------------------- item-item


@pytest.mark.parametrize("make_adapter", ITEM_ADAPTERS)
def test_adapter_similar_items_match_implicit(
    implicit: ModuleType, interactions: Interactions, make_adapter: object
) -> None:
    adapter = make_adapter().fit(interactions)  # type: ignore[operator]
    reference = implicit_item_model(implicit, adapter, k=7)
    with warnings.catch_warnings():
        # implicit warns about converting its own COO matrix to CSR.
        warnings.simplefilter("ignore", implicit.utils.ParameterWarning)
        reference.fit(sp.csr_matrix(interactions.user_items), show_progress=False)  # type: ignore[attr-defined]

    for item in range(len(adapter.item_ids_)):
        ids, scores = reference.similar_items(item, N=7)  # type: ignore[attr-defined]
        keep = (ids != item) & (scores > 0)
        ids, scores = ids[keep][:6], scores[keep][:6]

        result = adapter.similar_items(adapter.item_ids_.id_of(item), n=6)

        assert result.item_ids == adapter.item_ids_.ids_of(ids), f"item {item}"
        np.testing.assert_allclose(result.scores, scores, rtol=1e-6, err_msg=f"item {item}")


@pytest.mark.parametrize(
    ("make_adapter", "equivalent"),
    [
        (lambda: ImplicitCosine(n_neighbors=5), lambda: ItemKNN(similarity="cosine", n_neighbors=5)),
        (
            lambda: ImplicitBM25(n_neighbors=5),
            lambda: ItemKNN(weighting="bm25", similarity="cooccurrence", n_neighbors=5),
        ),
        (
            lambda: ImplicitTFIDF(n_neighbors=5),
            lambda: ItemKNN(weighting="tfidf", similarity="cosine", n_neighbors=5),
        ),
    ],
    ids=["cosine", "bm25", "tfidf"],
)
def test_adapter_matches_item_knn_weighting(
    implicit: ModuleType, interactions: Interactions, make_adapter: object, equivalent: object
) -> None:
    adapter = make_adapter().fit(interactions)  # type: ignore[operator]
    knn = equivalent().fit(interactions)  # type: ignore[operator]

    assert np.array_equal(adapter.similarity_.indptr, knn.similarity_.indptr)
    assert np.array_equal(adapter.similarity_.indices, knn.similarity_.indices)
    np.testing.assert_allclose(adapter.similarity_.data, knn.similarity_.data, rtol=1e-5)


def test_adapter_rows_without_diagonal(implicit: ModuleType, interactions: Interactions) -> None:
    adapter = ImplicitCosine(n_neighbors=3).fit(interactions)

    similarity = adapter.similarity_
    assert similarity.dtype == np.float32
    assert similarity.has_canonical_format
    assert np.all(np.diff(similarity.indptr) <= 3)
    assert np.all(similarity.diagonal() == 0)
    assert (similarity.data > 0).all()


def test_adapter_n_neighbors_invalid(implicit: ModuleType, interactions: Interactions) -> None:
    with pytest.raises(DataValidationError, match=r"n_neighbors must be an int >= 1; got 0"):
        ImplicitCosine(n_neighbors=0).fit(interactions)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k1": -0.5}, r"k1 must be a finite number >= 0; got -0.5"),
        ({"b": 2.0}, r"b must be a number between 0 and 1; got 2.0"),
    ],
)
def test_adapter_bm25_invalid(
    implicit: ModuleType, interactions: Interactions, params: dict[str, float], message: str
) -> None:
    with pytest.raises(DataValidationError, match=message):
        ImplicitBM25(**params).fit(interactions)


# --------------------------------------------------------------------------- ALS


@pytest.fixture(scope="module")
def als(implicit: ModuleType, interactions: Interactions) -> ImplicitALS:
    return ImplicitALS(factors=6, iterations=8, regularization=0.1, random_state=3).fit(interactions)


def test_als_deterministic(implicit: ModuleType, interactions: Interactions, als: ImplicitALS) -> None:
    again = ImplicitALS(factors=6, iterations=8, regularization=0.1, random_state=3).fit(interactions)
    other_seed = ImplicitALS(factors=6, iterations=8, regularization=0.1, random_state=4).fit(interactions)

    assert np.array_equal(again.item_factors_, als.item_factors_)
    assert np.array_equal(again.user_factors_, als.user_factors_)
    assert again.version_ == als.version_
    assert not np.array_equal(other_seed.item_factors_, als.item_factors_)


def test_als_scores_match_recalculate_user(implicit: ModuleType, als: ImplicitALS) -> None:
    reference = implicit.cpu.als.AlternatingLeastSquares(factors=6, regularization=0.1, alpha=1.0)
    reference.item_factors = als.item_factors_.copy()
    reference.user_factors = als.user_factors_.copy()
    user_items = sp.csr_matrix(als.user_items_)

    for user in range(0, len(als.user_ids_), 7):
        factor = reference.recalculate_user(user, user_items[user])
        expected = als.item_factors_.astype(np.float64) @ factor.astype(np.float64)
        history, weights = als._user_history(user)

        scores = als._score(history, weights)

        np.testing.assert_allclose(scores, np.maximum(expected, 0.0), rtol=1e-4, atol=1e-5)


def test_als_known_user_equals_basket(als: ImplicitALS) -> None:
    user_id = als.user_ids_.id_of(5)
    history, weights = als._user_history(5)
    basket = dict(zip(als.item_ids_.ids_of(history), weights.tolist(), strict=True))

    from_user = als.recommend(user_id, n=8)
    from_basket = als.recommend_basket(basket, n=8)

    assert from_user.item_ids == from_basket.item_ids
    assert from_user.scores == from_basket.scores


def test_als_explain_sums_to_score(als: ImplicitALS) -> None:
    user_id = als.user_ids_.id_of(2)
    history, weights = als._user_history(2)

    for item in als.recommend(user_id, n=5):
        target = als.item_ids_.index_of(item.item_id)
        contributions = als._contributions(history, weights, np.array([target]))[0]
        frame = als.explain(item.item_id, user_id=user_id)

        assert contributions.sum() == pytest.approx(item.score, rel=1e-9)
        assert frame["contribution"].tolist() == sorted(contributions[contributions > 0], reverse=True)
        assert item.because == tuple(frame["history_item_id"][:3])


def test_als_similar_items_cosine(als: ImplicitALS) -> None:
    factors = als.item_factors_.astype(np.float64)
    norms = np.linalg.norm(factors, axis=1)
    cosines = factors @ factors[4] / (norms * norms[4])
    cosines[4] = 0.0

    result = als.similar_items(als.item_ids_.id_of(4), n=30)

    expected = sorted((j for j in range(len(cosines)) if cosines[j] > 0), key=lambda j: (-cosines[j], j))
    assert result.item_ids == als.item_ids_.ids_of(expected)
    np.testing.assert_allclose(result.scores, cosines[expected], rtol=1e-12)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"factors": 0}, r"factors must be an int >= 1; got 0"),
        ({"iterations": 1.5}, r"iterations must be an int >= 1; got 1.5"),
        ({"regularization": 0.0}, r"regularization must be a finite number > 0; got 0.0"),
        ({"alpha": math.nan}, r"alpha must be a finite number > 0; got nan"),
        ({"random_state": -1}, r"random_state must be an int >= 0; got -1"),
        ({"random_state": None}, r"random_state must be an int >= 0; got None"),
    ],
)
def test_als_invalid_parameters(
    implicit: ModuleType, interactions: Interactions, params: dict[str, object], message: str
) -> None:
    with pytest.raises(DataValidationError, match=message):
        ImplicitALS(**params).fit(interactions)  # type: ignore[arg-type]


def test_als_fit_leaves_no_blas_warning(implicit: ModuleType, interactions: Interactions) -> None:
    # The suite turns warnings into errors, so a fit that warned would fail here.
    implicit.utils._checked_blas_config = False

    ImplicitALS(factors=4, iterations=2).fit(interactions)


# --------------------------------------------------------------------------- without implicit


def hide_implicit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``import implicit...`` fail, as if implicit were not installed."""
    for name in [name for name in sys.modules if name == "implicit" or name.startswith("implicit.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "implicit", None)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: ImplicitCosine(n_neighbors=4),
        lambda: ImplicitBM25(n_neighbors=4),
        lambda: ImplicitTFIDF(n_neighbors=4),
        lambda: ImplicitALS(factors=4, iterations=3),
    ],
    ids=["cosine", "bm25", "tfidf", "als"],
)
def test_adapter_loads_without_implicit(
    implicit: ModuleType,
    interactions: Interactions,
    make_model: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = make_model().fit(interactions)  # type: ignore[operator]
    model.save(tmp_path / "model")
    expected = model.recommend(model.user_ids_.id_of(0), n=5)
    hide_implicit(monkeypatch)

    loaded = load(tmp_path / "model")

    assert type(loaded) is type(model)
    assert loaded.recommend(model.user_ids_.id_of(0), n=5) == expected
    with pytest.raises(ImportError, match=rf"{type(model).__name__} needs the implicit package to fit"):
        make_model().fit(interactions)  # type: ignore[operator]


def test_import_recsys_skips_implicit() -> None:
    code = "import sys, recsys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('implicit', 'threadpoolctl')))"

    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert output.strip() == "[]"
