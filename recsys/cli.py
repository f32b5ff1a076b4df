"""Command line: ``recsys train | recommend | batch | serve``.

Errors that come from bad input (a ``RecsysError``) are printed as one line on
stderr with exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import DEFAULT_EVENT_WEIGHTS, Interactions, read_events, read_table
from recsys.exceptions import DataValidationError, RecsysError
from recsys.persistence import content_version
from recsys.similarity import SIMILARITIES

__all__ = ["main"]

logger = logging.getLogger("recsys.cli")

FORMATS = ("events", "online-retail", "otto")

# Below this many users with the primary event, `recsys train` warns that a
# cross-occurrence model has too few primary events to link most items.
MIN_PRIMARY_USERS = 20


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.quiet, args.verbose)
    try:
        return int(args.handler(args))
    except RecsysError as error:
        print(f"recsys {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # For example an output directory that cannot be created, or a port in use.
        print(f"recsys {args.command}: error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys", description="Item-item recommendations from events.")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only, no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="fit a model on events and save it to a directory")
    train.add_argument("--events", type=Path, help="events file (.csv, .csv.gz or .parquet)")
    train.add_argument(
        "--from-store",
        metavar="URL",
        help="train on every event in the service's event store instead of --events; a SQLAlchemy "
        "URL such as sqlite:///models/events.sqlite3 or postgresql+psycopg://user:password@host/db",
    )
    train.add_argument(
        "--format",
        choices=FORMATS,
        default="events",
        help="layout of --events: recsys events (user_id,item_id,event[,timestamp][,weight]), "
        "UCI Online Retail transactions, or OTTO sessions; default: events. For online-retail, "
        "--events defaults to the bundled file",
    )
    train.add_argument("--items", type=Path, help="item metadata CSV with an item_id column (events format)")
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument(
        "--model",
        choices=("item-knn", "most-popular", "cross-occurrence"),
        default="item-knn",
        help="item-knn: item-item similarity (default); most-popular: popularity baseline; "
        "cross-occurrence: which views, carts and purchases of an item lead to purchases of another, "
        "scored by log-likelihood ratio",
    )
    train.add_argument(
        "--similarity", choices=SIMILARITIES, default="cosine", help="item-item measure (default cosine)"
    )
    train.add_argument(
        "--n-neighbors",
        type=int,
        help="neighbours kept per item (default 20; for cross-occurrence, per item and event type, default 50)",
    )
    train.add_argument(
        "--min-support", type=int, default=1, help="minimum users with both items for a pair (default 1)"
    )
    train.add_argument(
        "--max-items-per-user",
        type=int,
        help="fit the similarity on at most this many items per user, sampled (default: all)",
    )
    train.add_argument(
        "--event-weight",
        action="append",
        metavar="EVENT=WEIGHT",
        help=f"weight of an event type, repeatable; default {dict(DEFAULT_EVENT_WEIGHTS)}",
    )
    train.add_argument(
        "--half-life-days", type=float, help="time-decay half-life in days (default: no decay)"
    )
    train.add_argument(
        "--count-repeats", action="store_true", help="sum repeated events instead of counting once"
    )
    train.add_argument(
        "--primary-event",
        default="purchase",
        help="cross-occurrence: the event type to predict (default purchase); train warns when fewer "
        f"than {MIN_PRIMARY_USERS} users have it, because most users then get no recommendations",
    )
    train.add_argument(
        "--secondary-event",
        action="append",
        metavar="EVENT",
        help="cross-occurrence: an event type tested as an indicator of the primary one, repeatable "
        "(default: every other event type with a weight > 0)",
    )
    train.add_argument(
        "--min-llr",
        type=float,
        default=0.0,
        help="cross-occurrence: minimum log-likelihood ratio (G-squared) of a kept pair; 3.84 is the "
        "5%% significance level of one test (default 0)",
    )
    train.set_defaults(handler=_train)

    recommend = commands.add_parser("recommend", help="print recommendations from a saved model")
    recommend.add_argument("--model", type=Path, required=True, help="model directory")
    target = recommend.add_mutually_exclusive_group(required=True)
    target.add_argument("--user", help="recommend for this user id")
    target.add_argument("--item", help="list the items bought with this item id")
    target.add_argument("--basket", nargs="+", metavar="ITEM", help="recommend for these item ids")
    recommend.add_argument("-n", type=int, default=10, help="number of items (default 10)")
    recommend.add_argument(
        "--exclude", nargs="+", default=None, metavar="ITEM", help="item ids never to return"
    )
    recommend.add_argument("--backfill", action="store_true", help="fill short lists with popular items")
    recommend.add_argument(
        "--exclude-seen",
        nargs="+",
        metavar="EVENT",
        help="with --user, leave out only the items the user had these event types on, or none of "
        "them with 'none' (default: items of any event type)",
    )
    recommend.add_argument("--json", action="store_true", help="print JSON instead of a table")
    recommend.set_defaults(handler=_recommend)

    batch = commands.add_parser("batch", help="write recommendations for many users to a Parquet file")
    batch.add_argument("--model", type=Path, required=True, help="model directory")
    batch.add_argument(
        "--out", type=Path, required=True, help="Parquet file to write; an existing file is replaced"
    )
    batch.add_argument("-n", type=int, default=10, help="maximum items per user (default 10)")
    batch.add_argument(
        "--users",
        type=Path,
        help="file of user ids, one per line, optionally under a user_id header (.txt, .csv or "
        ".parquet); a repeated id is written once, in its first place; default: every user of the model",
    )
    batch.add_argument(
        "--chunk-size",
        type=int,
        default=10_000,
        help="users per Parquet row group; memory grows with chunk size x n (default 10000)",
    )
    batch.add_argument("--backfill", action="store_true", help="fill short lists with popular items")
    batch.add_argument(
        "--rules",
        type=Path,
        help="JSON file of business rules over the model's catalogue, with the fields of recsys.Rules: "
        'include, exclude, boost, max_per_category, category_attribute, now; e.g. {"exclude": '
        '{"in_stock": false}, "max_per_category": 2}',
    )
    batch.add_argument(
        "--min-support", type=int, help="keep only similar-item pairs with at least this many co-buyers"
    )
    batch.set_defaults(handler=_batch)

    tune = commands.add_parser(
        "tune",
        help="search ItemKNN parameters on a validation period carved from the training events",
    )
    tune.add_argument("--events", type=Path, help="events file (.csv, .csv.gz or .parquet)")
    tune.add_argument("--format", choices=FORMATS, default="events", help="layout of --events, as for train")
    tune.add_argument(
        "--grid",
        action="append",
        metavar="PARAM=V1,V2,...",
        help="candidate values of an ItemKNN parameter, repeatable, e.g. similarity=cosine,llr "
        "or n_neighbors=20,50,100",
    )
    tune.add_argument(
        "--event-weights-grid",
        action="append",
        metavar="EVENT=W,EVENT=W",
        help="one candidate set of event weights, repeatable, e.g. view=1,cart=3,purchase=5",
    )
    tune.add_argument(
        "--holdout-days",
        type=float,
        default=28.0,
        help="last days kept out of tuning entirely, as the future test period (default 28; 0 for none)",
    )
    tune.add_argument(
        "--validation-days", type=float, default=28.0, help="days before the holdout to score on (default 28)"
    )
    tune.add_argument("--metric", default="ndcg", help="ranking metric to maximise (default ndcg)")
    tune.add_argument("-k", type=int, default=10, help="list length the metric is measured at (default 10)")
    tune.add_argument("--n-iter", type=int, help="score a random sample of this many combinations")
    tune.add_argument("--out", type=Path, help="also write the table as CSV")
    tune.add_argument(
        "--event-weights",
        action="store_true",
        help="search the weight of each event type against future purchases instead of a grid, and "
        "report whether each type helps; --grid then sets fixed ItemKNN parameters, one value each",
    )
    tune.add_argument(
        "--weight-values",
        default="0,0.5,1,2,5",
        metavar="W1,W2,...",
        help="candidate weights per event type with --event-weights (default 0,0.5,1,2,5)",
    )
    tune.set_defaults(handler=_tune)

    diff = commands.add_parser(
        "diff", help="compare the similar-item lists of two saved models (churn after a refit or update)"
    )
    diff.add_argument("old", type=Path, help="model directory of the old model")
    diff.add_argument("new", type=Path, help="model directory of the new model")
    diff.add_argument(
        "--top-items",
        type=int,
        default=100,
        help="compare this many of the old model's most popular items (default 100)",
    )
    diff.add_argument("-n", type=int, default=10, help="length of the compared lists (default 10)")
    diff.add_argument("--json", action="store_true", help="print JSON instead of a table")
    diff.set_defaults(handler=_diff)

    serve = commands.add_parser("serve", help="serve a model over HTTP")
    serve.add_argument("--model", type=Path, required=True, help="model directory")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port, 1-65535 (default 8000)")
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="server processes sharing the port, each with its own copy of the model (default 1)",
    )
    serve.add_argument(
        "--loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="event loop; auto uses uvloop when installed, else asyncio (default auto)",
    )
    serve.add_argument(
        "--http",
        choices=("auto", "httptools", "h11"),
        default="auto",
        help="HTTP/1.1 parser; auto uses httptools when installed, else h11 (default auto)",
    )
    serve.set_defaults(handler=_serve)

    from recsys.nurture.cli import add_nurture_commands

    add_nurture_commands(commands)
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to 65535; got {text!r}")
    return port


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 1; got {text!r}")
    return value


def _configure_logging(quiet: bool, verbose: bool) -> None:
    level = logging.INFO
    if quiet:
        level = logging.WARNING
    elif verbose:
        level = logging.DEBUG
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _parse_event_weights(pairs: list[str] | None) -> dict[str, float] | None:
    if not pairs:
        return None
    weights: dict[str, float] = {}
    for pair in pairs:
        event, separator, value = pair.partition("=")
        try:
            weights[event] = float(value)
        except ValueError:
            separator = ""
        if not separator or not event:
            raise DataValidationError(
                f"--event-weight must look like EVENT=WEIGHT, e.g. view=1; got {pair!r}"
            )
    return weights


def _load_events(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame | None, int | None]:
    """Return the events, the item metadata, and the store's high-water mark (None without --from-store)."""
    from recsys import datasets

    store_url = getattr(args, "from_store", None)
    if store_url is not None:
        if args.events is not None or args.format != "events":
            raise DataValidationError("--from-store replaces --events and --format; give only one source")
        items_path = getattr(args, "items", None)
        items = None if items_path is None else read_table(items_path, "item metadata")
        events, mark = _read_store_events(store_url, show_progress=not args.quiet)
        weights = _parse_event_weights(getattr(args, "event_weight", None)) or DEFAULT_EVENT_WEIGHTS
        return _without_unweighted_events(events, weights), items, mark
    if args.format == "online-retail":
        return (*datasets.load_online_retail(args.events), None)
    if args.events is None:
        raise DataValidationError(f"--events is required with --format {args.format}")
    if args.format == "otto":
        return datasets.load_otto(args.events), None, None
    items_path = getattr(args, "items", None)
    items = None if items_path is None else read_table(items_path, "item metadata")
    return read_events(args.events), items, None


