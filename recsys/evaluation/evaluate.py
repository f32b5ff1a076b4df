"""Measure recommenders on a train/test split: per-user metrics, means and bootstrap intervals.

:func:`evaluate` computes the model's top ``max(ks)`` items for every test user and
scores the lists against the user's held-out pairs with the metrics of
:mod:`recsys.evaluation.metrics`. :func:`compare` does the same for several models
on the same users and returns one table.

Fitting
-------
A model that is not fitted yet is fitted here on ``split.train``. A fitted model is
used as it is, so the caller must have fitted it on ``split.train``. Because a
model fitted on the whole data would score far too well, a fitted model whose
histories contain a test pair that is not in ``split.train`` is rejected.

Unknown users and items
-----------------------
A test user that the model does not know gets the model's popular fallback, as
from ``model.recommend``. ``per_user["known_user"]`` flags them, and
:attr:`Evaluation.unknown_user_share` gives their share. A test pair whose item the
model does not know can never be a hit, but it stays in the user's relevant set
(and so in recall's denominator) unless ``known_items_only=True``.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.evaluation.metrics import (
    LIST_METRICS,
    RANKING_METRICS,
    _category_codes,
    _check_k,
    _diversity_rows,
    _divide,
    _mean_popularity_rows,
    _ranking_metrics,
    item_popularity,
)
from recsys.evaluation.splits import Split
from recsys.exceptions import DataValidationError
from recsys.models.base import Recommender

__all__ = ["Comparison", "Evaluation", "compare", "evaluate"]

#: Confidence level of the bootstrap intervals.
CONFIDENCE = 0.95

# Upper bound on the cells of one block of bootstrap resamples (resamples x users).
# A block needs three arrays of 8-byte cells, so about 50 MB at this bound.
_MAX_BOOTSTRAP_CELLS = 1 << 21

_SUMMARY_COLUMNS = ["metric", "k", "value", "ci_low", "ci_high"]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The result of :func:`evaluate`: per-user metrics and their summary.

    Attributes
    ----------
    model : str
        The model's name: the ``name`` argument, or the model's ``repr``.
    ks : tuple of int
        The cutoffs, ascending.
    per_user : DataFrame
        One row per evaluated user, sorted by id: ``user_id``, ``known_user``
        (False means the list is the popular fallback), ``n_relevant`` (test pairs
        of the user), ``n_recommended`` (length of the list), then one column
        ``"<metric>@<k>"`` per metric and cutoff.
    summary : DataFrame
        Columns ``metric``, ``k``, ``value``, ``ci_low``, ``ci_high``. ``value`` is
        the mean over users (users with NaN left out), and the interval is the
        percentile bootstrap over users. ``coverage`` has no interval (see
        :func:`evaluate`).
    recommendations : DataFrame
        The lists that were scored: ``user_id``, ``rank`` (1 first), ``item_id``,
        ``reason``.
    catalogue_size : int
        Number of items the model was fitted on, the denominator of coverage.
    n_users : int
        Users evaluated.
    n_unknown_users : int
        Evaluated users the model does not know, who got the popular fallback.
    n_pairs : int
        Test pairs evaluated.
    n_unknown_item_pairs : int
        Evaluated test pairs whose item the model does not know (no model could
        return it).
    excluded : dict of str to int
        Test users or pairs left out of the evaluation, by reason.
    fit_seconds : float or None
        Time spent fitting, when :func:`evaluate` fitted the model.
    recommend_seconds : float
        Time spent computing the lists.
    """

    model: str
    ks: tuple[int, ...]
    per_user: pd.DataFrame
    summary: pd.DataFrame
    recommendations: pd.DataFrame
    catalogue_size: int
    n_users: int
    n_unknown_users: int
    n_pairs: int
    n_unknown_item_pairs: int
    excluded: dict[str, int] = field(default_factory=dict)
    fit_seconds: float | None = None
    recommend_seconds: float = 0.0

    @property
    def unknown_user_share(self) -> float:
        """Share of evaluated users who got the popular fallback because the model does not know them."""
        return self.n_unknown_users / self.n_users if self.n_users else math.nan

    def value(self, metric: str, k: int | None = None) -> float:
        """Return the mean of ``metric`` at cutoff ``k`` (the only cutoff when None).

        Raises
        ------
        DataValidationError
            If the summary has no such metric or cutoff, naming the ones it has.
        """
        if k is None:
            if len(self.ks) != 1:
                raise DataValidationError(f"k is required: this evaluation has the cutoffs {list(self.ks)}")
            k = self.ks[0]
        row = self.summary[(self.summary["metric"] == metric) & (self.summary["k"] == k)]
        if row.empty:
            raise DataValidationError(
                f"no {metric!r} at k={k!r}; the metrics are {list(pd.unique(self.summary['metric']))} "
                f"and the cutoffs {list(self.ks)}"
            )
        return float(row["value"].iloc[0])

    def __repr__(self) -> str:
        header = (
            f"Evaluation of {self.model} on {self.n_users:,} users and {self.n_pairs:,} test pairs; "
            f"{self.n_unknown_users:,} users ({self.unknown_user_share:.1%}) got the popular fallback, "
            f"{self.n_unknown_item_pairs:,} pairs have an item the model does not know"
        )
        return f"{header}\n{self.summary.to_string(index=False)}"

    def _repr_html_(self) -> str:
        """Render the header and the summary in Jupyter."""
        header = repr(self).splitlines()[0]
        return f"<p>{header}</p>{self.summary.to_html(index=False)}"


