"""Run a campaign round: pick each lead's next-best products, apply caps, record the sends.

Round 1 goes to every lead of the list. Round ``k`` goes to the leads of the list
who were sent round ``k - 1`` and then engaged: they have an event (of the
campaign's ``engagement_events``, or any event) later than that send and not
later than ``now``.

For each lead the candidates come from :meth:`recsys.Recommender.recommend` on
the lead's fitted history plus the caller's recent events. These items are left
out:

- items the lead bought, in the model's history or in the given events;
- items of the history that ``Campaign.exclude_seen`` names;
- items any campaign of the ledger sent the lead within the cooldown;
- the campaign's ``exclude_items``.

With ``include_items`` only those items may be sent. Then the whole
round is assigned at once under the exposure caps (:mod:`recsys.nurture.assign`)
and recorded in the :class:`~recsys.nurture.ledger.SendLedger`.

Re-running a round is idempotent: a lead already recorded for the (campaign,
round) keeps its stored items, their sends count against the caps, and nothing
is recorded twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recsys._ids import Id
from recsys.exceptions import DataValidationError, UnknownItemError
from recsys.models.base import Recommender
from recsys.nurture._frames import id_key, normalize_events, to_utc, unique_leads
from recsys.nurture.assign import CapReport, assign_round
from recsys.nurture.campaign import Campaign
from recsys.nurture.engagement import Engagement, EngagementConfig, score_leads
from recsys.nurture.ledger import Send, SendLedger, SentItem
from recsys.results import Recommendation

__all__ = ["LeadPlan", "RoundResult", "engaged_leads", "next_best", "run_round"]

logger = logging.getLogger(__name__)

#: Past-tense phrase for an event type in a reason ("because you bought ...").
EVENT_PHRASES = {"purchase": "bought", "cart": "added to your cart", "view": "viewed"}


@dataclass(frozen=True)
class LeadPlan:
    """One lead's result in a round: the items to send and the lead's engagement.

    Attributes
    ----------
    lead_id : int or str
    items : tuple of SentItem
        By rank; empty when every candidate was excluded or capped.
    reasons : tuple of str
        One sentence per item, such as ``"because you viewed 22423 (REGENCY CAKESTAND 3 TIER)"``.
    engagement : Engagement
    already_sent : bool
        Whether the items come from an earlier run of the same round.
    known_lead : bool
        Whether the model had a history for the lead, or the given events did.
    model_version : str
        Version of the model that chose the items.
    sent_at : pandas.Timestamp or None
        When the items were recorded, UTC. This is the time of the run that sent
        them first, which is an earlier run when ``already_sent`` is True. A dry
        run gives its own time, and a lead that got no item has None.
    """

    lead_id: Id
    items: tuple[SentItem, ...]
    reasons: tuple[str, ...]
    engagement: Engagement
    already_sent: bool
    known_lead: bool
    model_version: str
    sent_at: pd.Timestamp | None = None

    @property
    def item_ids(self) -> list[Id]:
        """The item ids, by rank."""
        return [item.item_id for item in self.items]


@dataclass(frozen=True)
class RoundResult:
    """The outcome of :func:`run_round`.

    Attributes
    ----------
    campaign_id : str
    round : int
    model_version : str
    sent_at : pandas.Timestamp
        The ``now`` of the run, UTC; the time of every send this run recorded.
    plans : tuple of LeadPlan
        One per targeted lead, in the order of the lead list, including leads
        that got no item.
    caps : CapReport
        The relevance the exposure caps cost, over the leads assigned in this run.
    unknown_items : tuple of ids
        Item ids of ``exclude_items`` or of the events that the model does not
        contain. They were ignored.
    recorded : bool
        False for a dry run, which writes nothing to the ledger.
    sends_recorded : int
        Sends this run added to the ledger: 0 for a dry run and for a re-run in
        which every lead was recorded before (see ``LeadPlan.already_sent``).
    """

    campaign_id: str
    round: int
    model_version: str
    sent_at: pd.Timestamp
    plans: tuple[LeadPlan, ...]
    caps: CapReport
    unknown_items: tuple[Id, ...]
    recorded: bool
    sends_recorded: int = 0

    @property
    def lead_ids(self) -> list[Id]:
        """The targeted leads."""
        return [plan.lead_id for plan in self.plans]

    def to_frame(self, model: Recommender | None = None) -> pd.DataFrame:
        """Return one row per sent item; see :data:`recsys.nurture.export.ROUND_COLUMNS`."""
        from recsys.nurture.export import round_frame

        return round_frame(self, model)


def engaged_leads(
    campaign: Campaign,
    round_number: int,
    ledger: SendLedger,
    events: pd.DataFrame | None,
    *,
    leads: Iterable[Id] | None = None,
    now: Any = None,
) -> list[Id]:
    """Return the leads sent ``round_number`` who had an engaging event after their send.

    Parameters
    ----------
    campaign : Campaign
    round_number : int
        The round whose sends are checked.
    ledger : SendLedger
    events : DataFrame or None
        Nurture events (see :func:`recsys.nurture.normalize_events`).
    leads : iterable of ids, optional
        Only these leads, in this order; default every lead of the round, in the
        order they were recorded.
    now : time, optional
        Events after it are ignored (default: the current time).

    Returns
    -------
    list of ids
    """
    round_number = campaign.check_round(round_number)
    moment = to_utc(pd.Timestamp.now(tz="UTC") if now is None else now, "now")
    frame = normalize_events(events)
    frame = frame[frame["timestamp"] <= moment]
    if campaign.engagement_events is not None:
        frame = frame[frame["event"].isin(list(campaign.engagement_events))]
    latest = frame.groupby("lead_key")["timestamp"].max()

    requested = None if leads is None else unique_leads(leads)
    sends = ledger.sends(campaign.campaign_id, round_number, requested)
    sent_at = {id_key(send.lead_id): send.sent_at for send in sends}
    order = [send.lead_id for send in sends] if requested is None else requested
    return [
        lead
        for lead in order
        if id_key(lead) in sent_at
        and id_key(lead) in latest.index
        and latest[id_key(lead)] > sent_at[id_key(lead)]
    ]


def run_round(
    campaign: Campaign,
    round_number: int,
    model: Recommender,
    ledger: SendLedger,
    leads: Iterable[Id],
    events: pd.DataFrame | None = None,
    *,
    now: Any = None,
    engagement: EngagementConfig | None = None,
    item_categories: Mapping[Id, str] | pd.Series | None = None,
    recent_after: Any = None,
    candidate_pool: int | None = None,
    dry_run: bool = False,
    strict: bool = False,
    show_progress: bool = False,
) -> RoundResult:
    """Pick, cap and record one round of a campaign (see the module notes).

    Parameters
    ----------
    campaign : Campaign
    round_number : int
        1 to ``campaign.rounds``.
    model : Recommender
        A fitted model; its ``version_`` is stored with each send.
    ledger : SendLedger
    leads : iterable of ids
        The campaign's list. Round 1 targets all of it; later rounds the leads of
        it who engaged with the previous round.
    events : DataFrame, optional
        Nurture events of the leads, columns ``user_id`` (or ``lead_id``),
        ``event``, ``timestamp``, and optionally ``item_id``, ``weight`` and
        ``recent``. They give the engagement score, decide who engaged, and those
        of the model's event types with an ``item_id`` that the model was not
        fitted on join the lead's history as recent events. A bool ``recent``
        column marks which events those are, for a caller that can tell them
        apart better than a time can, such as the service with its event store's row ids.
    now : time, optional
        The time of the run (default: the current time, UTC): the send time, the
        end of the cooldown window, and the time events are considered up to.
    engagement : EngagementConfig, optional
        Scoring rules; default ``EngagementConfig()``.
    item_categories : mapping of id to str or Series, optional
        Category per item, for ``category_quotas``; default the model's
        ``category`` metadata, when it has one.
    recent_after : time, optional
        Only events with a later ``timestamp`` join the history as recent
        events, so that events the model was fitted on do not count twice.
        Default: the model's ``data_until_``, the newest timestamp it was fitted
        on. When that is unknown (events without timestamps, or a model saved
        by an older recsys), every event joins. Not allowed together with a
        ``recent`` column.
    candidate_pool : int, optional
        Candidates requested per lead before the caps. Default:
        ``max(20, 5 * items_per_round)``.
    dry_run : bool, default False
        Pick the items but record nothing.
    strict : bool, default False
        Raise :class:`~recsys.exceptions.UnknownUserError` for a lead the model
        does not know and who has no recent events, instead of sending popular
        items.
    show_progress : bool, default False
        Show a progress bar over the leads.

    Returns
    -------
    RoundResult

    Raises
    ------
    DataValidationError
        For an empty lead list, a round outside the campaign, invalid events, or
        category quotas without item categories.
    UnknownItemError
        When ``include_items`` names an item the model does not know.
    """
    round_number = campaign.check_round(round_number)
    model._check_fitted()
    moment = to_utc(pd.Timestamp.now(tz="UTC") if now is None else now, "now")
    lead_list = unique_leads(leads)
    if not lead_list:
        raise DataValidationError("leads is empty; give the campaign's list of lead ids")
    frame = _mark_recent(normalize_events(events), events, model, recent_after)
    frame = frame[frame["timestamp"] <= moment]
    engagement = engagement or EngagementConfig()
    categories = _item_categories(model, item_categories, campaign)
    _check_include_items(model, campaign)

    if round_number == 1:
        targets = lead_list
    else:
        targets = engaged_leads(campaign, round_number - 1, ledger, frame, leads=lead_list, now=moment)
    stored = {
        id_key(send.lead_id): send for send in ledger.sends(campaign.campaign_id, round_number, targets)
    }
    new_targets = [lead for lead in targets if id_key(lead) not in stored]
    logger.info(
        "campaign %r round %d: %d leads targeted, %d already sent, %d to pick",
        campaign.campaign_id,
        round_number,
        len(targets),
        len(stored),
        len(new_targets),
    )

    picker = _Picker(model, campaign, ledger, frame, moment)
    candidates = picker.candidates(new_targets, candidate_pool, strict, show_progress)

    used_items: Counter[str] = Counter()
    used_categories: Counter[str] = Counter()
    for stored_send in stored.values():
        for item in stored_send.items:
            used_items[id_key(item.item_id)] += 1
            category = categories.get(id_key(item.item_id))
            if category is not None:
                used_categories[category] += 1
    default_cap = None
    if campaign.max_item_share is not None:
        default_cap = max(1, int(campaign.max_item_share * len(targets)))
    item_caps = {id_key(item): quota for item, quota in campaign.item_quotas.items()}
    if default_cap is not None:
        item_caps = {key: min(quota, default_cap) for key, quota in item_caps.items()}
    assignment, report = assign_round(
        [result.items for result in candidates],
        campaign.items_per_round,
        item_caps=item_caps,
        default_cap=default_cap,
        item_categories=categories,
        category_caps=campaign.category_quotas,
        used_items=used_items,
        used_categories=used_categories,
    )

    version = str(model.version_)
    new_sends = [
        Send(
            campaign_id=campaign.campaign_id,
            round=round_number,
            lead_id=lead,
            items=tuple(
                SentItem(item.item_id, rank, item.score, item.reason, item.because)
                for rank, item in enumerate(items, start=1)
            ),
            model_version=version,
            sent_at=moment,
        )
        for lead, items in zip(new_targets, assignment, strict=True)
        if items
    ]
    final: dict[str, tuple[Send | None, bool]] = {key: (send, True) for key, send in stored.items()}
    recorded = new_sends if dry_run else ledger.record(new_sends)
    for fresh, recorded_send in zip(new_sends, recorded, strict=True):
        # The ledger returns an earlier send instead when another writer recorded the lead first.
        final[id_key(recorded_send.lead_id)] = (recorded_send, recorded_send is not fresh)
    known = {
        id_key(lead): result.known_user is not False or id_key(lead) in picker.recent
        for lead, result in zip(new_targets, candidates, strict=True)
    }

    scores = score_leads(frame, engagement, now=moment, leads=targets)
    plans = []
    for lead in targets:
        key = id_key(lead)
        send, already = final.get(key, (None, False))
        items = () if send is None else send.items
        plans.append(
            LeadPlan(
                lead_id=lead,
                items=items,
                reasons=tuple(picker.reason_text(lead, item) for item in items),
                engagement=scores[key],
                already_sent=already,
                known_lead=known.get(key, True),
                model_version=version if send is None else send.model_version,
                sent_at=None if send is None or not items else send.sent_at,
            )
        )
    skipped = sum(1 for plan in plans if not plan.items)
    if skipped:
        logger.warning(
            "campaign %r round %d: %d of %d leads got no item, because every candidate was excluded or capped",
            campaign.campaign_id,
            round_number,
            skipped,
            len(plans),
        )
    return RoundResult(
        campaign_id=campaign.campaign_id,
        round=round_number,
        model_version=version,
        sent_at=moment,
        plans=tuple(plans),
        caps=report,
        unknown_items=tuple(picker.unknown_items),
        recorded=not dry_run,
        sends_recorded=0 if dry_run else sum(1 for plan in plans if plan.items and not plan.already_sent),
    )


def next_best(
    model: Recommender,
    lead_id: Id,
    events: pd.DataFrame | None = None,
    *,
    n: int = 3,
    campaign: Campaign | None = None,
    ledger: SendLedger | None = None,
    now: Any = None,
    engagement: EngagementConfig | None = None,
    recent_after: Any = None,
    strict: bool = False,
) -> LeadPlan:
    """Return one lead's next-best products and engagement, without recording anything.

    The same rules as :func:`run_round` apply, except the exposure caps, which
    only make sense for a whole round. ``events`` and ``recent_after`` work as
    there: by default, events after the model's ``data_until_`` are recent. Without a ledger nothing is excluded for
    cooldown; without a campaign the defaults of ``Campaign("next-best")`` apply.

    Raises
    ------
    UnknownUserError
        With ``strict=True``, for a lead the model does not know and who has no
        recent events.
    """
    model._check_fitted()
    lead = unique_leads([lead_id])[0]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataValidationError(f"n must be an int >= 1; got {n!r}")
    campaign = campaign or Campaign("next-best", items_per_round=n)
    _check_include_items(model, campaign)
    moment = to_utc(pd.Timestamp.now(tz="UTC") if now is None else now, "now")
    frame = _mark_recent(normalize_events(events), events, model, recent_after)
    frame = frame[frame["timestamp"] <= moment]
    picker = _Picker(model, campaign, ledger, frame, moment)
    result = picker.candidates([lead], n, strict, False)[0]
    items = tuple(
        SentItem(item.item_id, rank, item.score, item.reason, item.because)
        for rank, item in enumerate(result.items[:n], start=1)
    )
    scores = score_leads(frame, engagement or EngagementConfig(), now=moment, leads=[lead])
    return LeadPlan(
        lead_id=lead,
        items=items,
        reasons=tuple(picker.reason_text(lead, item) for item in items),
        engagement=scores[id_key(lead)],
        already_sent=False,
        known_lead=result.known_user is not False or id_key(lead) in picker.recent,
        model_version=str(model.version_),
    )


class _Picker:
    """Candidates and reason texts for the leads of one run."""

    def __init__(
        self,
        model: Recommender,
        campaign: Campaign,
        ledger: SendLedger | None,
        frame: pd.DataFrame,
        moment: pd.Timestamp,
    ) -> None:
        self.model = model
        self.campaign = campaign
        self.ledger = ledger
        self.moment = moment
        self.unknown_items: list[Id] = []
        self._unknown_keys: set[str] = set()
        self.exclude_seen = _exclude_seen(model, campaign)

        product_events = frame[frame["item_id"].notna()]
        self.bought = (
            product_events[product_events["event"] == "purchase"].groupby("lead_key")["item_id"].agg(list)
        )
        recent = product_events[
            product_events["event"].isin(list(model.event_names_)).to_numpy()
            & product_events["recent"].to_numpy(dtype=bool)
        ]
        self.recent = _recent_weights(model, recent)
        # Recent items of the event types in the campaign's exclude_seen. A True exclude_seen is left to recommend.
        self.recent_seen: dict[str, list[Id]] = {}
        if isinstance(self.exclude_seen, tuple):
            seen = recent[recent["event"].isin(list(self.exclude_seen))]
            for key, item_id in zip(seen["lead_key"], seen["item_id"], strict=True):
                self.recent_seen.setdefault(key, []).append(item_id)
        self.lead_events: dict[str, dict[str, set[str]]] = {}
        for key, item_id, event in zip(
            product_events["lead_key"], product_events["item_id"], product_events["event"], strict=True
        ):
            self.lead_events.setdefault(key, {}).setdefault(id_key(item_id), set()).add(event)
        self._labels: dict[str, str] = {}

    def candidates(
        self, leads: Sequence[Id], pool: int | None, strict: bool, show_progress: bool
    ) -> list[Any]:
        size = pool if pool is not None else max(20, 5 * self.campaign.items_per_round)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise DataValidationError(f"candidate_pool must be an int >= 1; got {pool!r}")
        cooldown_items: dict[str, set[str]] = {}
        if self.ledger is not None and leads:
            since = None
            if self.campaign.cooldown_days is not None:
                since = self.moment - pd.Timedelta(days=self.campaign.cooldown_days)
            cooldown_items = self.ledger.sent_items(leads, since=since)

        iterator: Iterable[Id] = leads
        if show_progress:
            from tqdm.auto import tqdm

            iterator = tqdm(leads, desc="leads", unit="lead")
        results = []
        for lead in iterator:
            key = id_key(lead)
            excluded: list[Id] = [
                *self.campaign.exclude_items,
                *cooldown_items.get(key, ()),
                *self.bought.get(key, []),
                *self.recent_seen.get(key, []),
            ]
            result = self.model.recommend(
                lead,
                size,
                exclude_seen=self.exclude_seen,
                exclude=excluded,
                allow=self.campaign.include_items,
                backfill=self.campaign.backfill,
                strict=strict,
                recent=self.recent.get(key),
            )
            for unknown in result.unknown_items:
                if id_key(unknown) not in self._unknown_keys:
                    self._unknown_keys.add(id_key(unknown))
                    self.unknown_items.append(unknown)
            results.append(result)
        return results

    def reason_text(self, lead: Id, item: SentItem | Recommendation) -> str:
        """Return "because you viewed X (description)" for an item, or the backfill sentence."""
        if item.reason == "popular" or not item.because:
            return "popular with other customers"
        groups: dict[str, list[str]] = {}
        for history_item in item.because:
            event = self._strongest_event(lead, history_item) or ""
            phrase = EVENT_PHRASES.get(event, "showed interest in")
            groups.setdefault(phrase, []).append(self._label(history_item))
        return "because you " + " and ".join(
            f"{phrase} {', '.join(labels)}" for phrase, labels in groups.items()
        )

    def _label(self, item_id: Id) -> str:
        key = id_key(item_id)
        if key not in self._labels:
            description = self.model.get_item_metadata([item_id])[0].get("description")
            self._labels[key] = f"{item_id} ({description})" if description else str(item_id)
        return self._labels[key]

    def _strongest_event(self, lead: Id, item_id: Id) -> str | None:
        """Return the event type with the largest model weight the lead had on the item."""
        weights = self.model._event_weights()
        events = set(self.lead_events.get(id_key(lead), {}).get(id_key(item_id), ()))
        user = self.model.user_ids_.index_of(lead)
        item = self.model.item_ids_.index_of(item_id)
        if user >= 0 and item >= 0:
            start, stop = self.model.user_items_.indptr[user], self.model.user_items_.indptr[user + 1]
            columns = self.model.user_items_.indices[start:stop]
            hits = (columns == item).nonzero()[0]
            if len(hits):
                bits = int(self.model.seen_events_[start + hits[0]])
                events.update(name for bit, name in enumerate(self.model.event_names_) if bits >> bit & 1)
        if not events:
            return None
        return max(events, key=lambda event: (weights.get(event, 0.0), event))


def _mark_recent(
    frame: pd.DataFrame, events: pd.DataFrame | None, model: Recommender, recent_after: Any
) -> pd.DataFrame:
    """Add the bool column ``recent``: the events the model was not fitted on.

    ``frame`` is ``normalize_events(events)``, which keeps the rows in order.
    """
    if events is not None and "recent" in events.columns:
        if recent_after is not None:
            raise DataValidationError(
                f"the events have a 'recent' column and recent_after={recent_after!r} is given, but "
                f"only one may mark which events are recent; drop the column or recent_after"
            )
        flags = events["recent"]
        if not pd.api.types.is_bool_dtype(flags.dtype):
            raise DataValidationError(
                f"column 'recent' of nurture events must be bool (True for events the model was not "
                f"fitted on); got dtype {flags.dtype}"
            )
        return frame.assign(recent=flags.to_numpy(dtype=bool))
    after = recent_after if recent_after is not None else getattr(model, "data_until_", None)
    if after is None:
        return frame.assign(recent=True)
    return frame.assign(recent=(frame["timestamp"] > to_utc(after, "recent_after")).to_numpy(dtype=bool))


def _recent_weights(model: Recommender, recent: pd.DataFrame) -> dict[str, dict[Id, float]]:
    """Return per lead the item weights of recent events, as :meth:`Recommender.weigh_events` computes them.

    One vectorised pass over all leads replaces a ``weigh_events`` call per lead.
    """
    if recent.empty:
        return {}
    weights = model._event_weights()
    values = recent.assign(
        value=recent["event"].map(weights).to_numpy(dtype=float) * recent["weight"].to_numpy()
    )
    grouped = values.groupby(["lead_key", "item_id", "event"], sort=False)["value"]
    per_event = grouped.sum() if model.data_params_["count_repeats"] else grouped.max()
    per_item = per_event.groupby(level=["lead_key", "item_id"], sort=False).sum()
    result: dict[str, dict[Id, float]] = {}
    keys = per_item.index.get_level_values("lead_key")
    item_ids = per_item.index.get_level_values("item_id")
    for key, item_id, value in zip(keys, item_ids, per_item.to_numpy(), strict=True):
        if value > 0:
            result.setdefault(str(key), {})[item_id] = float(value)
    return result


def _exclude_seen(model: Recommender, campaign: Campaign) -> bool | tuple[str, ...]:
    """Return ``exclude_seen`` for the model, always including purchases when the model has that event type."""
    if campaign.exclude_seen is True:
        return True
    listed = () if campaign.exclude_seen is False else tuple(campaign.exclude_seen)
    if "purchase" in model.event_names_ and "purchase" not in listed:
        listed = (*listed, "purchase")
    return listed if listed else False


def _check_include_items(model: Recommender, campaign: Campaign) -> None:
    if campaign.include_items is None:
        return
    positions = model.item_ids_.indices_of(list(campaign.include_items))
    unknown = [item for item, position in zip(campaign.include_items, positions, strict=True) if position < 0]
    if unknown:
        raise UnknownItemError(
            unknown[0] if len(unknown) == 1 else unknown,
            f"include_items of campaign {campaign.campaign_id!r} may only name items of the model; "
            f"remove {len(unknown)} unknown id(s) or refit the model",
        )


def _item_categories(
    model: Recommender, item_categories: Mapping[Id, str] | pd.Series | None, campaign: Campaign
) -> dict[str, str]:
    if item_categories is None and model.item_metadata_ is not None and "category" in model.item_metadata_:
        values = model.item_metadata_["category"].to_numpy(dtype=object)
        ids = model.item_ids_.ids_of(range(len(values)))
        categories = {
            id_key(item): str(value) for item, value in zip(ids, values, strict=True) if value is not None
        }
    elif item_categories is None:
        categories = {}
    else:
        pairs = item_categories.items()
        categories = {id_key(item): str(value) for item, value in pairs if value is not None}  # type: ignore[arg-type]
    if campaign.category_quotas and not categories:
        raise DataValidationError(
            f"campaign {campaign.campaign_id!r} sets category_quotas but no item has a category; "
            f"pass item_categories or fit the model with a 'category' item metadata column"
        )
    return categories
