"""The ``recsys`` command line, run in-process through ``main``."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
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


def test_train_cross_occurrence_otto(tmp_path):
    out = tmp_path / "otto-cco"
    argv = ["-q", "train", "--format", "otto", "--events", str(OTTO_DIR / "otto_train_20sessions.jsonl.gz")]
    argv += ["--model", "cross-occurrence", "--secondary-event", "view", "--min-llr", "1.5"]
    argv += ["--n-neighbors", "7"]

    assert main([*argv, "--out", str(out)]) == 0
    model = load(out)
    assert type(model).__name__ == "CrossOccurrence"
    assert model.primary_event == "purchase"
    assert model.indicator_events_ == ("purchase", "view")
    assert model.min_llr == 1.5
    assert model.n_neighbors == 7
    assert model.indicators_.data.min() >= 1.5


def test_train_cross_occurrence_defaults(tmp_path):
    out = tmp_path / "otto-cco-defaults"
    argv = ["-q", "train", "--format", "otto", "--events", str(OTTO_DIR / "otto_train_20sessions.jsonl.gz")]

    assert main([*argv, "--model", "cross-occurrence", "--out", str(out)]) == 0
    model = load(out)
    assert model.n_neighbors == 50
    assert model.indicator_events_ == ("purchase", "view", "cart")


def test_train_cross_occurrence_bad_primary_exits_2(tmp_path, capsys):
    argv = ["-q", "train", "--format", "otto", "--events", str(OTTO_DIR / "otto_train_20sessions.jsonl.gz")]
    argv += ["--model", "cross-occurrence", "--primary-event", "order", "--out", str(tmp_path / "m")]

    assert main(argv) == 2
    assert "primary_event='order'" in capsys.readouterr().err


def test_train_warns_few_primary_users(tmp_path, caplog):
    argv = ["train", "--format", "otto", "--events", str(OTTO_DIR / "otto_train_20sessions.jsonl.gz")]
    argv += ["--model", "cross-occurrence", "--out", str(tmp_path / "m")]

    assert main(argv) == 0

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "only 3 users have 'purchase' events" in warnings[0]
    assert "view 20, cart 7, purchase 3" in warnings[0]
    assert "--primary-event" in warnings[0]


def test_train_item_knn_no_primary_warning(tmp_path, caplog):
    argv = ["train", "--format", "otto", "--events", str(OTTO_DIR / "otto_train_20sessions.jsonl.gz")]

    assert main([*argv, "--out", str(tmp_path / "m")]) == 0

    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_readme_otto_example_recommends(tmp_path, capsys):
    # The commands of the README's OTTO example, on the bundled sample.
    out = tmp_path / "otto"
    argv = ["-q", "train", "--format", "otto", "--events", str(OTTO_DIR / "otto_train_20sessions.jsonl.gz")]
    argv += ["--model", "cross-occurrence", "--primary-event", "cart", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()

    argv = ["-q", "recommend", "--model", str(out), "--user", "0", "-n", "5", "--exclude-seen", "purchase"]
    assert main([*argv, "--json"]) == 0

    items = json.loads(capsys.readouterr().out)["items"]
    assert len(items) == 5
    assert {item["reason"] for item in items} == {"similar"}


@pytest.mark.parametrize(
    ("exclude_seen", "expected"),
    [
        ([], []),
        (["--exclude-seen", "none"], ["x1", "x2", "x3"]),
        (["--exclude-seen", "view"], ["x1", "x2", "x3"]),
    ],
    ids=["default-any-event", "none", "only-views"],
)
def test_recommend_exclude_seen(model_dir, capsys, exclude_seen, expected):
    argv = ["-q", "recommend", "--model", str(model_dir), "--user", "b", "--json", *exclude_seen]

    assert main(argv) == 0

    items = json.loads(capsys.readouterr().out)["items"]
    assert sorted(item["item_id"] for item in items) == expected


def test_recommend_exclude_seen_needs_user(model_dir, capsys):
    argv = ["-q", "recommend", "--model", str(model_dir), "--item", "x1", "--exclude-seen", "none"]

    assert main(argv) == 2
    assert "--exclude-seen applies to --user only" in capsys.readouterr().err


def test_train_item_knn_default_neighbors(model_dir):
    assert load(model_dir).n_neighbors == 20


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


def test_batch_writes_every_user(model_dir, tmp_path):
    out = tmp_path / "recommendations.parquet"

    assert main(["-q", "batch", "--model", str(model_dir), "--out", str(out), "-n", "2", "--backfill"]) == 0

    model = load(model_dir)
    table = pq.read_table(out)
    expected = [
        (user_id, item.item_id, item.reason)
        for user_id in ["a", "b", "c", "d"]
        for item in model.recommend(user_id, 2, backfill=True)
    ]
    rows = zip(*(table.column(name).to_pylist() for name in ("user_id", "item_id", "reason")), strict=True)
    assert list(rows) == expected


def test_batch_users_file(model_dir, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("user_id\nc\nnobody\na\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    argv = ["-q", "batch", "--model", str(model_dir), "--out", str(out), "--users", str(users)]

    assert main([*argv, "--chunk-size", "1"]) == 0

    table = pq.read_table(out)
    assert table.column("user_id").to_pylist() == ["c", "nobody", "nobody", "nobody", "nobody", "a"]
    assert table.column("reason").to_pylist() == ["similar", *["popular"] * 4, "similar"]
    assert pq.ParquetFile(out).num_row_groups == 3


def test_batch_users_file_duplicates(model_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="recsys.cli")
    users = tmp_path / "users.txt"
    users.write_text("c\na\nc\na\nc\n", encoding="utf-8")
    out = tmp_path / "out.parquet"

    assert main(["batch", "--model", str(model_dir), "--out", str(out), "--users", str(users)]) == 0

    model = load(model_dir)
    expected = [user_id for user_id in ["c", "a"] for _ in model.recommend(user_id, 10)]
    assert expected.count("c") > 0
    assert expected.count("a") > 0
    assert pq.read_table(out).column("user_id").to_pylist() == expected
    message = f"dropped 3 duplicate user ids of {users}, keeping the first of each; 2 users remain"
    assert message in caplog.text


def test_batch_int_users_file(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,event\n17850,1,purchase\n17850,2,purchase\n12,1,purchase\n", "utf-8")
    model_dir = tmp_path / "model"
    assert main(["-q", "train", "--events", str(events), "--out", str(model_dir)]) == 0
    users = tmp_path / "users.csv"
    users.write_text("12\n99\n", encoding="utf-8")
    out = tmp_path / "out.parquet"

    assert main(["-q", "batch", "--model", str(model_dir), "--out", str(out), "--users", str(users)]) == 0

    table = pq.read_table(out)
    assert table.schema.field("user_id").type == pa.int64()
    assert table.column("user_id").to_pylist() == [12, 99, 99]
    assert table.column("item_id").to_pylist() == [2, 1, 2]


def test_batch_rules_file(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,item_id,event\nu1,a,purchase\nu1,b,purchase\nu2,a,purchase\nu2,c,purchase\n"
        "u3,b,purchase\nu3,c,purchase\n",
        encoding="utf-8",
    )
    items = tmp_path / "items.csv"
    items.write_text("item_id,category\na,mugs\nb,tea\nc,mugs\n", encoding="utf-8")
    model_dir = tmp_path / "model"
    train = ["-q", "train", "--events", str(events), "--items", str(items), "--out", str(model_dir)]
    assert main(train) == 0
    rules = tmp_path / "rules.json"
    rules.write_text('{"exclude": {"category": "mugs"}}', encoding="utf-8")
    out = tmp_path / "out.parquet"

    command = ["-q", "batch", "--model", str(model_dir), "--out", str(out), "--rules", str(rules)]
    assert main(command) == 0

    table = pq.read_table(out)
    # Without the rules u1 gets c, u2 gets b and u3 gets a; a and c are mugs, so only b is left.
    assert table.column("user_id").to_pylist() == ["u2"]
    assert table.column("item_id").to_pylist() == ["b"]


def test_batch_rules_file_not_json(model_dir, tmp_path, capsys):
    rules = tmp_path / "rules.json"
    rules.write_text("{exclude: mugs}", encoding="utf-8")
    out = tmp_path / "out.parquet"

    command = ["batch", "--model", str(model_dir), "--out", str(out), "--rules", str(rules)]
    assert main(command) == 2

    error = capsys.readouterr().err
    assert "--rules file" in error
    assert "is not valid JSON" in error


def test_batch_logs_summary(model_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="recsys.batch")
    out = tmp_path / "out.parquet"

    assert main(["batch", "--model", str(model_dir), "--out", str(out)]) == 0

    assert "users (0 unknown) to" in caplog.text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--users", "missing.txt"], "user ids file not found"),
        (["--chunk-size", "0"], "chunk_size must be an int >= 1; got 0"),
        (["-n", "-1"], "n must be an int >= 0; got -1"),
    ],
    ids=["missing-users-file", "chunk-size-0", "negative-n"],
)
def test_batch_bad_input_exits_2(model_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "out.parquet"

    assert main(["-q", "batch", "--model", str(model_dir), "--out", str(out), *extra]) == 2

    err = capsys.readouterr().err
    assert f"recsys batch: error: {message}" in err
    assert not out.exists()


def test_train_max_items_per_user(tmp_path, events_csv):
    out = tmp_path / "capped"

    assert (
        main(["-q", "train", "--events", str(events_csv), "--out", str(out), "--max-items-per-user", "2"])
        == 0
    )
    assert load(out).max_items_per_user == 2


def test_tune_prints_best_and_table(tmp_path, capsys):
    path = tmp_path / "events.csv"
    rows = ["user_id,item_id,event,timestamp"]
    for user in range(40):
        day = 1 + user % 20
        rows.append(f"u{user},i{user % 5},purchase,2024-01-{day:02d}")
        rows.append(f"u{user},i{user % 5 + 5},purchase,2024-02-{day:02d}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    table = tmp_path / "table.csv"
    argv = ["-q", "tune", "--events", str(path), "--holdout-days", "0", "--validation-days", "25"]
    argv += ["--grid", "similarity=cosine,jaccard", "--grid", "n_neighbors=3", "--out", str(table)]

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("best ndcg@10: ")
    assert "similarity" in out
    assert len(table.read_text(encoding="utf-8").splitlines()) == 3


@pytest.mark.parametrize("grid", ["similarity", "=cosine", "similarity="])
def test_tune_bad_grid_exits_2(tmp_path, events_csv, capsys, grid):
    assert main(["tune", "--events", str(events_csv), "--grid", grid]) == 2
    assert "--grid must look like PARAM=V1,V2" in capsys.readouterr().err
