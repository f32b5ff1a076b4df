"""Request and response bodies of the HTTP API.

Item ids keep their JSON type: an integer stays an int and a string stays a str,
so ``1`` and ``"1"`` are different values here. The model then matches them by
its own id rule (an integer-keyed model finds ``"1001"`` as ``1001``). Any other
JSON type is rejected with 422.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "N_DESCRIPTION",
    "BasketRequest",
    "CampaignRequest",
    "CampaignResponse",
    "CatalogRequest",
    "CatalogResponse",
    "EngagementResponse",
    "Event",
    "EventsRequest",
    "EventsResponse",
    "HealthResponse",
    "ItemId",
    "LeadEngagement",
    "LeadPlanBody",
    "NextBestResponse",
    "NurtureItem",
    "ReadyResponse",
    "RecommendationsResponse",
    "RecommendedItem",
    "ReloadResponse",
    "RoundRequest",
    "RoundResponse",
    "RulesBody",
    "Signal",
    "SimilarItemsResponse",
    "UserRecommendationsResponse",
]

_JSON_TYPE_NAMES = {
    bool: "a boolean",
    float: "a number",
    type(None): "null",
    list: "an array",
    dict: "an object",
}


def _check_id_type(value: Any) -> Any:
    # Without this check a wrong type fails both union members, and the client
    # gets two errors ("not an int", "not a str") for one value.
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        kind = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
        raise PydanticCustomError(
            "id_type", "an id must be an integer or a string, not {kind}", {"kind": kind}
        )
    return value


N_DESCRIPTION = (
    "Maximum number of items, at most RECSYS_MAX_N (100 unless the server sets it). "
    "Default 10, or RECSYS_MAX_N when that is smaller."
)

ItemId = Annotated[StrictInt | StrictStr, BeforeValidator(_check_id_type)]
Count = Annotated[StrictInt, Field(ge=0)]


class BasketRequest(BaseModel):
    """Body of ``POST /v1/recommendations``."""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemId] = Field(
        description="The basket or session; each item weighs 1 and repeats count once. "
        "Basket items are never returned. At most RECSYS_MAX_ITEMS ids (default 1000), "
        "each at most RECSYS_MAX_ID_LENGTH characters (default 256).",
        examples=[["85123A", "71053"]],
    )
    n: Count | None = Field(default=None, description=N_DESCRIPTION)
    exclude: list[ItemId] = Field(default_factory=list, description="Items never to return.")
    allow: list[ItemId] | None = Field(
        default=None, description="When given, only these items may be returned."
    )
    backfill: StrictBool = Field(
        default=False, description="Fill the list up to n with popular items (reason 'popular')."
    )
    rules: RulesBody | None = Field(
        default=None, description="Business rules over the item catalogue's attributes."
    )
    min_support: StrictInt | None = Field(
        default=None,
        ge=1,
        description="Use only item pairs that at least this many customers bought together.",
    )


class Signal(BaseModel):
    """One event of the history that drove a pick, such as a view of an item."""

    event: str = Field(description="The event type, such as view, cart or purchase.", examples=["view"])
    item_id: ItemId = Field(description="The history item the event was on.")


class RecommendedItem(BaseModel):
    """One recommended item."""

    item_id: ItemId
    score: float = Field(
        description="Item-item score for reason 'similar', popularity for reason 'popular'; "
        "the two scales are not comparable."
    )
    reason: Literal["similar", "popular"]
    because: list[ItemId] = Field(
        description="History items that contributed most to the score, largest first; "
        "empty for reason 'popular'."
    )
    metadata: dict[str, Any] = Field(
        description="Stored attributes of the item, such as its description; empty when none."
    )
    signals: list[Signal] = Field(
        default_factory=list,
        description="The (event type, history item) pairs that contributed most to the score, "
        "largest first, at most three. Only models that score event types apart fill it (the "
        "cross-occurrence model); empty for other models and for reason 'popular'.",
    )


class RecommendationsResponse(BaseModel):
    """A ranked list of items, best first."""

    items: list[RecommendedItem]
    fallback: bool = Field(description="Whether any item comes from popularity rather than a history.")
    unknown_items: list[ItemId] = Field(
        description="Ids from the basket, exclude or allow lists that the model does not know; "
        "they were ignored."
    )
    model_version: str = Field(description="Content hash of the model that produced the list.")
    request_id: str
    short_of_evidence: bool = Field(
        default=False,
        description="Whether fewer than n items are backed by evidence after the rules. "
        "Popular items do not count.",
    )
    below_min_support: int = Field(
        default=0, description="Items left out because no item pair behind them met min_support."
    )


class UserRecommendationsResponse(RecommendationsResponse):
    """Recommendations for one user."""

    user_id: str = Field(description="The user id as given in the path.")
    known_user: bool = Field(
        description="Whether the model was fitted on the user's history. When false and recent_events "
        "is 0, the list is the popular fallback."
    )
    recent_events: int = Field(
        default=0,
        description="Stored events of the user, received since the model was fitted, that were added "
        "to the history; events of items or event types unknown to the model are not counted.",
    )


class SimilarItemsResponse(RecommendationsResponse):
    """Items similar to one item."""

    item_id: str = Field(description="The item id as given in the path.")


class HealthResponse(BaseModel):
    """Body of ``GET /healthz``."""

    status: Literal["alive"]
    request_id: str


class ModelCounts(BaseModel):
    """Sizes of the fitted model."""

    users: int
    items: int
    user_items_nonzeros: int
    events: int


class ReadyResponse(BaseModel):
    """Body of ``GET /readyz`` when a model is loaded."""

    status: Literal["ready"]
    model_version: str
    model_class: str
    fitted_at: str
    loaded_at: str
    counts: ModelCounts
    request_id: str
    model_dir: str = Field(
        description="Name of the directory the model was loaded from, after resolving symlinks."
    )
    reloads: int = Field(default=0, description="Successful reloads since the process started.")


class ReloadResponse(BaseModel):
    """Body of ``POST /v1/admin/reload`` after the new model was loaded and swapped in."""

    previous_version: str | None = Field(description="Version of the model served before the reload.")
    model_version: str = Field(description="Version of the model served from now on.")
    model_dir: str = Field(
        description="Name of the directory the model was loaded from, after resolving symlinks."
    )
    loaded_at: str
    reloads: int = Field(description="Successful reloads since the process started, this one included.")
    request_id: str


# Times that pandas, and so model training, can hold (datetime64[ns]).
_MIN_EVENT_TIME = datetime(1677, 9, 22, tzinfo=UTC)
_MAX_EVENT_TIME = datetime(2262, 4, 11, tzinfo=UTC)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _check_stored_id(value: int | str) -> int | str:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("id_blank", "an id must not be empty or only whitespace")
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        raise PydanticCustomError(
            "id_range", "an integer id must fit in 64 bits; send a larger id as a string"
        )
    return value


def _parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        kind = _JSON_TYPE_NAMES.get(type(value), "an integer" if isinstance(value, int) else "a number")
        raise PydanticCustomError(
            "timestamp_type",
            "a timestamp must be an ISO 8601 string with a time zone, such as "
            "2026-12-05T10:00:00Z, not {kind}",
            {"kind": kind},
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "timestamp_format",
            "a timestamp must be an ISO 8601 time with a time zone, such as 2026-12-05T10:00:00Z",
        ) from None
    if parsed.tzinfo is None:
        raise PydanticCustomError(
            "timestamp_zone", "a timestamp must name its time zone, such as Z or +01:00"
        )
    if not _MIN_EVENT_TIME <= parsed <= _MAX_EVENT_TIME:
        raise PydanticCustomError(
            "timestamp_range", "a timestamp must lie between 1677-09-22 and 2262-04-11 (UTC)"
        )
    return parsed


def _check_weight(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = _JSON_TYPE_NAMES.get(
            type(value), "a string" if isinstance(value, str) else type(value).__name__
        )
        raise PydanticCustomError("weight_type", "a weight must be a number, not {kind}", {"kind": kind})
    weight = float(value)
    if not math.isfinite(weight) or weight < 0:
        raise PydanticCustomError("weight_range", "a weight must be a finite number >= 0")
    return weight


#: An id stored with an event: an int or a non-blank str that keeps its JSON type.
StoredId = Annotated[StrictInt | StrictStr, BeforeValidator(_check_id_type), AfterValidator(_check_stored_id)]
Timestamp = Annotated[
    datetime,
    PlainValidator(_parse_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Weight = Annotated[float, PlainValidator(_check_weight), WithJsonSchema({"type": "number", "minimum": 0})]


class Event(BaseModel):
    """One event of ``POST /v1/events``: a user viewed, carted or bought an item."""

    model_config = ConfigDict(extra="forbid")

    event_id: StoredId | None = Field(
        default=None,
        description="The client's id of the event, such as a UUID. A repeated event_id with the "
        "same content is counted as a duplicate and stored once; with other content the batch "
        "is rejected with 409. Without it the event is stored every time it is sent.",
    )
    user_id: StoredId = Field(description='The user; 1 and "1" are different users when stored.')
    item_id: StoredId = Field(description="The item.")
    event: StrictStr = Field(
        description="The event type; one the served model was fitted with, by default view, cart "
        "or purchase.",
        examples=["purchase"],
    )
    timestamp: Timestamp | None = Field(
        default=None,
        description="When the event happened, ISO 8601 with a time zone; defaults to when the "
        "server received it. Fractions below a microsecond are dropped.",
        examples=["2026-12-05T10:00:00Z"],
    )
    weight: Weight | None = Field(
        default=None, description="Multiplier of the event type's weight, a finite number >= 0; default 1."
    )


class EventsRequest(BaseModel):
    """Body of ``POST /v1/events``."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(
        min_length=1,
        description="The batch, stored as a whole or not at all. At most RECSYS_MAX_EVENTS events "
        "(default 1000), ids at most RECSYS_MAX_ID_LENGTH characters (default 256).",
    )