@dataclass(frozen=True, eq=False)
class Comparison:
    """The result of :func:`compare`: one evaluation per model and a tidy table of them all.

    Attributes
    ----------
    evaluations : dict of str to Evaluation
        In the order the models were given.
    table : DataFrame
        Columns ``model``, ``metric``, ``k``, ``value``, ``ci_low``, ``ci_high``.
    """

    evaluations: dict[str, Evaluation]
    table: pd.DataFrame

    @property
    def wide(self) -> pd.DataFrame:
        """The values with one row per model and one column ``"<metric>@<k>"`` per metric and cutoff."""
        labels = self.table["metric"] + "@" + self.table["k"].astype(str)
        wide = self.table.assign(column=labels).pivot(index="model", columns="column", values="value")
        columns = list(dict.fromkeys(labels))
        wide = wide.reindex(index=list(self.evaluations), columns=columns)
        wide.columns.name = None
        return wide

    def __repr__(self) -> str:
        return f"Comparison of {len(self.evaluations)} models\n{self.wide.to_string()}"

    def _repr_html_(self) -> str:
        """Render the wide view in Jupyter."""
        return str(self.wide.to_html())


def evaluate(
    model: Recommender,
    split: Split,
    k: int = 10,
    *,
    ks: Sequence[int] | None = None,
    item_categories: Mapping[Hashable, Hashable] | pd.Series | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    known_users_only: bool = False,
    known_items_only: bool = False,
    exclude_seen: bool | Sequence[str] = True,
    backfill: bool = False,
    name: str | None = None,
) -> Evaluation:
    """Score a model's recommendations for every test user of a split.

    Parameters
    ----------
    model : Recommender
        Fitted on ``split.train``, or not fitted yet, in which case it is fitted
        here on ``split.train`` (the object is changed in place).
    split : Split
        From :func:`~recsys.evaluation.temporal_split`,
        :func:`~recsys.evaluation.leave_last_k` or
        :func:`~recsys.evaluation.random_holdout`.
    k : int, default 10
        The cutoff, >= 1, unless ``ks`` is given.
    ks : sequence of int, optional
        Several cutoffs, used instead of ``k``. Each user's list is computed once,
        with ``max(ks)`` items.
    item_categories : mapping or Series of item id to category, optional
        Adds intra-list ``diversity``. Keys must have the type of the item ids.
    n_bootstrap : int, default 1000
        Bootstrap resamples of the users, >= 0. With 0 the intervals are NaN.
    seed : int, default 0
        Seed of the resampling, >= 0. :func:`compare` passes the same seed for
        every model, so all models are measured on the same resamples.
    known_users_only : bool, default False
        Leave out test users the model does not know, instead of scoring the
        popular fallback they get.
    known_items_only : bool, default False
        Leave out test pairs whose item the model does not know, instead of
        keeping them as misses. Users left without pairs are left out too.
    exclude_seen, backfill
        Passed to ``model.recommend``. Keep ``exclude_seen`` consistent with the
        split's ``exclude_train_items``.
    name : str, optional
        The model's name in the result, by default ``repr(model)``.

    Returns
    -------
    Evaluation

    Raises
    ------
    DataValidationError
        For an invalid argument, when a fitted model has seen test pairs, or when
        no test user is left to evaluate.

    Notes
    -----
    The metrics are those of :mod:`recsys.evaluation.metrics`. Per user they are
    ``precision``, ``recall``, ``ndcg``, ``map``, ``hit_rate`` and ``mrr``, plus
    ``popularity`` (the mean share of train users who have each listed item, where
    lower means more novel) and, when categories are given, ``diversity``.
    ``coverage`` is the number of distinct listed items over ``catalogue_size``.

    For a per-user metric with values :math:`x_1, \\dots, x_n` the value is
    :math:`\\bar{x}` and the interval is the 2.5th and 97.5th percentiles of
    :math:`\\bar{x}^{*}_b`, the means of ``n_bootstrap`` resamples of the users
    drawn with replacement. Coverage is a property of the whole set of lists, and
    a resample repeats some users and misses others, which lowers it
    systematically, so it gets no interval.

    References
    ----------
    B. Efron, R. J. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall,
    1993, chapter 13 (percentile intervals).
    """
    _check_model(model, "model")
    _check_split(split)
    cutoffs = _resolve_ks(k, ks)
    n_bootstrap = _check_int_at_least(n_bootstrap, "n_bootstrap", 0)
    seed = _check_int_at_least(seed, "seed", 0)
    categories = _check_categories(item_categories)
    label = repr(model) if name is None else name

    fit_seconds = _fit_or_check(model, split, label)
    pairs, excluded = _test_pairs(model, split, known_users_only, known_items_only)
    users = pairs.drop_duplicates("user_id")["user_id"].to_numpy()
    known_user = model.user_ids_.indices_of(users.tolist()) >= 0

    started = time.perf_counter()
    recommendations = _recommend(model, users, max(cutoffs), exclude_seen, backfill)
    recommend_seconds = time.perf_counter() - started

    slots = _Slots(users, pairs, recommendations, max(cutoffs))
    popularity = item_popularity(split.train)
    per_user = pd.DataFrame(
        {
            "user_id": users,
            "known_user": known_user,
            "n_relevant": slots.n_relevant,
            "n_recommended": slots.n_recommended,
        }
    )
    columns = _metric_columns(slots, cutoffs, popularity, categories)
    per_user = pd.concat([per_user, pd.DataFrame(columns)], axis=1)

    summary = _summary(per_user, cutoffs, slots, len(model.item_ids_), n_bootstrap, seed)
    return Evaluation(
        model=label,
        ks=cutoffs,
        per_user=per_user,
        summary=summary,
        recommendations=recommendations,
        catalogue_size=len(model.item_ids_),
        n_users=len(users),
        n_unknown_users=int((~known_user).sum()),
        n_pairs=len(pairs),
        n_unknown_item_pairs=int((~pairs["known_item"]).sum()),
        excluded=excluded,
        fit_seconds=fit_seconds,
        recommend_seconds=recommend_seconds,
    )


