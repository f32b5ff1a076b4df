"""The contract every recsys model follows, and the request path they share.

A model subclasses :class:`Recommender` and implements four steps on item
positions: fit its own state, score a weighted history, list an item's neighbours,
and split a score into per-history-item contributions. Everything else (ids,
filters, backfill, reasons, batches, persistence) lives here, so every model
handles unknown ids and rules the same way.

Unknown ids, one policy for every method
----------------------------------------
- ``recommend`` for an unknown user returns the popularity fallback, each item
  with ``reason="popular"``; with ``strict=True`` it raises
  :class:`~recsys.exceptions.UnknownUserError`.
- Unknown ids in a basket, ``exclude`` or ``allow`` are ignored and listed in
  :attr:`Recommendations.unknown_items`.
- ``similar_items`` and ``explain`` of an unknown item raise
  :class:`~recsys.exceptions.UnknownItemError`.

Catalogue, rules and evidence gates
-----------------------------------
A model may carry a :class:`~recsys.catalog.Catalog` of item attributes
(:meth:`Recommender.set_catalog`, or the ``item_metadata`` of the interactions it
was fitted on). ``recommend``, ``recommend_basket`` and ``similar_items`` then take
per-request :class:`~recsys.rules.Rules` (include, exclude, boost, a cap per
category) and always hide items outside their availability window. ``min_support``
keeps only evidence from item pairs with at least that many co-buyers; it needs a
model that stores those counts (``support_``, as :class:`~recsys.ItemKNN` does).
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any, Self, cast

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import rules
from recsys._ids import Id
from recsys.catalog import Catalog, CatalogView, CompiledRules, catalog_from_metadata
from recsys.data import Interactions
from recsys.exceptions import DataValidationError, NotFittedError, UnknownItemError, UnknownUserError
from recsys.results import Reason, Recommendation, Recommendations
from recsys.rules import Rules

__all__ = ["Recommender"]

logger = logging.getLogger(__name__)

#: Number of history items named in ``Recommendation.because``.
N_REASONS = 3

#: Gated neighbour tables cached per model, one per requested ``min_support`` value.
_MAX_GATED_TABLES = 8

_DATA_PARAMS = ("event_weights", "half_life_days", "count_repeats")


class Recommender(ABC):
    """Base class of recsys models.

    The constructor of a subclass only stores its parameters. :meth:`fit` validates
    the data and sets the learned state, whose names end in ``_``.

    Parameters shared by every model (the data is weighted with them when ``fit``
    receives events rather than :class:`~recsys.data.Interactions`):

    event_weights : mapping of str to float, optional
        Weight per event type; None means :data:`recsys.data.DEFAULT_EVENT_WEIGHTS`,
        or the weights of the given ``Interactions``.
    half_life_days : float, optional
        Time-decay half-life; None means no decay.
    count_repeats : bool, optional
        Sum repeated (user, item, event) rows instead of counting them once.

    Attributes
    ----------
    user_ids_, item_ids_ : IdMap
        External ids of the fitted users and items.
    user_items_ : csr_array
        The fitted histories, users x items.
    popularity_ : ndarray of float64
        Column sums of ``user_items_``; drives the fallback and backfill.
    item_metadata_ : DataFrame or None
        Item attributes by position, for example ``description``.
    catalog_ : Catalog or None
        Typed item attributes that per-request rules read: built from the fitted
        ``item_metadata`` or set with :meth:`set_catalog`.
    data_params_ : dict
        Event weights, half-life, reference time and repeat rule the data was
        weighted with.
    fitted_at_ : str
        ISO 8601 time of the fit, UTC, cut to whole seconds.
    data_until_ : pandas.Timestamp or None
        The newest event ``timestamp`` of the training data, UTC: events with a
        later timestamp are not in the model. None when the events had no
        timestamps or the model was saved by a recsys that did not record it.
    store_high_water_mark_ : int or None
        The largest row id of the service's event store that the training data
        was read from (``recsys train --from-store``): stored events with a larger
        id are not in the model. None when the data came from elsewhere.
    version_ : str
        Content hash of the fitted state; equal for a model and its saved copy.
    """

    #: Reason given to the items ``similar_items`` returns.
    _neighbor_reason: Reason = "similar"

    # Subclasses list their own parameters in __init__; get_params reads them from there.
    event_weights: Mapping[str, float] | None
    half_life_days: float | None
    count_repeats: bool | None

    # ----------------------------------------------------------------- parameters

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters as a JSON-friendly dict."""
        names = [name for name in inspect.signature(type(self).__init__).parameters if name != "self"]
        params = {name: getattr(self, name) for name in names}
        if params.get("event_weights") is not None:
            params["event_weights"] = dict(params["event_weights"])
        return params

    def __repr__(self) -> str:
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = [
            f"{name}={value!r}" for name, value in self.get_params().items() if defaults.get(name) != value
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    # ----------------------------------------------------------------- fitting

    def fit(self, data: Interactions | pd.DataFrame | str | PathLike[str]) -> Self:
        """Fit the model on events or on prepared interactions.

        Parameters
        ----------
        data : Interactions, DataFrame or path
            Events (see :meth:`recsys.data.Interactions.from_events`) are weighted
            with this model's ``event_weights``, ``half_life_days`` and
            ``count_repeats``. Prepared ``Interactions`` are used as they are; a data
            parameter set on the model must then equal the one they were built with.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        interactions = self._interactions(data)
        self._fit_shared(interactions)
        self._fit_model(interactions)
        self.fitted_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        from recsys.persistence import content_version

        self.version_ = content_version(self)
        logger.info(
            "fitted %s on %s users x %s items in %.2f s",
            type(self).__name__,
            f"{interactions.shape[0]:,}",
            f"{interactions.shape[1]:,}",
            time.perf_counter() - started,
        )
        return self

    def _interactions(self, data: Interactions | pd.DataFrame | str | PathLike[str]) -> Interactions:
        if not isinstance(data, (Interactions, pd.DataFrame, str, PathLike)):
            raise DataValidationError(
                f"fit needs Interactions, a pandas DataFrame of events, or the path of an events "
                f"CSV or Parquet file; got {type(data).__name__}"
            )
        if not isinstance(data, Interactions):
            return Interactions.from_events(
                data,
                event_weights=self.event_weights,
                half_life_days=self.half_life_days,
                count_repeats=bool(self.count_repeats),
            )
        built_with = {
            "event_weights": data.event_weights,
            "half_life_days": data.half_life_days,
            "count_repeats": data.count_repeats,
        }
        for name in _DATA_PARAMS:
            wanted = getattr(self, name)
            if (
                wanted is not None
                and (dict(wanted) if name == "event_weights" else wanted) != built_with[name]
            ):
                raise DataValidationError(
                    f"{name}={wanted!r} on {type(self).__name__} differs from the Interactions, "
                    f"which were built with {name}={built_with[name]!r}; pass the same value to "
                    f"Interactions.from_events, or leave {name}=None on the model"
                )
        return data

    def _fit_shared(self, interactions: Interactions) -> None:
        """Set the state every model needs: ids, histories, popularity."""
        if interactions.user_items.nnz == 0:
            raise DataValidationError("cannot fit on empty data: no event has a weight > 0")
        self.user_ids_ = interactions.user_ids
        self.item_ids_ = interactions.item_ids
        self.user_items_ = interactions.user_items
        self.event_names_ = tuple(interactions.event_weights)
        self.seen_events_ = _seen_event_bits(interactions)
        self.popularity_ = np.asarray(interactions.user_items.sum(axis=0), dtype=np.float64).ravel()
        self.item_metadata_ = interactions.item_metadata
        self.catalog_ = (
            None
            if interactions.item_metadata is None
            else catalog_from_metadata(interactions.item_metadata, interactions.item_ids)
        )
        self.data_params_ = {
            "event_weights": dict(interactions.event_weights),
            "half_life_days": interactions.half_life_days,
            "reference_time": None
            if interactions.reference_time is None
            else interactions.reference_time.isoformat(),
            "count_repeats": interactions.count_repeats,
        }
        self.n_events_ = interactions.n_events
        self.data_until_: pd.Timestamp | None = interactions.data_until
        # Only a store read has a mark, so `recsys train --from-store` sets it after the fit.
        self.store_high_water_mark_: int | None = None
        self._set_popular_order()

    def _set_popular_order(self) -> None:
        order = np.argsort(-self.popularity_, kind="stable")
        self._popular_order = order[self.popularity_[order] > 0]

    @abstractmethod
    def _fit_model(self, interactions: Interactions) -> None:
        """Fit the model's own state from ``interactions``."""

    @abstractmethod
    def _score(self, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Return a float64 score per item for a history (positions and weights).

        A score of 0 means no evidence; scores must be finite and >= 0.
        """

    @abstractmethod
    def _neighbors(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the positions and scores of an item's neighbours, best first."""

    @abstractmethod
    def _contributions(self, history: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Return the part of each target's score owed to each history item.

        Shape (len(targets), len(history)).
        """

    @abstractmethod
    def _model_arrays(self) -> dict[str, np.ndarray]:
        """Return the model's own fitted arrays, for saving."""

    @abstractmethod
    def _restore_model_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Set the model's own fitted state from saved arrays."""

    # ----------------------------------------------------------------- requests

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` or ``load`` has run."""
        return hasattr(self, "version_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() or recsys.load() first"
            )

    def recommend(
        self,
        user_id: Id,
        n: int = 10,
        *,
        exclude_seen: bool | Sequence[str] = True,
        exclude: Iterable[Id] | None = None,
        allow: Iterable[Id] | None = None,
        backfill: bool = False,
        strict: bool = False,
        recent: Mapping[Id, float] | pd.DataFrame | None = None,
        rules: Rules | Mapping[str, Any] | None = None,
        min_support: int | None = None,
    ) -> Recommendations:
        """Recommend items for a user from the history seen at fit time plus recent events.

        Parameters
        ----------
        user_id : int or str
        n : int, default 10
            Maximum number of items, >= 0. Fewer come back when fewer items have
            evidence, unless ``backfill`` is set.
        exclude_seen : bool or sequence of str, default True
            Leave out items the user already has: True for any event type, or only
            the listed event types (e.g. ``["purchase"]``), or False to keep them.
        exclude : iterable of ids, optional
            Items never to return. Unknown ids are ignored and reported.
        allow : iterable of ids, optional
            When given, only these items may be returned.
        backfill : bool, default False
            Fill the list up to ``n`` with popular items, flagged ``reason="popular"``.
        strict : bool, default False
            Raise :class:`~recsys.exceptions.UnknownUserError` for a user the model
            has not seen and who has no ``recent`` events, instead of returning the
            popular fallback.
        recent : DataFrame or mapping of id to weight, optional
            What the user did after the model was fitted, added to the fitted
            history without refitting. A DataFrame has the columns ``item_id`` and
            ``event`` (and optionally ``weight``) and is weighted like the training
            events (:meth:`weigh_events`). A mapping gives item weights directly.
            Recent items count as seen: a DataFrame's by their event types, a
            mapping's only when ``exclude_seen`` is True. Unknown item ids are
            ignored and reported. An unknown user with recent events gets
            recommendations from them instead of the fallback.
        rules : Rules or mapping, optional
            Per-request business rules over the catalogue's attributes (see
            :class:`~recsys.rules.Rules`); they apply to the popular fallback and
            backfill too. Items outside their availability window are hidden
            whether or not rules are given.
        min_support : int, optional
            Use only item pairs with at least this many co-buyers as evidence.
            Items left without evidence are counted in
            ``Recommendations.below_min_support``; they are not replaced by popular
            items unless ``backfill`` is set. Raises
            :class:`~recsys.exceptions.DataValidationError` for a model that stores
            no co-buyer counts.

        Returns
        -------
        Recommendations
            ``known_user`` is True when the model has the user's fitted history;
            ``short_of_evidence`` tells whether fewer than ``n`` items have evidence.
        """
        self._check_fitted()
        n = _check_n(n)
        compiled = self._compile_rules(rules)
        scorer = self._with_min_support(min_support)
        seen_mask = self._seen_mask_bits(exclude_seen)
        exclude_idx, allow_idx, unknown = self._filter_positions(exclude, allow)
        recent_items, recent_weights, recent_seen = self._recent_history(recent, seen_mask, unknown)

        user = self.user_ids_.index_of(user_id)
        if user >= 0:
            history, weights = self._user_history(user)
            seen = self._seen_in_history(user, history, seen_mask)
        elif len(recent_items) == 0:
            if strict:
                raise UnknownUserError(user_id, "pass strict=False to get the popular fallback")
            blocked = _blocked(len(self.item_ids_), exclude_idx, allow_idx, compiled)
            fill = self._backfill(np.empty(0, dtype=np.int64), blocked, n, compiled)
            return Recommendations(
                self._popular_items(fill, compiled),
                tuple(unknown),
                known_user=False,
                short_of_evidence=n > 0,
            )
        else:
            history = weights = seen = np.empty(0)

        if len(recent_items):
            history, weights = _merge_histories(history, weights, recent_items, recent_weights)
        excluded = np.concatenate([seen, recent_seen, exclude_idx]).astype(np.int64)
        items = self._rank(
            history.astype(np.int64),
            weights.astype(np.float64),
            excluded,
            allow_idx,
            n,
            backfill,
            compiled=compiled,
            scorer=scorer,
        )
        return _result(items, tuple(unknown), n, user >= 0)

    def weigh_events(self, events: pd.DataFrame) -> dict[Id, float]:
        """Turn a user's events into item weights with the model's own event rules.

        Each event counts ``event_weights[event] * weight`` (``weight`` defaults to
        1). Repeated (item, event) rows count once with their largest value, or are
        summed when the model was fitted with ``count_repeats``; event types of one
        item are summed, as at fit time. No time decay applies: recent events are
        newer than the fit's reference time, where the decay factor is 1.

        Raises
        ------
        DataValidationError
            For a missing ``item_id`` or ``event`` column, an event type the model was
            not fitted with, or a weight that is not a finite number >= 0.
        """
        self._check_fitted()
        frame = _recent_frame(events, self._event_weights())
        if frame.empty:
            return {}
        grouped = frame.groupby(["item_id", "event"], sort=False)["value"]
        per_event = grouped.sum() if self.data_params_["count_repeats"] else grouped.max()
        per_item = per_event.groupby(level="item_id", sort=False).sum()
        return {_plain_id(item_id): float(value) for item_id, value in per_item.items() if value > 0}

    def recommend_batch(self, user_ids: Sequence[Id], n: int = 10, **options: Any) -> list[Recommendations]:
        """Call :meth:`recommend` for each user; the output keeps the input order and length.

        An unknown user gets the fallback (or, with ``strict=True``, the error is
        raised) without affecting the other users' lists.
        """
        return [self.recommend(user_id, n, **options) for user_id in user_ids]

    def recommend_basket(
        self,
        items: Sequence[Id] | Mapping[Id, float],
        n: int = 10,
        *,
        exclude: Iterable[Id] | None = None,
        allow: Iterable[Id] | None = None,
        backfill: bool = False,
        rules: Rules | Mapping[str, Any] | None = None,
        min_support: int | None = None,
    ) -> Recommendations:
        """Recommend items for a basket or an anonymous session, without refitting.

        Parameters
        ----------
        items : sequence of ids, mapping of id to weight, or sparse row
            The basket; each item weighs 1 unless a mapping gives a weight (a
            finite number >= 0). Repeated ids count once. A scipy sparse array or
            matrix of shape (1, n_items), in any format (CSR, CSC, COO, ...), is read
            as weights by item position. Basket items are never returned. Unknown
            ids are ignored and reported.
        n, exclude, allow, backfill, rules, min_support
            As in :meth:`recommend`. An empty (or wholly unknown) basket returns an
            empty list, or the popular items when ``backfill=True``.

        Returns
        -------
        Recommendations
        """
        self._check_fitted()
        n = _check_n(n)
        compiled = self._compile_rules(rules)
        scorer = self._with_min_support(min_support)
        history, weights, unknown_basket = self._basket_positions(items)
        exclude_idx, allow_idx, unknown = self._filter_positions(exclude, allow)
        excluded = np.concatenate([history, exclude_idx])
        ranked = self._rank(
            history, weights, excluded, allow_idx, n, backfill, compiled=compiled, scorer=scorer
        )
        return _result(ranked, tuple(unknown_basket + unknown), n, None)

    def similar_items(
        self,
        item_id: Id,
        n: int = 10,
        *,
        exclude: Iterable[Id] | None = None,
        allow: Iterable[Id] | None = None,
        rules: Rules | Mapping[str, Any] | None = None,
        min_support: int | None = None,
    ) -> Recommendations:
        """List the items most similar to ``item_id`` ("customers who bought this also bought").

        Returns at most ``n`` of the item's fitted neighbours, so never more than the
        model's ``n_neighbors``; a known item with no neighbours gives an empty list.
        The item itself is never returned. ``rules`` and ``min_support`` work as in
        :meth:`recommend`: boosts reorder the neighbours, the category cap picks
        the next neighbour in place of one over the cap, and no popular items are
        added.

        Raises
        ------
        UnknownItemError
            If the model does not know ``item_id``.
        """
        self._check_fitted()
        n = _check_n(n)
        compiled = self._compile_rules(rules)
        scorer = self._with_min_support(min_support)
        item = self._item_position(item_id)
        exclude_idx, allow_idx, unknown = self._filter_positions(exclude, allow)
        blocked = _blocked(len(self.item_ids_), exclude_idx, allow_idx, compiled)
        neighbors, scores = scorer._neighbors(item)
        below = 0
        if scorer is not self:
            ungated, _ = self._neighbors(item)
            below = int((~blocked[ungated]).sum() - (~blocked[neighbors]).sum())
        neighbors, scores = _pick_neighbors(neighbors, scores, blocked, n, compiled)
        reason = self._neighbor_reason
        because = (self.item_ids_.id_of(item),) if reason == "similar" else ()
        items = tuple(
            Recommendation(item_id, float(score), reason, because)
            for item_id, score in zip(self.item_ids_.ids_of(neighbors), scores, strict=True)
        )
        return Recommendations(
            items, tuple(unknown), short_of_evidence=len(items) < n, below_min_support=below
        )

    def similar_items_batch(
        self, item_ids: Sequence[Id], n: int = 10, **options: Any
    ) -> list[Recommendations]:
        """Call :meth:`similar_items` for each item, keeping the input order and length."""
        return [self.similar_items(item_id, n, **options) for item_id in item_ids]

    def explain(
        self,
        item_id: Id,
        *,
        user_id: Id | None = None,
        basket: Sequence[Id] | Mapping[Id, float] | None = None,
    ) -> pd.DataFrame:
        """Break the score of ``item_id`` down by history item.

        Give either ``user_id`` (the fitted history) or ``basket``.

        Returns
        -------
        DataFrame
            Columns ``history_item_id``, ``weight`` and ``contribution``, largest
            contribution first; contributions sum to the item's score.
        """
        history, weights, contributions, order = self._explained_history(item_id, user_id, basket)
        frame = pd.DataFrame(
            {
                "history_item_id": pd.Series(self.item_ids_.ids_of(history[order]), dtype=object),
                "weight": weights[order],
                "contribution": contributions[order],
            }
        )
        return frame[frame["contribution"] > 0].reset_index(drop=True)

    def _explained_history(
        self,
        item_id: Id,
        user_id: Id | None,
        basket: Sequence[Id] | Mapping[Id, float] | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return the history behind :meth:`explain`: positions, weights, contributions and order.

        The history is the fitted one of ``user_id`` or the positions of
        ``basket``. ``order`` ranks it by contribution to ``item_id``, largest
        first, ties by the smaller position.
        """
        self._check_fitted()
        target = self._item_position(item_id)
        if (user_id is None) == (basket is None):
            raise DataValidationError("explain needs exactly one of user_id or basket")
        if user_id is not None:
            user = self.user_ids_.index_of(user_id)
            if user < 0:
                raise UnknownUserError(user_id)
            history, weights = self._user_history(user)
        else:
            history, weights, _ = self._basket_positions(basket or [])
        contributions = self._contributions(history, weights, np.array([target]))[0]
        order = np.lexsort((history, -contributions))
        return history, weights, contributions, order

    def get_item_metadata(self, item_ids: Sequence[Id]) -> list[dict[str, Any]]:
        """Return the stored attributes of each item, such as its description.

        Items without metadata, and unknown items, get an empty dict; missing values
        are left out. The output keeps the input order.
        """
        self._check_fitted()
        positions = self.item_ids_.indices_of(list(item_ids))
        metadata = self.item_metadata_
        if metadata is None:
            return [{} for _ in positions]
        columns = [(str(name), metadata[name].to_numpy(dtype=object)) for name in metadata.columns]
        return [
            {}
            if position < 0
            else {name: values[position] for name, values in columns if values[position] is not None}
            for position in positions
        ]

    def set_catalog(self, catalog: Catalog | pd.DataFrame | str | PathLike[str] | None) -> Self:
        """Attach a catalogue of item attributes, replacing the current one and the metadata.

        Rules read the catalogue, and :meth:`get_item_metadata` returns its
        attributes from now on. Catalogue items the model does not contain are kept
        (they are saved with the model) but never recommended; they are logged and
        listed in :meth:`catalog_summary`. Model items the catalogue lacks have no
        attributes. The model's ``version_`` does not change.

        Parameters
        ----------
        catalog : Catalog, DataFrame, path or None
            A :class:`~recsys.catalog.Catalog`, a table for
            :meth:`Catalog.from_frame`, a CSV or Parquet file for
            :meth:`Catalog.read`, or None to remove the catalogue and the metadata.

        Returns
        -------
        self

        Raises
        ------
        DataValidationError
            If the table is invalid; the model keeps its previous catalogue.
        """
        self._check_fitted()
        if catalog is None:
            self.catalog_ = None
            self.item_metadata_ = None
            self._aligned_catalog = None
            return self
        if isinstance(catalog, pd.DataFrame):
            catalog = Catalog.from_frame(catalog)
        elif isinstance(catalog, (str, PathLike)):
            catalog = Catalog.read(catalog)
        elif not isinstance(catalog, Catalog):
            raise DataValidationError(
                f"catalog must be a recsys.Catalog, a DataFrame, a file path or None; got {type(catalog).__name__}"
            )
        view = catalog.align(self.item_ids_)
        metadata = view.metadata_frame()
        # Assigned last, so a concurrent request reads either the old or the new catalogue whole.
        self._aligned_catalog = view
        self.item_metadata_ = metadata
        self.catalog_ = catalog
        logger.info(
            "attached a catalogue of %s items: %s not in the model (never recommended), "
            "%s model items without attributes",
            f"{len(catalog):,}",
            f"{len(view.unknown_item_ids):,}",
            f"{view.n_missing:,}",
        )
        return self

    def catalog_summary(self) -> dict[str, Any]:
        """Return how the catalogue matches the model's items.

        Returns
        -------
        dict
            ``items`` (catalogue rows), ``matched`` (rows of items the model
            contains), ``unknown_items`` (ids of the other rows), ``missing_items``
            (model items without a row) and ``columns`` (the kind of each
            attribute). All counts are 0 when the model has no catalogue.
        """
        self._check_fitted()
        view = self._catalog_view()
        if view is None:
            return {
                "items": 0,
                "matched": 0,
                "unknown_items": [],
                "missing_items": len(self.item_ids_),
                "columns": {},
            }
        return {
            "items": len(view.catalog),
            "matched": len(view.catalog) - len(view.unknown_item_ids),
            "unknown_items": list(view.unknown_item_ids),
            "missing_items": view.n_missing,
            "columns": dict(view.catalog.kinds),
        }

    # ----------------------------------------------------------------- persistence

    def save(self, path: str | PathLike[str]) -> None:
        """Write the fitted model to a directory (see :mod:`recsys.persistence`)."""
        from recsys.persistence import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | PathLike[str], *, mmap: bool = True) -> Self:
        """Read a model directory written by :meth:`save`.

        Raises
        ------
        ModelFormatError
            If a file is missing or corrupt, the format version is unsupported, or
            the directory contains another model class.
        """
        from recsys.persistence import load_model

        return load_model(path, mmap=mmap, expected=cls)

    # ----------------------------------------------------------------- helpers

    def _rank(
        self,
        history: np.ndarray,
        weights: np.ndarray,
        excluded: np.ndarray,
        allow_idx: np.ndarray | None,
        n: int,
        backfill: bool,
        *,
        compiled: CompiledRules | None = None,
        scorer: Recommender | None = None,
    ) -> _Ranked:
        """Score a history, apply the rules and build the result items.

        ``scorer`` is this model or its ``min_support`` view (:meth:`_with_min_support`).
        """
        scorer = self if scorer is None else scorer
        n_items = len(self.item_ids_)
        blocked = _blocked(n_items, excluded, allow_idx, compiled)
        multiplier = None if compiled is None else compiled.multiplier
        below = 0
        if len(history):
            scores = scorer._score(history, weights)
            if scorer is not self:
                ungated = self._score(history, weights)
                below = int(((ungated > 0) & (scores <= 0) & ~blocked).sum())
            if multiplier is not None:
                scores = scores * multiplier
            chosen = rules.top_n(
                scores,
                blocked,
                n,
                groups=None if compiled is None else compiled.groups,
                max_per_group=None if compiled is None else compiled.max_per_group,
            )
        else:
            scores = np.zeros(n_items)
            chosen = np.empty(0, dtype=np.int64)
        items = scorer._similar_items_with_reasons(history, weights, chosen, scores)
        evidence = len(items)
        if backfill:
            fill = self._backfill(chosen, blocked, n, compiled)
            items += self._popular_items(fill, compiled)
        return _Ranked(items, evidence, below)

    def _backfill(
        self, chosen: np.ndarray, blocked: np.ndarray, n: int, compiled: CompiledRules | None
    ) -> np.ndarray:
        """Return the popular positions that fill ``chosen`` up to ``n`` under the rules."""
        if compiled is None or (compiled.multiplier is None and compiled.groups is None):
            return rules.backfill(chosen, self._popular_order, blocked, n)
        return rules.backfill_ranked(
            chosen,
            self.popularity_,
            blocked,
            n,
            multiplier=compiled.multiplier,
            groups=compiled.groups,
            max_per_group=compiled.max_per_group,
        )

    def _compile_rules(self, request_rules: Rules | Mapping[str, Any] | None) -> CompiledRules | None:
        """Compile a request's rules and the availability window over the catalogue."""
        checked = Rules.of(request_rules)
        view = self._catalog_view()
        if view is None:
            if checked is not None and not checked.is_empty:
                raise DataValidationError(
                    f"rules name the attribute(s) {checked.attributes}, but this "
                    f"{type(self).__name__} has no catalogue; attach one with set_catalog() first"
                )
            return None
        return view.compile(checked)

    def _catalog_view(self) -> CatalogView | None:
        """Return the catalogue aligned with the item positions, rebuilt when either changes."""
        catalog: Catalog | None = getattr(self, "catalog_", None)
        if catalog is None:
            return None
        view: CatalogView | None = getattr(self, "_aligned_catalog", None)
        if view is None or view.catalog is not catalog or view.item_ids is not self.item_ids_:
            view = catalog.align(self.item_ids_)
            self._aligned_catalog = view
        return view

    def _with_min_support(self, min_support: int | None) -> Recommender:
        """Return this model, or a view of it whose neighbour table keeps pairs with enough co-buyers.

        The view shares every array except the gated table, and is cached per
        ``min_support`` value.

        Raises
        ------
        DataValidationError
            If ``min_support`` is not an int >= 1, or the model stores no
            co-buyer counts (a ``support_`` table next to ``similarity_``).
        """
        if min_support is None:
            return self
        if isinstance(min_support, bool) or not isinstance(min_support, (int, np.integer)) or min_support < 1:
            raise DataValidationError(f"min_support must be an int >= 1; got {min_support!r}")
        similarity = getattr(self, "similarity_", None)
        support = getattr(self, "support_", None)
        if similarity is None or support is None:
            raise DataValidationError(
                f"min_support needs the co-buyer count of each item pair, which this "
                f"{type(self).__name__} does not store; use an ItemKNN fitted or saved by this "
                f"recsys version, or leave min_support unset"
            )
        cache: dict[int, tuple[Any, Any, Recommender]] = self.__dict__.setdefault("_gated_views", {})
        cached = cache.get(int(min_support))
        if cached is not None and cached[0] is similarity and cached[1] is support:
            return cached[2]
        if not (
            support.shape == similarity.shape
            and np.array_equal(support.indptr, similarity.indptr)
            and np.array_equal(support.indices, similarity.indices)
        ):
            raise DataValidationError(
                f"the co-buyer counts (support_, {support.nnz} pairs) do not match the neighbour "
                f"table (similarity_, {similarity.nnz} pairs), which changed after the fit; refit "
                f"the model to use min_support"
            )
        keep = np.asarray(support.data) >= min_support
        rows = np.repeat(np.arange(similarity.shape[0]), np.diff(similarity.indptr))
        indptr = np.zeros(similarity.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=similarity.shape[0]), out=indptr[1:])
        # Any: the neighbour-table attributes exist on the subclasses that store support_.
        gated: Any = copy.copy(self)
        gated.__dict__.pop("_gated_views", None)
        pattern = (np.asarray(similarity.indices)[keep], indptr)
        gated.similarity_ = sp.csr_array(
            (np.asarray(similarity.data)[keep], *pattern), shape=similarity.shape
        )
        gated.support_ = sp.csr_array((np.asarray(support.data)[keep], *pattern), shape=similarity.shape)
        if len(cache) >= _MAX_GATED_TABLES:
            cache.pop(next(iter(cache)))
        cache[int(min_support)] = (similarity, support, gated)
        return cast(Recommender, gated)

    def _similar_items_with_reasons(
        self, history: np.ndarray, weights: np.ndarray, chosen: np.ndarray, scores: np.ndarray
    ) -> tuple[Recommendation, ...]:
        if len(chosen) == 0:
            return ()
        contributions = self._contributions(history, weights, chosen)
        item_ids = self.item_ids_.ids_of(chosen)
        result = []
        for row, (item_id, position) in enumerate(zip(item_ids, chosen, strict=True)):
            shares = contributions[row]
            top = np.lexsort((history, -shares))[:N_REASONS]
            top = top[shares[top] > 0]
            because = tuple(self.item_ids_.ids_of(history[top]))
            result.append(Recommendation(item_id, float(scores[position]), "similar", because))
        return tuple(result)

    def _popular_items(
        self, positions: np.ndarray, compiled: CompiledRules | None = None
    ) -> tuple[Recommendation, ...]:
        ids = self.item_ids_.ids_of(positions)
        scores = self.popularity_[positions]
        if compiled is not None and compiled.multiplier is not None:
            scores = scores * compiled.multiplier[positions]
        return tuple(
            Recommendation(item_id, float(score), "popular")
            for item_id, score in zip(ids, scores, strict=True)
        )

    def _event_weights(self) -> dict[str, float]:
        return cast(dict[str, float], self.data_params_["event_weights"])

    def _seen_in_history(self, user: int, history: np.ndarray, seen_mask: int | None) -> np.ndarray:
        """Return the positions of a fitted user's history that ``exclude_seen`` leaves out."""
        if seen_mask is None:
            return history
        if not seen_mask:
            return np.empty(0, dtype=np.int64)
        start = self.user_items_.indptr[user]
        events = self.seen_events_[start : start + len(history)]
        return history[(events & seen_mask) != 0]

    def _recent_history(
        self, recent: Mapping[Id, float] | pd.DataFrame | None, seen_mask: int | None, unknown: list[Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the positions and weights of recent items, and the ones that count as seen."""
        empty = np.empty(0, dtype=np.int64)
        if recent is None:
            return empty, np.empty(0), empty
        if isinstance(recent, pd.DataFrame):
            frame = _recent_frame(recent, self._event_weights())
            weights_by_item = self.weigh_events(recent)
            if seen_mask is None:
                seen_ids = list(weights_by_item)
            elif seen_mask:
                bits = frame["event"].map({name: 1 << index for index, name in enumerate(self.event_names_)})
                seen_ids = frame.loc[(bits.to_numpy() & seen_mask) != 0, "item_id"].unique().tolist()
            else:
                seen_ids = []
        elif isinstance(recent, Mapping):
            weights_by_item = {
                item_id: _check_basket_weight(item_id, weight) for item_id, weight in recent.items()
            }
            seen_ids = list(weights_by_item) if seen_mask is None else []
        else:
            raise DataValidationError(
                f"recent must be a DataFrame of events or a mapping of item id to weight; got {type(recent).__name__}"
            )
        ids = list(weights_by_item)
        positions = self.item_ids_.indices_of(ids)
        unknown.extend(id_ for id_, position in zip(ids, positions, strict=True) if position < 0)
        weights = np.array([weights_by_item[id_] for id_ in ids], dtype=np.float64)
        known = (positions >= 0) & (weights > 0)
        seen_positions = self.item_ids_.indices_of(seen_ids)
        return positions[known], weights[known], seen_positions[seen_positions >= 0]

    def _user_history(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the item positions and weights of a fitted user's history."""
        start, stop = self.user_items_.indptr[user], self.user_items_.indptr[user + 1]
        history = np.asarray(self.user_items_.indices[start:stop], dtype=np.int64)
        weights = np.asarray(self.user_items_.data[start:stop], dtype=np.float64)
        return history, weights

    def _item_position(self, item_id: Id) -> int:
        position = self.item_ids_.index_of(item_id)
        if position < 0:
            raise UnknownItemError(item_id)
        return position

    def _filter_positions(
        self, exclude: Iterable[Id] | None, allow: Iterable[Id] | None
    ) -> tuple[np.ndarray, np.ndarray | None, list[Any]]:
        """Map the exclude and allow lists to positions; collect the unknown ids."""
        unknown: list[Any] = []
        exclude_idx = self._known_positions(exclude, "exclude", unknown)
        allow_idx = None if allow is None else self._known_positions(allow, "allow", unknown)
        return exclude_idx, allow_idx, unknown

    def _known_positions(self, ids: Iterable[Id] | None, name: str, unknown: list[Any]) -> np.ndarray:
        if ids is None:
            return np.empty(0, dtype=np.int64)
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise DataValidationError(f"{name} must be a list of ids; got {type(ids).__name__} {ids!r}")
        ids = list(ids)
        positions = self.item_ids_.indices_of(ids)
        unknown.extend(id_ for id_, position in zip(ids, positions, strict=True) if position < 0)
        return positions[positions >= 0]

    def _basket_positions(
        self, items: Sequence[Id] | Mapping[Id, float]
    ) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """Return the known basket positions, their weights, and the unknown ids."""
        if sp.issparse(items):
            return (*self._sparse_history(items), [])
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise DataValidationError(
                f"items must be a list of ids, a mapping of id to weight, or a sparse row; "
                f"got {type(items).__name__} {items!r}"
            )
        if isinstance(items, Mapping):
            ids = list(items)
            weights = [_check_basket_weight(id_, items[id_]) for id_ in ids]
        else:
            ids = list(items)
            weights = [1.0] * len(ids)
        positions = self.item_ids_.indices_of(ids)
        unknown = [id_ for id_, position in zip(ids, positions, strict=True) if position < 0]
        known = positions >= 0
        positions, first = np.unique(positions[known], return_index=True)
        basket_weights = np.asarray(weights, dtype=np.float64)[known][first]
        keep = basket_weights > 0
        return positions[keep], basket_weights[keep], unknown

    def _sparse_history(self, row: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return the positions and weights of a 1 x n_items sparse history, in any format."""
        expected = (1, len(self.item_ids_))
        if row.shape != expected:
            raise DataValidationError(
                f"a sparse history must have shape {expected} (one row, one column per item "
                f"position); got shape {row.shape}"
            )
        csr = sp.csr_array(row, dtype=np.float64)
        csr.sum_duplicates()
        weights = csr.data
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise DataValidationError("a sparse history must hold finite weights >= 0")
        keep = weights > 0
        return np.asarray(csr.indices, dtype=np.int64)[keep], weights[keep]

    def _seen_mask_bits(self, exclude_seen: bool | Sequence[str]) -> int | None:
        """Return None for "any event", 0 for "none", or the bit mask of event types."""
        if exclude_seen is True:
            return None
        if exclude_seen is False:
            return 0
        if isinstance(exclude_seen, str) or not isinstance(exclude_seen, Iterable):
            raise DataValidationError(
                f"exclude_seen must be True, False or a list of event types from "
                f"{list(self.event_names_)}; got {exclude_seen!r}"
            )
        mask = 0
        for event in exclude_seen:
            if event not in self.event_names_:
                raise DataValidationError(
                    f"exclude_seen names event type {event!r}, which the model was not fitted "
                    f"with; use one of {list(self.event_names_)}"
                )
            mask |= 1 << self.event_names_.index(event)
        return mask

    def write_recommendations(
        self,
        path: str | PathLike[str],
        user_ids: Iterable[Id] | None = None,
        n: int = 10,
        *,
        chunk_size: int = 10_000,
        exclude_seen: bool | Sequence[str] = True,
        exclude: Iterable[Id] | None = None,
        allow: Iterable[Id] | None = None,
        backfill: bool = False,
        rules: Rules | Mapping[str, Any] | None = None,
        min_support: int | None = None,
        show_progress: bool = False,
    ) -> Path:
        """Write the recommendations of many users to a Parquet file, one row per item.

        Each user's rows equal :meth:`recommend` with the same options, and memory
        is bounded by ``chunk_size``, not by the number of users. See
        :func:`recsys.batch.write_recommendations` for the parameters and the file
        layout.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        from recsys.batch import write_recommendations

        return write_recommendations(
            self,
            path,
            user_ids,
            n,
            chunk_size=chunk_size,
            exclude_seen=exclude_seen,
            exclude=exclude,
            allow=allow,
            backfill=backfill,
            rules=rules,
            min_support=min_support,
            show_progress=show_progress,
        )


@dataclass(frozen=True, slots=True)
class _Ranked:
    """Items of one ranked list, how many of them have evidence, and how many the gate removed."""

    items: tuple[Recommendation, ...]
    evidence: int
    below_min_support: int


def _result(ranked: _Ranked, unknown: tuple[Any, ...], n: int, known_user: bool | None) -> Recommendations:
    return Recommendations(
        ranked.items,
        unknown,
        known_user=known_user,
        short_of_evidence=ranked.evidence < n,
        below_min_support=ranked.below_min_support,
    )


def _blocked(
    n_items: int, excluded: np.ndarray, allowed: np.ndarray | None, compiled: CompiledRules | None
) -> np.ndarray:
    """Return the items that the request's ids and rules leave out."""
    blocked = rules.blocked_mask(n_items, excluded=excluded, allowed=allowed)
    if compiled is not None and compiled.blocked is not None:
        blocked |= compiled.blocked
    return blocked


def _pick_neighbors(
    neighbors: np.ndarray, scores: np.ndarray, blocked: np.ndarray, n: int, compiled: CompiledRules | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the best ``n`` neighbours that pass the rules, with their (boosted) scores."""
    keep = ~blocked[neighbors]
    neighbors, scores = neighbors[keep], scores[keep]
    if compiled is None or (compiled.multiplier is None and compiled.groups is None):
        return neighbors[:n], scores[:n]
    if compiled.multiplier is not None:
        scores = scores * compiled.multiplier[neighbors]
        order = np.lexsort((neighbors, -scores))
        neighbors, scores = neighbors[order], scores[order]
    if compiled.groups is not None and compiled.max_per_group is not None:
        groups = compiled.groups[neighbors]
        rank = rules._rank_within_group(groups)
        capped = (groups < 0) | (rank < compiled.max_per_group)
        neighbors, scores = neighbors[capped], scores[capped]
    return neighbors[:n], scores[:n]


def _plain_id(value: Any) -> Id:
    """Return a pandas or NumPy id as a plain int or str."""
    return int(value) if isinstance(value, (int, np.integer)) else str(value)


def _merge_histories(
    history: np.ndarray, weights: np.ndarray, extra: np.ndarray, extra_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Add two weighted histories; the result is sorted by position, like a CSR row."""
    positions, inverse = np.unique(np.concatenate([history, extra]).astype(np.int64), return_inverse=True)
    summed = np.bincount(inverse, weights=np.concatenate([weights, extra_weights]), minlength=len(positions))
    return positions, summed


def _recent_frame(events: pd.DataFrame, event_weights: Mapping[str, float]) -> pd.DataFrame:
    """Validate recent events and add their ``value`` column (event weight times weight)."""
    if not isinstance(events, pd.DataFrame):
        raise DataValidationError(f"recent events must be a pandas DataFrame; got {type(events).__name__}")
    missing = [column for column in ("item_id", "event") if column not in events.columns]
    if missing:
        raise DataValidationError(
            f"recent events are missing the column(s) {missing}; got {list(map(str, events.columns))}"
        )
    frame = events[["item_id", "event"]].copy()
    unknown_events = sorted({str(event) for event in frame["event"] if event not in event_weights})
    if unknown_events:
        raise DataValidationError(
            f"recent events have event types {unknown_events} the model was not fitted with; "
            f"use one of {sorted(event_weights)}"
        )
    weight = np.ones(len(frame))
    if "weight" in events.columns:
        weight = pd.to_numeric(events["weight"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(weight) | (weight < 0)
        if bad.any():
            raise DataValidationError(
                f"column 'weight' of recent events must contain finite numbers >= 0; "
                f"{int(bad.sum())} bad row(s), first at row {int(np.flatnonzero(bad)[0])}"
            )
    frame["value"] = frame["event"].map(event_weights).to_numpy(dtype=np.float64) * weight
    too_large = frame["value"].to_numpy() > np.finfo(np.float32).max
    if too_large.any():
        raise DataValidationError(
            f"column 'weight' of recent events times its event weight must fit in float32 (at most "
            f"3.4e38), as in fit; {int(too_large.sum())} bad row(s), first at row "
            f"{int(np.flatnonzero(too_large)[0])}"
        )
    return frame


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise DataValidationError(f"n must be an int >= 0; got {n!r}")
    return int(n)


def _check_basket_weight(item_id: Id, weight: Any) -> float:
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float, np.number))
        or not math.isfinite(weight)
        or weight < 0
    ):
        raise DataValidationError(
            f"basket weight for item {item_id!r} must be a finite number >= 0; got {weight!r}"
        )
    return float(weight)


def _seen_event_bits(interactions: Interactions) -> np.ndarray:
    """Return, aligned with ``user_items.data``, a bit per event type the user had."""
    bits: Any = sp.csr_array(interactions.user_items.shape, dtype=np.uint32)
    for bit, event in enumerate(interactions.event_weights):
        matrix = interactions.event_user_items[event]
        pattern = sp.csr_array(
            (np.full(matrix.nnz, 1 << bit, dtype=np.uint32), matrix.indices, matrix.indptr),
            shape=matrix.shape,
        )
        bits = bits + pattern
    bits.sort_indices()
    user_items = interactions.user_items
    # Both matrices have the same sparsity pattern, so the data arrays line up once sorted.
    if not (
        np.array_equal(bits.indptr, user_items.indptr) and np.array_equal(bits.indices, user_items.indices)
    ):
        raise AssertionError("event masks do not match user_items")
    return np.asarray(bits.data, dtype=np.uint32)