def _without_unweighted_events(events: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """Leave out stored events whose type has no event weight, and log how many.

    The service also stores engagement-only types (RECSYS_ENGAGEMENT_EVENTS, such as
    email_open) for lead scores. They are not preferences, and the store offers no
    way to drop them, so training skips them instead of failing on them.
    """
    if events.empty or "event" not in events.columns:
        return events
    weighted = events["event"].isin(list(weights))
    if weighted.all():
        return events
    skipped = events.loc[~weighted, "event"].value_counts()
    logger.info(
        "left out %s stored events of types without an event weight (%s); give --event-weight "
        "TYPE=WEIGHT to train on them",
        f"{int(skipped.sum()):,}",
        ", ".join(f"{name} {count:,}" for name, count in skipped.items()),
    )
    return events.loc[weighted].reset_index(drop=True)


def _read_store_events(url: str, *, show_progress: bool) -> tuple[pd.DataFrame, int | None]:
    """Read every event of the service's event store at ``url``, and the largest row id read."""
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        from service.store import EventStore
    except ImportError as error:
        raise DataValidationError(
            f"--from-store needs the 'service' extra; run pip install 'recsys[service]' ({error})"
        ) from error
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DataValidationError(f"--from-store must be a SQLAlchemy URL; {error}") from error
    masked_url = parsed.render_as_string(hide_password=True)
    # Opening a missing SQLite file would create an empty one.
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise DataValidationError(
            f"event store file not found: {parsed.database!r} (from --from-store {masked_url})"
        )
    try:
        with EventStore(url) as store:
            read = store.read_events_with_mark(show_progress=show_progress)
    except SQLAlchemyError as error:
        reason = getattr(error, "orig", None) or error
        raise DataValidationError(f"cannot read the events of the store {masked_url}: {reason}") from error
    logger.info(
        "read %s events up to row id %s from the store %s",
        f"{len(read.events):,}",
        read.high_water_mark,
        masked_url,
    )
    return read.events, read.high_water_mark


def _train(args: argparse.Namespace) -> int:
    from recsys.models import CrossOccurrence, ItemKNN, MostPopular

    started = time.perf_counter()
    events, items, store_mark = _load_events(args)
    interactions = Interactions.from_events(
        events,
        event_weights=_parse_event_weights(args.event_weight),
        half_life_days=args.half_life_days,
        count_repeats=args.count_repeats,
        item_metadata=items,
    )
    if args.model == "most-popular":
        model: Any = MostPopular()
    elif args.model == "cross-occurrence":
        model = CrossOccurrence(
            primary_event=args.primary_event,
            secondary_events=args.secondary_event,
            n_neighbors=50 if args.n_neighbors is None else args.n_neighbors,
            min_llr=args.min_llr,
        )
    else:
        model = ItemKNN(
            similarity=args.similarity,
            n_neighbors=20 if args.n_neighbors is None else args.n_neighbors,
            min_support=args.min_support,
            max_items_per_user=args.max_items_per_user,
            show_progress=not args.quiet,
        )
    fit_started = time.perf_counter()
    model.fit(interactions)
    if args.model == "cross-occurrence":
        _warn_few_primary_users(interactions, args.primary_event)
    if store_mark is not None:
        # The service counts the stored events after this mark as new to the model.
        model.store_high_water_mark_ = store_mark
        model.version_ = content_version(model)
    fit_seconds = time.perf_counter() - fit_started
    model.save(args.out)
    size = sum(file.stat().st_size for file in args.out.iterdir())
    logger.info(
        "trained %s %s: fit %.2f s, total %.2f s, model directory %s (%s)",
        type(model).__name__,
        model.version_,
        fit_seconds,
        time.perf_counter() - started,
        args.out,
        _format_size(size),
    )
    return 0


def _warn_few_primary_users(interactions: Interactions, primary_event: str) -> None:
    """Log a warning when fewer than MIN_PRIMARY_USERS users have the primary event."""
    users_per_event = {
        event: int(np.count_nonzero(np.diff(matrix.indptr)))
        for event, matrix in interactions.event_user_items.items()
    }
    n_users = users_per_event.get(primary_event, 0)
    if n_users >= MIN_PRIMARY_USERS:
        return
    counts = ", ".join(f"{event} {count}" for event, count in users_per_event.items())
    logger.warning(
        "only %d users have %r events, the primary event type (fewer than %d), so the model links few "
        "items and most users will get no recommendations. Users per event type: %s. Train on more "
        "events or pass --primary-event with a more frequent event type",
        n_users,
        primary_event,
        MIN_PRIMARY_USERS,
        counts,
    )


def _format_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _recommend(args: argparse.Namespace) -> int:
    from recsys.persistence import load_model

    model = load_model(args.model)
    if args.exclude_seen is not None and args.user is None:
        raise DataValidationError(
            "--exclude-seen applies to --user only; leave it out with --item or --basket"
        )
    if args.user is not None:
        exclude_seen: bool | list[str] = True
        if args.exclude_seen == ["none"]:
            exclude_seen = False
        elif args.exclude_seen is not None:
            exclude_seen = args.exclude_seen
        result = model.recommend(
            args.user, args.n, exclude_seen=exclude_seen, exclude=args.exclude, backfill=args.backfill
        )
    elif args.item is not None:
        result = model.similar_items(args.item, args.n, exclude=args.exclude)
    else:
        result = model.recommend_basket(args.basket, args.n, exclude=args.exclude, backfill=args.backfill)

    frame = result.to_frame()
    frame["description"] = [info.get("description", "") for info in model.get_item_metadata(result.item_ids)]
    if args.json:
        payload = {
            "items": frame.to_dict(orient="records"),
            "unknown_items": list(result.unknown_items),
            "model_version": model.version_,
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        if result.known_user is False:
            print(f"user {args.user!r} is not in the model: showing popular items")
        if result.unknown_items:
            print(f"ignored unknown item ids: {list(result.unknown_items)}")
        print(frame.to_string(index=False) if len(frame) else "no recommendations")
    return 0


def _batch(args: argparse.Namespace) -> int:
    from recsys.batch import read_user_ids
    from recsys.persistence import load_model

    model = load_model(args.model)
    user_ids = None
    if args.users is not None:
        listed = read_user_ids(args.users)
        user_ids = list(dict.fromkeys(listed))
        if len(user_ids) < len(listed):
            logger.info(
                "dropped %d duplicate user ids of %s, keeping the first of each; %d users remain",
                len(listed) - len(user_ids),
                args.users,
                len(user_ids),
            )
    model.write_recommendations(
        args.out,
        user_ids,
        args.n,
        chunk_size=args.chunk_size,
        backfill=args.backfill,
        show_progress=not args.quiet,
        rules=None if args.rules is None else _read_rules(args.rules),
        min_support=args.min_support,
    )
    return 0


def _read_rules(path: Path) -> Any:
    """Read a JSON file of :class:`recsys.Rules` fields."""
    from recsys.rules import Rules

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataValidationError(f"--rules file {str(path)!r} is not valid JSON: {error}") from error
    return Rules.of(document)


def _parse_grid(pairs: list[str] | None, weight_sets: list[str] | None) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for pair in pairs or []:
        name, separator, values = pair.partition("=")
        if not separator or not name or not values:
            raise DataValidationError(f"--grid must look like PARAM=V1,V2; got {pair!r}")
        grid[name] = [_grid_value(value) for value in values.split(",")]
    if weight_sets:
        grid["event_weights"] = [_parse_event_weights(weights.split(",")) for weights in weight_sets]
    if not grid:
        raise DataValidationError("give at least one --grid or --event-weights-grid")
    return grid


def _grid_value(text: str) -> Any:
    """Read a grid value as an int, a float, None or else the text itself."""
    if text.lower() == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _tuning_events(args: argparse.Namespace, exclude_train_items: bool | list[str]) -> pd.DataFrame:
    """Load the events of ``recsys tune``, drop the holdout period, and check the validation split.

    ``exclude_train_items`` must match the validation split that the tuning
    function makes, so that this check fails exactly when that split would.
    """
    events, _, _ = _load_events(args)
    if args.holdout_days > 0:
        events = _split_period(events, "--holdout-days", args.holdout_days, True).train
    _split_period(events, "--validation-days", args.validation_days, exclude_train_items)
    return events


def _split_period(
    events: pd.DataFrame, option: str, days: float, exclude_train_items: bool | list[str]
) -> Any:
    """Split the last ``days`` days off ``events``, naming ``option`` in any error."""
    from recsys.evaluation import temporal_split

    try:
        return temporal_split(events, pd.Timedelta(days=days), exclude_train_items=exclude_train_items)
    except DataValidationError as error:
        raise DataValidationError(
            f"{option} {days:g} cannot be split off the events: {error}. Change --holdout-days "
            f"(0 tunes on every event) or --validation-days: together they must be shorter than the "
            f"time span of the events, and each period needs purchases"
        ) from error


def _tune(args: argparse.Namespace) -> int:
    from recsys.evaluation import tune

    if args.event_weights:
        return _tune_event_weights(args)
    grid = _parse_grid(args.grid, args.event_weights_grid)
    events = _tuning_events(args, exclude_train_items=True)
    result = tune(
        events,
        grid,
        validation=pd.Timedelta(days=args.validation_days),
        metric=args.metric,
        k=args.k,
        n_iter=args.n_iter,
    )
    print(f"best {result.metric}@{result.k}: {result.table['value'].iloc[0]:.4f} with {result.best_params}")
    print(result.table.to_string(index=False))
    if args.out is not None:
        result.table.to_csv(args.out, index=False)
    return 0


def _tune_event_weights(args: argparse.Namespace) -> int:
    from recsys.evaluation import tune_event_weights

    if args.event_weights_grid:
        raise DataValidationError("--event-weights searches the weights itself; leave out --event-weights-grid")
    fixed: dict[str, Any] = {}
    grid = _parse_grid(args.grid, None) if args.grid else {}
    for name, values in grid.items():
        if len(values) != 1:
            raise DataValidationError(
                f"with --event-weights, --grid sets one fixed value per parameter; got {name}={values}"
            )
        fixed[name] = values[0]
    try:
        weight_values = [float(value) for value in args.weight_values.split(",")]
    except ValueError as error:
        raise DataValidationError(
            f"--weight-values must be numbers separated by commas, e.g. 0,1,5; got {args.weight_values!r}"
        ) from error
    # tune_event_weights leaves the users' earlier purchases out of the targets.
    events = _tuning_events(args, exclude_train_items=["purchase"])
    result = tune_event_weights(
        events,
        model_params=fixed,
        grid=weight_values,
        validation=pd.Timedelta(days=args.validation_days),
        metric=args.metric,
        k=args.k,
    )
    weights = ",".join(f"{event}={weight:g}" for event, weight in result.best_weights.items())
    report = result.validation.report
    print(f"scored on {report.n_test_users:,} validation users with {report.n_test_pairs:,} target pairs")
    print(f"best {result.metric}@{result.k}: {result.trials['value'].iloc[0]:.4f} with event weights {weights}")
    reason = result.inconclusive_reason
    if reason is None:
        print(f"use them with: recsys train --event-weight {' --event-weight '.join(weights.split(','))}")
    else:
        print(
            f"warning: these weights are not a finding, because {reason}; keep the current weights, "
            f"or tune on more events or a longer --validation-days"
        )
    print()
    print(f"effect of each event type ({result.metric}@{result.k} with and without it, 95% intervals):")
    for row in result.effects.to_dict("records"):
        print(
            f"  {row['event']:<10} {row['verdict']:<8} with {row['with']:.4f} "
            f"[{row['with_ci_low']:.4f}, {row['with_ci_high']:.4f}]  without {row['without']:.4f} "
            f"[{row['without_ci_low']:.4f}, {row['without_ci_high']:.4f}]  difference "
            f"{row['difference']:+.4f} [{row['difference_ci_low']:+.4f}, {row['difference_ci_high']:+.4f}]"
        )
    print()
    print(result.trials.to_string(index=False))
    if args.out is not None:
        result.trials.to_csv(args.out, index=False)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from recsys.diff import compare_models
    from recsys.persistence import load_model

    result = compare_models(load_model(args.old), load_model(args.new), top_items=args.top_items, n=args.n)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(result.format_table())
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from service.main import serve
    except ImportError as error:
        print(
            f"recsys serve: error: the HTTP service needs the 'service' extra; "
            f"run pip install 'recsys[service]' ({error})",
            file=sys.stderr,
        )
        return 2
    serve(args.model, host=args.host, port=args.port, workers=args.workers, loop=args.loop, http=args.http)
    return 0


if __name__ == "__main__":
    sys.exit(main())