def compare(
    models: Mapping[str, Recommender],
    split: Split,
    k: int = 10,
    *,
    ks: Sequence[int] | None = None,
    item_categories: Mapping[Hashable, Hashable] | pd.Series | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    known_users_only: bool = False,
    known_items_only: bool = False,
    exclude_seen: bool | Sequence[str] = True,
    backfill: bool = False,
) -> Comparison:
    """Evaluate several models on the same split and collect the results in one table.

    Each model follows the rule of :func:`evaluate`: one that is not fitted yet is
    fitted on ``split.train``, and a fitted one is used as it is. Every model is
    scored with the same bootstrap seed on the same users (unless
    ``known_users_only`` differs in effect between them), so the resamples match.

    Parameters
    ----------
    models : mapping of str to Recommender
        Model names (used in the table) to models, at least one.
    split, k, ks, item_categories, n_bootstrap, seed, known_users_only, known_items_only, exclude_seen, backfill
        As in :func:`evaluate`.

    Returns
    -------
    Comparison
        ``table`` is tidy (``model``, ``metric``, ``k``, ``value``, ``ci_low``,
        ``ci_high``) and ``wide`` has one row per model.
    """
    if not isinstance(models, Mapping) or len(models) == 0:
        raise DataValidationError(
            f"models must be a non-empty mapping of name to model, such as "
            f"{{'ItemKNN': ItemKNN(), 'MostPopular': MostPopular()}}; got {models!r}"
        )
    for model_name, model in models.items():
        if not isinstance(model_name, str) or not model_name:
            raise DataValidationError(f"model names must be non-empty str; got {model_name!r}")
        _check_model(model, f"models[{model_name!r}]")

    evaluations = {
        model_name: evaluate(
            model,
            split,
            k,
            ks=ks,
            item_categories=item_categories,
            n_bootstrap=n_bootstrap,
            seed=seed,
            known_users_only=known_users_only,
            known_items_only=known_items_only,
            exclude_seen=exclude_seen,
            backfill=backfill,
            name=model_name,
        )
        for model_name, model in models.items()
    }
    table = pd.concat(
        [evaluation.summary.assign(model=model_name) for model_name, evaluation in evaluations.items()],
        ignore_index=True,
    )
    return Comparison(evaluations=evaluations, table=table[["model", *_SUMMARY_COLUMNS]])


