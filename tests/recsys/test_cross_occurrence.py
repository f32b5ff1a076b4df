"""CrossOccurrence: indicators, pruning, scoring by event type, reasons and persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import CrossOccurrence, DataValidationError, ItemKNN, load
from recsys.llr import log_likelihood_ratio


def shop_events() -> pd.DataFrame:
    """Ten users: viewers of "lamp" tend to buy "bulb", buyers of "desk" buy "chair"."""
    rows = [
        ("u1", "lamp", "view"), ("u1", "bulb", "purchase"),
        ("u2", "lamp", "view"), ("u2", "bulb", "purchase"),
        ("u3", "lamp", "view"), ("u3", "bulb", "purchase"), ("u3", "lamp", "purchase"),
        ("u4", "desk", "purchase"), ("u4", "chair", "purchase"),
        ("u5", "desk", "purchase"), ("u5", "chair", "purchase"), ("u5", "desk", "cart"),
        ("u6", "desk", "purchase"), ("u6", "chair", "cart"),
        ("u7", "lamp", "view"),
        ("u8", "rug", "view"), ("u8", "desk", "view"),
        ("u9", "rug", "purchase"), ("u9", "chair", "view"),
        ("u10", "desk", "view"), ("u10", "chair", "purchase"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event"])


def indicator(model: CrossOccurrence, event: str, history_item: str, item: str) -> float:
    slot = model.indicator_events_.index(event)
    row = slot * len(model.item_ids_) + model.item_ids_.index_of(history_item)
    return float(model.indicators_[row, model.item_ids_.index_of(item)])


@pytest.fixture
def model() -> CrossOccurrence:
    return CrossOccurrence().fit(shop_events())


def test_indicator_events_primary_first(model: CrossOccurrence) -> None:
    assert model.indicator_events_ == ("purchase", "view", "cart")
    assert model.indicators_.shape == (3 * 5, 5)


def test_cross_indicator_equals_hand_llr(model: CrossOccurrence) -> None:
    # Viewed lamp: u1 u2 u3 u7 (4). Bought bulb: u1 u2 u3 (3). Both: 3. N = 10 users.
    expected = float(log_likelihood_ratio(3, 4 - 3, 3 - 3, 10 - 4 - 3 + 3))

    assert indicator(model, "view", "lamp", "bulb") == pytest.approx(expected, rel=1e-6)


def test_primary_indicator_equals_hand_llr(model: CrossOccurrence) -> None:
    # Bought desk: u4 u5 u6 (3). Bought chair: u4 u5 u10 (3). Both: 2. N = 10.
    expected = float(log_likelihood_ratio(2, 1, 1, 6))

    assert indicator(model, "purchase", "desk", "chair") == pytest.approx(expected, rel=1e-6)


def test_primary_diagonal_dropped_cross_kept(model: CrossOccurrence) -> None:
    # u3 viewed and bought lamp: the view indicator keeps (lamp, lamp).
    assert indicator(model, "purchase", "desk", "desk") == 0.0
    assert indicator(model, "view", "lamp", "lamp") > 0.0


def test_under_represented_pairs_dropped(model: CrossOccurrence) -> None:
    # Viewers of desk (u8, u10) bought chair once and desk never: desk is under-represented.
    assert indicator(model, "view", "desk", "desk") == 0.0
    assert (model.indicators_.data > 0).all()


def test_min_llr_prunes_pairs() -> None:
    loose = CrossOccurrence(min_llr=0.0).fit(shop_events())
    values = np.unique(loose.indicators_.data.astype(np.float64))
    # A threshold between two stored values, so float32 rounding cannot decide.
    threshold = float((values[len(values) // 2 - 1] + values[len(values) // 2]) / 2)

    strict = CrossOccurrence(min_llr=threshold).fit(shop_events())

    assert strict.indicators_.nnz < loose.indicators_.nnz
    assert strict.indicators_.data.min() >= threshold
    kept = loose.indicators_.toarray()
    np.testing.assert_array_equal(strict.indicators_.toarray(), np.where(kept >= threshold, kept, 0.0))


def test_n_neighbors_prunes_each_row() -> None:
    full = CrossOccurrence(n_neighbors=50).fit(shop_events()).indicators_.toarray()

    top1 = CrossOccurrence(n_neighbors=1).fit(shop_events()).indicators_.toarray()

    assert (np.count_nonzero(top1, axis=1) <= 1).all()
    for row in np.flatnonzero(full.any(axis=1)):
        best = np.lexsort((np.arange(full.shape[1]), -full[row]))[0]
        assert top1[row, best] == full[row, best]


def test_score_sums_weighted_indicators() -> None:
    weights = {"purchase": 1.0, "view": 0.5, "cart": 2.0}
    model = CrossOccurrence(indicator_weights={"view": 0.5, "cart": 2.0}).fit(shop_events())
    events = shop_events()

    for user_id, history in events.groupby("user_id"):
        result = model.recommend(user_id, 10, exclude_seen=False)
        for item in result:
            expected = sum(
                weights[event] * indicator(model, event, history_item, str(item.item_id))
                for history_item, event in history[["item_id", "event"]]
                .drop_duplicates()
                .itertuples(index=False)
            )
            assert item.score == pytest.approx(expected, rel=1e-6), f"user {user_id} item {item.item_id}"


def test_recommend_signal_names_view(model: CrossOccurrence) -> None:
    # u7 only viewed lamp, so bulb comes from the view indicator.
    top = model.recommend("u7", 1)[0]

    assert top.item_id == "bulb"
    assert top.signals == (("view", "lamp"),)
    assert top.because == ("lamp",)


def test_because_counts_item_once() -> None:
    # u3 viewed and bought lamp: both keys point at lamp, so because names it once.
    model = CrossOccurrence().fit(shop_events())
    events = shop_events()
    viewed_and_bought = events[events["user_id"] == "u3"]

    result = model.recommend_basket(["lamp"], 3)
    user_result = model.recommend("u3", 5, exclude_seen=False)

    assert len(viewed_and_bought) == 3
    for item in user_result:
        assert len(item.because) == len(set(item.because))
    assert all(event == "purchase" for item in result for event, _ in item.signals)


def test_view_weight_zero_drops_view_signals() -> None:
    model = CrossOccurrence(indicator_weights={"view": 0.0}).fit(shop_events())

    result = model.recommend("u7", 5)

    assert len(result) == 0
    assert model.recommend("u7", 5, backfill=True).fallback


def test_secondary_events_subset() -> None:
    model = CrossOccurrence(secondary_events=["cart"]).fit(shop_events())

    assert model.indicator_events_ == ("purchase", "cart")
    assert len(model.recommend("u7", 5)) == 0


def test_explain_event_column(model: CrossOccurrence) -> None:
    top = model.recommend("u10", 1, exclude_seen=False)[0]

    frame = model.explain(top.item_id, user_id="u10")

    assert list(frame.columns) == ["history_item_id", "event", "weight", "contribution"]
    assert set(zip(frame["event"], frame["history_item_id"], strict=True)) <= {
        ("view", "desk"),
        ("purchase", "chair"),
    }
    assert frame["contribution"].sum() == pytest.approx(top.score, rel=1e-6)
    assert tuple(zip(frame["event"], frame["history_item_id"], strict=True)) == top.signals


def test_explain_basket_reads_purchases(model: CrossOccurrence) -> None:
    frame = model.explain("chair", basket=["desk"])

    assert frame["event"].tolist() == ["purchase"]
    assert frame["contribution"].iloc[0] == pytest.approx(
        indicator(model, "purchase", "desk", "chair"), rel=1e-6
    )


def test_recent_views_count_as_views(model: CrossOccurrence) -> None:
    recent = pd.DataFrame({"item_id": ["lamp"], "event": ["view"]})

    result = model.recommend("new visitor", 2, recent=recent)

    assert result.item_ids[0] == "bulb"
    assert result[0].signals == (("view", "lamp"),)
    assert "lamp" not in result.item_ids


def test_similar_items_uses_purchases(model: CrossOccurrence) -> None:
    result = model.similar_items("desk")

    assert result.item_ids == ["chair"]
    assert result[0].because == ("desk",)


def test_other_models_have_no_signals() -> None:
    knn = ItemKNN().fit(shop_events())

    assert all(item.signals == () for item in knn.recommend("u7", 5, backfill=True))


def test_to_frame_adds_signals(model: CrossOccurrence) -> None:
    frame = model.recommend("u7", 1).to_frame()

    assert list(frame.columns) == ["item_id", "score", "reason", "because", "signals"]
    assert frame["signals"].tolist() == [[("view", "lamp")]]


def test_to_frame_signals_option(model: CrossOccurrence) -> None:
    popular = model.recommend("nobody", 2)
    knn_result = ItemKNN().fit(shop_events()).recommend("u7", 3)

    assert "signals" not in popular.to_frame().columns
    assert popular.to_frame(signals=True)["signals"].tolist() == [[], []]
    assert list(knn_result.to_frame().columns) == ["item_id", "score", "reason", "because"]
    assert "signals" not in model.recommend("u7", 1).to_frame(signals=False).columns


def test_save_load_keeps_indicators(model: CrossOccurrence, tmp_path: Path) -> None:
    model.save(tmp_path / "cco")

    loaded = load(tmp_path / "cco")

    assert isinstance(loaded, CrossOccurrence)
    assert loaded.indicator_events_ == model.indicator_events_
    np.testing.assert_array_equal(loaded.indicators_.toarray(), model.indicators_.toarray())
    np.testing.assert_array_equal(loaded.indicator_weights_, model.indicator_weights_)
    assert loaded.recommend("u7", 3) == model.recommend("u7", 3)
    manifest = (tmp_path / "cco" / "manifest.json").read_text(encoding="utf-8")
    assert '"model_class": "CrossOccurrence"' in manifest


def test_params_round_trip(tmp_path: Path) -> None:
    model = CrossOccurrence(secondary_events=("view",), indicator_weights={"view": 0.25}).fit(shop_events())
    model.save(tmp_path / "cco")

    loaded = CrossOccurrence.load(tmp_path / "cco")

    assert loaded.get_params() == model.get_params()
    assert loaded.get_params()["secondary_events"] == ["view"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"primary_event": "order"}, r"primary_event='order' is not an event type of the data"),
        ({"secondary_events": ["purchase"]}, r"secondary_events names 'purchase'"),
        ({"secondary_events": "view"}, r"secondary_events must be a list of event types"),
        ({"n_neighbors": 0}, r"n_neighbors must be an int >= 1; got 0"),
        ({"min_llr": -1.0}, r"min_llr must be a finite number >= 0; got -1.0"),
        ({"indicator_weights": {"click": 1.0}}, r"indicator_weights names \['click'\]"),
        (
            {"indicator_weights": {"view": float("nan")}},
            r"indicator_weights\['view'\] must be a finite number",
        ),
    ],
)
def test_invalid_params_rejected(params: dict[str, object], message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        CrossOccurrence(**params).fit(shop_events())  # type: ignore[arg-type]


def test_no_primary_events_rejected() -> None:
    views = shop_events().assign(event="view")

    with pytest.raises(DataValidationError, match=r"the data has no 'purchase' events"):
        CrossOccurrence().fit(views)


def test_zero_weight_secondary_rejected() -> None:
    weights = {"view": 0.0, "cart": 3.0, "purchase": 5.0}

    with pytest.raises(DataValidationError, match=r"secondary event type 'view' has event weight 0"):
        CrossOccurrence(secondary_events=["view"], event_weights=weights).fit(shop_events())


def test_zero_weight_secondary_skipped_by_default() -> None:
    weights = {"view": 0.0, "cart": 3.0, "purchase": 5.0}

    model = CrossOccurrence(event_weights=weights).fit(shop_events())

    assert model.indicator_events_ == ("purchase", "cart")