class EventsResponse(BaseModel):
    """Body of a successful ``POST /v1/events``."""

    accepted: int = Field(description="Events stored by this request.")
    duplicates: int = Field(
        description="Events whose event_id was already stored with the same content, or repeated "
        "earlier in the batch; they were not stored again."
    )
    request_id: str


# --------------------------------------------------------------------------- catalogue and rules

ConditionValue = StrictStr | StrictInt | StrictFloat | StrictBool


class RangeBody(BaseModel):
    """An inclusive range of a number or date attribute. A missing bound leaves that side open."""

    model_config = ConfigDict(extra="forbid")

    min: StrictInt | StrictFloat | StrictStr | None = None
    max: StrictInt | StrictFloat | StrictStr | None = None


Condition = ConditionValue | list[ConditionValue] | RangeBody


class BoostBody(BaseModel):
    """Multiply the score of items matching every condition of ``where`` by ``factor``."""

    model_config = ConfigDict(extra="forbid")

    where: dict[str, Condition]
    factor: float = Field(gt=0, description="A finite number > 0; below 1 demotes.")


class RulesBody(BaseModel):
    """Per-request rules over the item catalogue, described in the README section on rules."""

    model_config = ConfigDict(extra="forbid")

    include: dict[str, Condition] = Field(
        default_factory=dict,
        description="Only items matching every condition: a value, a list (one of) or {min, max}.",
    )
    exclude: dict[str, Condition] = Field(
        default_factory=dict, description="Items matching any condition are left out."
    )
    boost: list[BoostBody] = Field(default_factory=list)
    max_per_category: StrictInt | None = Field(
        default=None, ge=1, description="At most this many items per value of category_attribute."
    )
    category_attribute: StrictStr = "category"
    now: datetime | None = Field(
        default=None, description="Time for the availability windows; default the current time, UTC."
    )