# --------------------------------------------------------------------------- steps


def _fit_or_check(model: Recommender, split: Split, label: str) -> float | None:
    """Fit an unfitted model on ``split.train``, or check that a fitted one has not seen test pairs."""
    if not model.is_fitted:
        started = time.perf_counter()
        model.fit(split.train)
        return time.perf_counter() - started

    test = split.test
    users = model.user_ids_.indices_of(test["user_id"].tolist())
    items = model.item_ids_.indices_of(test["item_id"].tolist())
    both = (users >= 0) & (items >= 0)
    in_history = np.zeros(len(test), dtype=bool)
    if both.any():
        values = model.user_items_[users[both], items[both]]
        in_history[both] = np.asarray(values).ravel() != 0
    if not in_history.any():
        return None

    train_pairs = pd.MultiIndex.from_frame(split.train[["user_id", "item_id"]].drop_duplicates())
    test_pairs = pd.MultiIndex.from_frame(test[["user_id", "item_id"]])
    leaked = in_history & ~test_pairs.isin(train_pairs)
    if leaked.any():
        first = test.loc[np.flatnonzero(leaked)[0], ["user_id", "item_id"]].tolist()
        raise DataValidationError(
            f"{label} was fitted on events that contain {int(leaked.sum()):,} of the {len(test):,} test "
            f"pairs (first: user_id={first[0]!r}, item_id={first[1]!r}), which are not in split.train; "
            f"fit it on split.train, or pass it unfitted and evaluate fits it"
        )
    return None


