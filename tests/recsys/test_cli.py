"""The ``recsys`` command line, run in-process through ``main``."""

from __future__ import annotations

import json

import pytest

from recsys import load
from recsys.cli import main
from tests.conftest import ONLINE_RETAIL, OTTO_DIR, purchases


@pytest.fixture
def events_csv(tmp_path):
    path = tmp_path / "events.csv"
    events = purchases({"a": ["x1", "x2"], "b": ["x1", "x2", "x3"], "c": ["x2", "x3"], "d": ["x4"]})
    events.to_csv(path, index=False)
    return path


@pytest.fixture
def model_dir(tmp_path, events_csv):
    out = tmp_path / "model"
    assert main(["-q", "train", "--events", str(events_csv), "--out", str(out)]) == 0
    return out


def test_train_writes_loadable_model(model_dir):
    model = load(model_dir)

    assert model.similarity == "cosine"
    assert model.recommend("a", 3).item_ids == ["x3"]


def test_train_passes_parameters(tmp_path, events_csv):
    out = tmp_path / "jaccard"
    argv = ["-q", "train", "--events", str(events_csv), "--out", str(out), "--similarity", "jaccard"]
    argv += ["--n-neighbors", "2", "--min-support", "2", "--event-weight", "purchase=2"]

    assert main(argv) == 0
    model = load(out)
    assert model.similarity == "jaccard"
    assert model.n_neighbors == 2
    assert model.min_support == 2
    assert model.data_params_["event_weights"] == {"purchase": 2.0}


def test_recommend_user_json(model_dir, capsys):
    assert main(["recommend", "--model", str(model_dir), "--user", "a", "--backfill", "--json"]) == 0

    payload = json.loads(capsys.readouterr().out)
    assert [row["item_id"] for row in payload["items"]] == ["x3", "x4"]
    assert [row["reason"] for row in payload["items"]] == ["similar", "popular"]
    assert payload["model_version"] == load(model_dir).version_


def test_recommend_item_table(model_dir, capsys):
    assert main(["recommend", "--model", str(model_dir), "--item", "x4"]) == 0

    assert "no recommendations" in capsys.readouterr().out


def test_recommend_basket_reports_unknown(model_dir, capsys):
    assert main(["recommend", "--model", str(model_dir), "--basket", "x1", "nope", "-n", "1"]) == 0

    out = capsys.readouterr().out
    assert "ignored unknown item ids: ['nope']" in out
    assert "x2" in out


def test_recommend_unknown_item_exits_2(model_dir, capsys):
    assert main(["recommend", "--model", str(model_dir), "--item", "zz"]) == 2

    assert "unknown item_id 'zz'" in capsys.readouterr().err


def test_recommend_missing_model_exits_2(tmp_path, capsys):
    assert main(["recommend", "--model", str(tmp_path / "none"), "--user", "a"]) == 2

    assert "model directory not found" in capsys.readouterr().err


def test_train_bad_event_weight_exits_2(tmp_path, events_csv, capsys):
    argv = ["train", "--events", str(events_csv), "--out", str(tmp_path / "m"), "--event-weight", "view"]

    assert main(argv) == 2
    assert "EVENT=WEIGHT" in capsys.readouterr().err


def test_train_negative_weight_names_column(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,event,weight\na,x1,purchase,1\nb,x1,purchase,-1\n", encoding="utf-8")

    assert main(["train", "--events", str(path), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "'weight'" in err
    assert "1 bad row" in err


def test_train_otto_format(tmp_path):
    out = tmp_path / "otto"
    argv = ["-q", "train", "--format", "otto", "--events", str(OTTO_DIR / "otto_train_20sessions.jsonl.gz")]

    assert main([*argv, "--out", str(out)]) == 0
    assert load(out).item_ids_.kind == "int"


@pytest.mark.slow
def test_train_online_retail_bundled(tmp_path, capsys):
    out = tmp_path / "retail"

    assert (
        main(["-q", "train", "--format", "online-retail", "--events", str(ONLINE_RETAIL), "--out", str(out)])
        == 0
    )
    assert main(["recommend", "--model", str(out), "--item", "85123A", "-n", "5"]) == 0
    assert "HANGING HEART" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "is empty: it has no header row"),
        ("latin1.csv", "user_id,item_id,event\nu,café,purchase\n".encode("latin-1"), "is not UTF-8 text"),
        ("plain.csv.gz", b"user_id,item_id,event\n", "cannot read events file"),
        ("bad.parquet", b"not parquet at all", "cannot read events file"),
        ("header.csv", b"user_id,item_id,event\n", "events contain no rows"),
    ],
)
def test_train_unreadable_file_exits_2(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)

    assert main(["train", "--events", str(path), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_train_unwritable_out_exits_2(tmp_path, events_csv, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")

    assert main(["-q", "train", "--events", str(events_csv), "--out", str(blocker / "model")]) == 2
    assert "recsys train: error:" in capsys.readouterr().err


def test_train_items_file_attaches_metadata(tmp_path, events_csv):
    items = tmp_path / "items.csv"
    items.write_text("item_id,description,price\nx3,Green tea,4.5\n", encoding="utf-8")
    out = tmp_path / "m"

    assert main(["-q", "train", "--events", str(events_csv), "--items", str(items), "--out", str(out)]) == 0
    assert load(out).get_item_metadata(["x3", "x1"]) == [{"description": "Green tea", "price": 4.5}, {}]


@pytest.mark.parametrize("port", ["99999", "0", "-5", "http"])
def test_serve_invalid_port_rejected(tmp_path, capsys, port):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model", str(tmp_path), "--port", port])

    assert exit_info.value.code == 2
    assert "must be an integer from 1 to 65535" in capsys.readouterr().err