class CatalogItem(BaseModel):
    """One catalogue row: ``item_id`` plus attributes (strings, numbers, booleans, ISO 8601 dates)."""

    model_config = ConfigDict(extra="allow")

    item_id: ItemId


class CatalogRequest(BaseModel):
    """Body of ``PUT /v1/items``: the whole catalogue, which replaces the current one."""

    model_config = ConfigDict(extra="forbid")

    items: list[CatalogItem] = Field(
        examples=[[{"item_id": "85123A", "category": "decor", "price": 2.55, "in_stock": True}]]
    )


class CatalogResponse(BaseModel):
    """Body of ``PUT /v1/items`` after the catalogue was accepted."""

    items: int = Field(description="Catalogue rows.")
    matched: int = Field(description="Rows of items in the model.")
    unknown_items: int = Field(description="Rows of items unknown to the model, which are never recommended.")
    unknown_item_ids: list[ItemId] = Field(description="The first 100 of those ids.")
    missing_items: int = Field(description="Model items without a row; their attributes are missing.")
    columns: dict[str, str] = Field(description="The kind of each attribute: string, number, bool, datetime.")
    stored: Literal["database", "memory"] = Field(
        description="Where the catalogue is kept: the event store's database, or memory only."
    )
    uploaded_at: str
    model_version: str
    request_id: str


# --------------------------------------------------------------------------- nurture campaigns

# At most 100 years, as the nurture library accepts (recsys.nurture._frames.MAX_DAYS).
Days = Annotated[float, Field(ge=0, le=36_500, allow_inf_nan=False)]