def _test_pairs(
    model: Recommender, split: Split, known_users_only: bool, known_items_only: bool
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return the test pairs to score, with ``known_item`` flags, and what was left out."""
    pairs = split.test[["user_id", "item_id"]].copy()
    pairs["known_item"] = model.item_ids_.indices_of(pairs["item_id"].tolist()) >= 0
    excluded: dict[str, int] = {}

    if known_users_only:
        users = pairs["user_id"].drop_duplicates()
        known = model.user_ids_.indices_of(users.tolist()) >= 0
        excluded["users unknown to the model"] = int((~known).sum())
        pairs = pairs[pairs["user_id"].isin(users[known])]
    if known_items_only:
        n_users = pairs["user_id"].nunique()
        excluded["pairs whose item is unknown to the model"] = int((~pairs["known_item"]).sum())
        pairs = pairs[pairs["known_item"]]
        excluded["users whose every item is unknown to the model"] = n_users - pairs["user_id"].nunique()

    if pairs.empty:
        raise DataValidationError(
            f"no test user is left to evaluate: {len(split.test):,} test pairs, left out {excluded}"
        )
    return pairs.reset_index(drop=True), excluded


def _recommend(
    model: Recommender,
    users: np.ndarray,
    n: int,
    exclude_seen: bool | Sequence[str],
    backfill: bool,
) -> pd.DataFrame:
    """Return the top ``n`` of every user as rows (user_id, rank, item_id, reason).

    ``write_recommendations`` ranks whole chunks of users with a compiled kernel
    for ItemKNN, and calls ``recommend`` per user for other models, with the same
    result as ``recommend``. A temporary Parquet file is the price of reusing it.
    """
    user_ids: np.ndarray | list[Any] = users.astype(np.int64) if users.dtype.kind in "iu" else users.tolist()
    with tempfile.TemporaryDirectory(prefix="recsys-evaluate-") as directory:
        path = model.write_recommendations(
            Path(directory) / "recommendations.parquet",
            user_ids,
            n,
            exclude_seen=exclude_seen,
            backfill=backfill,
        )
        frame = pd.read_parquet(path, columns=["user_id", "rank", "item_id", "reason"])
    return frame


class _Slots:
    """The recommendation lists as a users x slots grid, aligned with the users' order."""

    def __init__(self, users: np.ndarray, pairs: pd.DataFrame, recommendations: pd.DataFrame, n: int) -> None:
        user_index = pd.Index(users)
        rows = user_index.get_indexer(recommendations["user_id"])
        slots = recommendations["rank"].to_numpy(dtype=np.int64) - 1
        test_rows = user_index.get_indexer(pairs["user_id"])

        item_values = pd.concat([pairs["item_id"], recommendations["item_id"]], ignore_index=True)
        item_codes, _ = pd.factorize(item_values.astype(object))
        n_codes = int(item_codes.max()) + 1 if len(item_codes) else 1
        test_keys = test_rows * n_codes + item_codes[: len(pairs)]
        listed_keys = rows * n_codes + item_codes[len(pairs) :]
        # A repeated item in a list counts at its first position only, as in the metric functions.
        first = ~pd.Series(listed_keys).duplicated().to_numpy()

        self.hits = np.zeros((len(users), n), dtype=bool)
        self.hits[rows, slots] = np.isin(listed_keys, test_keys) & first
        self.item_ids = np.full((len(users), n), None, dtype=object)
        self.item_ids[rows, slots] = recommendations["item_id"].to_numpy(dtype=object)
        self.filled = np.zeros((len(users), n), dtype=bool)
        self.filled[rows, slots] = True
        self.n_relevant = np.bincount(test_rows, minlength=len(users))
        self.n_recommended = self.filled.sum(axis=1)

    def map_items(self, values: Mapping[Any, Any] | pd.Series, missing: Any) -> pd.DataFrame:
        """Map every filled slot's item through ``values``, with ``missing`` for unmapped items and NaN for empty slots."""
        grid = pd.DataFrame(self.item_ids)
        mapped = grid.apply(lambda column: column.map(values))
        mapped = mapped.where(~(mapped.isna() & self.filled), missing)
        return mapped.where(self.filled)


def _metric_columns(
    slots: _Slots,
    cutoffs: tuple[int, ...],
    popularity: pd.Series,
    categories: pd.Series | None,
) -> dict[str, np.ndarray]:
    """Compute every per-user column ``"<metric>@<k>"``, metric by metric."""
    by_k = {k: _ranking_metrics(slots.hits, slots.n_relevant, k) for k in cutoffs}
    columns = {f"{metric}@{k}": by_k[k][metric] for metric in RANKING_METRICS for k in cutoffs}

    popularity_grid = slots.map_items(popularity, 0.0).to_numpy(dtype=np.float64)
    for k in cutoffs:
        columns[f"popularity@{k}"] = _mean_popularity_rows(popularity_grid, k)

    if categories is not None:
        category_grid = slots.map_items(categories, None)
        codes = _category_codes(pd.Series(category_grid.to_numpy().ravel(), dtype=object))
        codes = codes.reshape(category_grid.shape)
        if not (codes >= 0).any():
            raise DataValidationError(
                "item_categories has no category for any recommended item; check that its keys have "
                "the type of the item ids (int or str)"
            )
        for k in cutoffs:
            columns[f"diversity@{k}"] = _diversity_rows(codes, k)
    return columns


def _summary(
    per_user: pd.DataFrame,
    cutoffs: tuple[int, ...],
    slots: _Slots,
    catalogue_size: int,
    n_bootstrap: int,
    seed: int,
) -> pd.DataFrame:
    """Build the summary rows in the order of RANKING_METRICS then LIST_METRICS, each by k."""
    labels = [
        (name, k)
        for name in (*RANKING_METRICS, *LIST_METRICS)
        for k in cutoffs
        if f"{name}@{k}" in per_user.columns
    ]
    values = per_user[[f"{name}@{k}" for name, k in labels]].to_numpy(dtype=np.float64)
    means = _nan_means(np.ones((1, len(values))), values)[0]
    low, high = _bootstrap_interval(values, n_bootstrap, seed)
    interval = {label: (means[column], low[column], high[column]) for column, label in enumerate(labels)}

    rows = []
    for name in (*RANKING_METRICS, *LIST_METRICS):
        for k in cutoffs:
            if name == "coverage":
                listed = set(slots.item_ids[:, :k][slots.filled[:, :k]].tolist())
                rows.append((name, k, len(listed) / catalogue_size, math.nan, math.nan))
            elif (name, k) in interval:
                rows.append((name, k, *interval[(name, k)]))
    return pd.DataFrame(rows, columns=_SUMMARY_COLUMNS).astype({"k": np.int64})


def _bootstrap_interval(values: np.ndarray, n_bootstrap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the percentile bootstrap interval of the column means of ``values`` (users x metrics)."""
    n_users, n_columns = values.shape
    if n_bootstrap == 0 or n_users == 0:
        return np.full(n_columns, np.nan), np.full(n_columns, np.nan)

    generator = np.random.default_rng(seed)
    means = np.empty((n_bootstrap, n_columns))
    block = max(1, _MAX_BOOTSTRAP_CELLS // n_users)
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        drawn = generator.integers(0, n_users, size=(size, n_users))
        # counts[b, u] is how often resample b drew user u.
        offsets = (np.arange(size) * n_users)[:, None]
        counts = np.bincount((drawn + offsets).ravel(), minlength=size * n_users).reshape(size, n_users)
        means[start : start + size] = _nan_means(counts.astype(np.float64), values)

    tail = (1.0 - CONFIDENCE) / 2.0 * 100.0
    low = np.full(n_columns, np.nan)
    high = np.full(n_columns, np.nan)
    for column in range(n_columns):
        finite = means[:, column][~np.isnan(means[:, column])]
        if len(finite):
            low[column], high[column] = np.percentile(finite, [tail, 100.0 - tail])
    return low, high


def _nan_means(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Return the weighted column means of ``values`` per row of ``weights``, skipping NaN values."""
    defined = ~np.isnan(values)
    totals = weights @ np.where(defined, values, 0.0)
    counts = weights @ defined.astype(np.float64)
    return _divide(totals, counts)


# --------------------------------------------------------------------------- argument checks


def _check_model(model: Any, name: str) -> None:
    if not isinstance(model, Recommender):
        raise DataValidationError(
            f"{name} must be a recsys Recommender, such as ItemKNN(); got {type(model).__name__}"
        )


def _check_split(split: Any) -> None:
    if not isinstance(split, Split):
        raise DataValidationError(
            f"split must be a Split from temporal_split, leave_last_k or random_holdout; "
            f"got {type(split).__name__}"
        )


def _resolve_ks(k: Any, ks: Any) -> tuple[int, ...]:
    if ks is None:
        return (_check_k(k),)
    if (
        isinstance(ks, (str, bytes))
        or not isinstance(ks, Sequence | set | frozenset | np.ndarray)
        or len(ks) == 0
    ):
        raise DataValidationError(
            f"ks must be a non-empty list of ints >= 1, such as [5, 10, 20]; got {ks!r}"
        )
    return tuple(sorted({_check_k(value, "ks") for value in ks}))


def _check_int_at_least(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataValidationError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def _check_categories(item_categories: Any) -> pd.Series | None:
    """Return the categories as a Series indexed by item id, or None."""
    if item_categories is None:
        return None
    if isinstance(item_categories, pd.Series):
        categories = item_categories
    elif isinstance(item_categories, Mapping):
        categories = pd.Series(dict(item_categories), dtype=object)
    else:
        raise DataValidationError(
            f"item_categories must be a mapping or a pandas Series of item id to category; "
            f"got {type(item_categories).__name__}"
        )
    if not categories.index.is_unique:
        duplicated = categories.index[categories.index.duplicated()][:5].tolist()
        raise DataValidationError(f"item_categories has repeated item ids, such as {duplicated}")
    return categories.astype(object)
