"""The definition of a push campaign: rounds, list size per round, cooldown and caps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Any

from recsys._ids import Id
from recsys.exceptions import DataValidationError
from recsys.nurture._frames import check_days
from recsys.nurture.engagement import read_config_file

__all__ = ["Campaign"]

_FIELDS = (
    "campaign_id",
    "rounds",
    "items_per_round",
    "cooldown_days",
    "max_item_share",
    "item_quotas",
    "category_quotas",
    "include_items",
    "exclude_items",
    "exclude_seen",
    "engagement_events",
    "backfill",
)


@dataclass(frozen=True)
class Campaign:
    """A push campaign: round 1 goes to every lead of a list, round k to those who engaged with round k-1.

    Attributes
    ----------
    campaign_id : str
        Identifier, stored with every send.
    rounds : int, default 3
        Number of rounds, >= 1.
    items_per_round : int, default 3
        Products sent to a lead per round, >= 1.
    cooldown_days : float or None, default 90
        A lead is never sent an item that any campaign of the same ledger sent
        them within this many days. None means never again.
    max_item_share : float or None
        Exposure cap: no item goes to more than this share (0 to 1] of the leads
        of a round. The cap is ``max(1, floor(share * leads))`` leads.
    item_quotas : mapping of id to int, optional
        Per-item limit on the number of leads of a round, for example stock.
    category_quotas : mapping of str to int, optional
        Per-category limit on the number of (lead, item) sends of a round. Needs
        item categories, from the model's ``category`` metadata or given to the
        round.
    include_items : sequence of ids, optional
        When given, only these items may be sent.
    exclude_items : sequence of ids, optional
        Items never sent.
    exclude_seen : bool or sequence of str, default True
        Items of the lead's history that are not sent, as ``exclude_seen`` of
        :meth:`recsys.Recommender.recommend`: True for any event type. Bought
        items are never sent, whatever this option is set to.
    engagement_events : sequence of str, optional
        Event types that count as engaging with a send, for choosing the leads of
        the next round. None means any event.
    backfill : bool, default True
        Fill a lead's list with popular items (flagged ``reason="popular"``) when
        the history gives too few.
    """

    campaign_id: str
    rounds: int = 3
    items_per_round: int = 3
    cooldown_days: float | None = 90.0
    max_item_share: float | None = None
    item_quotas: Mapping[Id, int] = field(default_factory=dict)
    category_quotas: Mapping[str, int] = field(default_factory=dict)
    include_items: tuple[Id, ...] | None = None
    exclude_items: tuple[Id, ...] = ()
    exclude_seen: bool | tuple[str, ...] = True
    engagement_events: tuple[str, ...] | None = None
    backfill: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.campaign_id, str) or not self.campaign_id.strip():
            raise DataValidationError(f"campaign_id must be a non-empty str; got {self.campaign_id!r}")
        _check_count(self.rounds, "rounds", minimum=1)
        _check_count(self.items_per_round, "items_per_round", minimum=1)
        check_days(self.cooldown_days, "cooldown_days", allow_none=True)
        share = self.max_item_share
        if share is not None and (
            isinstance(share, bool)
            or not isinstance(share, (int, float))
            or not math.isfinite(share)
            or not 0 < share <= 1
        ):
            raise DataValidationError(f"max_item_share must be a number in (0, 1] or None; got {share!r}")
        for name in ("item_quotas", "category_quotas"):
            quotas = getattr(self, name)
            if not isinstance(quotas, Mapping):
                raise DataValidationError(f"{name} must be a mapping of id to int; got {quotas!r}")
            for key, quota in quotas.items():
                _check_count(quota, f"{name}[{key!r}]", minimum=0)
            object.__setattr__(self, name, dict(quotas))
        if self.include_items is not None:
            object.__setattr__(self, "include_items", _id_tuple(self.include_items, "include_items"))
        object.__setattr__(self, "exclude_items", _id_tuple(self.exclude_items, "exclude_items"))
        if not isinstance(self.exclude_seen, bool):
            object.__setattr__(self, "exclude_seen", _str_tuple(self.exclude_seen, "exclude_seen"))
        if self.engagement_events is not None:
            object.__setattr__(
                self, "engagement_events", _str_tuple(self.engagement_events, "engagement_events")
            )
        if not isinstance(self.backfill, bool):
            raise DataValidationError(f"backfill must be True or False; got {self.backfill!r}")

    def check_round(self, round_number: Any) -> int:
        """Validate that ``round_number`` is a round of this campaign and return it."""
        if isinstance(round_number, bool) or not isinstance(round_number, int):
            raise DataValidationError(f"round must be an int from 1 to {self.rounds}; got {round_number!r}")
        if not 1 <= round_number <= self.rounds:
            raise DataValidationError(
                f"round {round_number} is not a round of campaign {self.campaign_id!r}, "
                f"which has rounds 1 to {self.rounds}"
            )
        return round_number

    def to_dict(self) -> dict[str, Any]:
        """Return the campaign as a JSON-friendly dict that :meth:`from_dict` reads back."""
        document = asdict(self)
        for name in ("include_items", "exclude_items", "engagement_events"):
            if document[name] is not None:
                document[name] = list(document[name])
        if not isinstance(self.exclude_seen, bool):
            document["exclude_seen"] = list(self.exclude_seen)
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Campaign:
        """Build a campaign from a dict, as read from JSON or TOML; the keys are the attribute names.

        Raises
        ------
        DataValidationError
            For an unknown or missing key, or an invalid value.
        """
        if not isinstance(document, Mapping):
            raise DataValidationError(f"a campaign must be a mapping; got {type(document).__name__}")
        unknown = sorted(set(document) - set(_FIELDS))
        if unknown:
            raise DataValidationError(f"unknown campaign key(s) {unknown}; use any of {list(_FIELDS)}")
        if "campaign_id" not in document:
            raise DataValidationError("a campaign needs a 'campaign_id'")
        options = dict(document)
        for name in ("include_items", "exclude_items", "engagement_events"):
            if options.get(name) is not None:
                options[name] = tuple(options[name])
        if isinstance(options.get("exclude_seen"), list):
            options["exclude_seen"] = tuple(options["exclude_seen"])
        return cls(**options)

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> Campaign:
        """Read a campaign from a ``.json`` or ``.toml`` file (see :meth:`from_dict`)."""
        return cls.from_dict(read_config_file(path, "campaign"))


def _check_count(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DataValidationError(f"{name} must be an int >= {minimum}; got {value!r}")


def _id_tuple(values: Any, name: str) -> tuple[Id, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | set | frozenset):
        raise DataValidationError(f"{name} must be a list of item ids; got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise DataValidationError(f"{name} must contain int or str item ids; got {value!r}")
    return tuple(values)


def _str_tuple(values: Any, name: str) -> tuple[str, ...]:
    if (
        isinstance(values, str)
        or not isinstance(values, Sequence)
        or not all(isinstance(v, str) for v in values)
    ):
        raise DataValidationError(f"{name} must be a list of event types; got {values!r}")
    return tuple(values)