class CampaignRequest(BaseModel):
    """Body of ``PUT /v1/nurture/campaigns/{campaign_id}``: the fields of :class:`recsys.nurture.Campaign`."""

    model_config = ConfigDict(extra="forbid")

    rounds: StrictInt = Field(default=3, ge=1, description="Number of rounds.")
    items_per_round: StrictInt = Field(
        default=3, ge=1, description="Products sent to a lead per round, at most RECSYS_MAX_N."
    )
    cooldown_days: Days | None = Field(
        default=90.0,
        description="A lead is never sent an item that any campaign sent them within this many days. "
        "Null means never again.",
    )
    max_item_share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Exposure cap: no item goes to more than this share of the leads of a round.",
    )
    item_quotas: dict[str, Count] = Field(
        default_factory=dict, description="Per-item limit on the leads of a round, by item id text."
    )
    category_quotas: dict[str, Count] = Field(
        default_factory=dict,
        description="Per-category limit on the sends of a round; needs the model's 'category' metadata.",
    )
    include_items: list[ItemId] | None = Field(
        default=None, description="When given, only these items may be sent; each must be in the model."
    )
    exclude_items: list[ItemId] = Field(default_factory=list, description="Items never sent.")
    exclude_seen: StrictBool | list[StrictStr] = Field(
        default=True,
        description="Leave out items of the lead's history: true for any event type, or only the listed "
        "types. Bought items are never sent.",
    )
    engagement_events: list[StrictStr] | None = Field(
        default=None,
        description="Event types that count as engaging with a send, for the next round; null means any.",
    )
    backfill: StrictBool = Field(
        default=True, description="Fill a lead's list with popular items when its history gives too few."
    )
    engagement: dict[str, Any] | None = Field(
        default=None,
        description="Scoring rules of recsys.nurture.EngagementConfig (points, half_life_days, "
        "grade_a_min, grade_b_min, stages, handoff_grades); null keeps the defaults.",
    )


class CampaignResponse(CampaignRequest):
    """A stored campaign."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: str
    engagement: dict[str, Any] | None = Field(description="The scoring rules, with every default filled in.")
    updated_at: str = Field(description="When the campaign was last stored, ISO 8601 UTC.")
    request_id: str


class RoundRequest(BaseModel):
    """Body of ``POST /v1/nurture/campaigns/{campaign_id}/rounds/{round}``."""

    model_config = ConfigDict(extra="forbid")

    leads: list[ItemId] = Field(
        min_length=1,
        description="The campaign's list of lead ids (user ids of the model). Round 1 targets all of "
        "them; round k those who had an event after their round k-1 send. At most RECSYS_MAX_ITEMS "
        "ids (default 1000); repeats count once.",
    )
    dry_run: StrictBool = Field(default=False, description="Pick the items but record nothing.")


class NurtureItem(BaseModel):
    """One product picked for a lead."""

    item_id: ItemId
    rank: int = Field(description="1 for the lead's best item.")
    score: float = Field(description="Item-item score, or popularity for a backfilled item.")
    reason: Literal["similar", "popular"]
    backfill: bool = Field(description="Whether the item fills the list from popularity (reason 'popular').")
    because: list[ItemId] = Field(description="History items behind the pick, largest contribution first.")
    explanation: str = Field(description='A sentence for the lead, such as "because you bought mug".')


class LeadEngagement(BaseModel):
    """A lead's decayed engagement score, grade and funnel stage."""

    score: float
    grade: Literal["A", "B", "C"] = Field(description="A hot, B warm, C cold.")
    stage: str
    breakdown: dict[str, float] = Field(description="Decayed points per event type; the sum is the score.")
    last_event_at: str | None = Field(description="Time of the lead's latest stored event, ISO 8601 UTC.")


class LeadPlanBody(BaseModel):
    """One lead's items and engagement."""

    lead_id: ItemId
    items: list[NurtureItem] = Field(
        description="By rank; empty when every candidate was excluded or capped."
    )
    already_sent: bool = Field(description="Whether the items were recorded by an earlier run of the round.")
    known_lead: bool = Field(description="Whether the model or the stored events have a history of the lead.")
    model_version: str = Field(description="Version of the model that picked the items.")
    sent_at: str | None = Field(
        default=None,
        description="When the items were recorded, ISO 8601 UTC: by an earlier run when already_sent "
        "is true; null when the lead got no item.",
    )
    engagement: LeadEngagement


class RoundResponse(BaseModel):
    """Body of a successful round run."""

    campaign_id: str
    round: int
    sent_at: str = Field(
        description="Time of this run and of every send it recorded. Each lead's own sent_at "
        "is the time its items were recorded.",
    )
    recorded: bool = Field(
        description="False for a dry run, which records nothing. True otherwise, even when every "
        "lead was recorded before (see sends_recorded)."
    )
    sends_recorded: int = Field(
        description="Sends this run added to the ledger. It is 0 for a dry run and for a re-run whose "
        "leads were all recorded before (their already_sent is true)."
    )
    model_version: str = Field(description="Version of the served model.")
    leads: list[LeadPlanBody] = Field(description="One per targeted lead, in the order of the request.")
    unknown_items: list[ItemId] = Field(
        description="Ids of exclude_items unknown to the model, which are ignored."
    )
    request_id: str


class NextBestResponse(LeadPlanBody):
    """A lead's next-best products for a campaign, computed without recording anything."""

    campaign_id: str
    request_id: str


class EngagementResponse(LeadEngagement):
    """A lead's engagement under a campaign's scoring rules."""

    campaign_id: str
    lead_id: str = Field(description="The lead id as given in the path.")
    request_id: str
