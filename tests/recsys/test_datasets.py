"""Loaders of the bundled public datasets."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from recsys import DataValidationError, Interactions
from recsys.datasets import NON_PRODUCT_STOCK_CODES, load_online_retail, load_otto
from tests.conftest import ONLINE_RETAIL, OTTO_DIR

OTTO_JSONL = OTTO_DIR / "otto_train_20sessions.jsonl.gz"
OTTO_CSV = OTTO_DIR / "otto_train_20sessions_events.csv"

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def write_retail(tmp_path, lines: list[str]):
    path = tmp_path / "retail.csv"
    path.write_text(RETAIL_HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_online_retail_rules_on_small_file(tmp_path):
    path = write_retail(
        tmp_path,
        [
            "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
            "536365,71053,WHITE METAL LANTERN ,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
            "536366,POST,POSTAGE,1,2010-12-01 08:28:00,18.0,17850.0,United Kingdom",
            "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,2010-12-01 09:41:00,2.55,17850.0,United Kingdom",
            "536367,22752,SET 7 BABUSHKA NESTING BOXES,2,2010-12-01 08:34:00,7.65,,United Kingdom",
            "536368,85123a,,3,2010-12-01 08:35:00,2.55,13047.0,United Kingdom",
        ],
    )

    events, items = load_online_retail(path)

    assert events["user_id"].tolist() == [17850, 17850, 13047]
    assert events["item_id"].tolist() == ["85123A", "71053", "85123a"]
    assert set(events["event"]) == {"purchase"}
    assert str(events["timestamp"].dt.tz) == "UTC"
    assert events["user_id"].dtype == "int64"
    assert items.set_index("item_id")["description"].to_dict() == {
        "71053": "WHITE METAL LANTERN",
        "85123A": "WHITE HANGING HEART T-LIGHT HOLDER",
    }


def test_online_retail_missing_file_names_path(tmp_path):
    with pytest.raises(DataValidationError, match=r"nowhere\.csv"):
        load_online_retail(tmp_path / "nowhere.csv")


def test_online_retail_missing_column_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("InvoiceNo,StockCode\n1,2\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="CustomerID"):
        load_online_retail(path)


@pytest.mark.slow
def test_online_retail_bundled_counts():
    events, items = load_online_retail(ONLINE_RETAIL)

    # 397,924 sale lines with a customer, less 1,554 lines of fee and postage codes.
    assert len(events) == 396_370
    assert events["user_id"].nunique() == 4_335
    assert events["item_id"].nunique() == 3_659
    assert not set(events["item_id"]) & NON_PRODUCT_STOCK_CODES
    assert items.set_index("item_id").loc["85123A", "description"] == "WHITE HANGING HEART T-LIGHT HOLDER"


def test_otto_jsonl_and_csv_agree():
    from_jsonl = load_otto(OTTO_JSONL)
    from_csv = load_otto(OTTO_CSV)

    pd.testing.assert_frame_equal(from_jsonl, from_csv)


def test_otto_sample_counts():
    events = load_otto(OTTO_JSONL)

    assert len(events) == 862
    assert events["event"].value_counts().to_dict() == {"view": 800, "cart": 52, "purchase": 10}
    assert events["user_id"].nunique() == 20
    assert events["item_id"].nunique() == 527
    assert events["timestamp"].min() == pd.Timestamp("2022-07-31 22:00:00.025", tz="UTC")


def test_otto_sample_fits_with_event_weights():
    interactions = Interactions.from_events(load_otto(OTTO_JSONL))

    assert interactions.shape == (20, 527)
    assert interactions.event_user_items["purchase"].nnz == 10
    assert interactions.user_items.nnz == 527


def test_otto_bad_line_named(tmp_path):
    path = tmp_path / "broken.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write('{"session": 1, "events": [{"aid": 5, "ts": 1, "type": "clicks"}]}\n{"session": 2,\n')
    with pytest.raises(DataValidationError, match="line 2"):
        load_otto(path)


def test_otto_unknown_type_named(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("session,aid,ts,type\n1,5,1000,likes\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="likes"):
        load_otto(path)
