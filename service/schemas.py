"""Request and response bodies of the HTTP API.

Item ids keep their JSON type: an integer stays an int and a string stays a str,
so ``1`` and ``"1"`` are different values here. The model then matches them by
its own id rule (an integer-keyed model finds ``"1001"`` as ``1001``). Any other
JSON type is rejected with 422.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

__all__ = [
    "N_DESCRIPTION",
    "BasketRequest",
    "HealthResponse",
    "ItemId",
    "ReadyResponse",
    "RecommendationsResponse",
    "RecommendedItem",
    "ReloadResponse",
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


class UserRecommendationsResponse(RecommendationsResponse):
    """Recommendations for one user."""

    user_id: str = Field(description="The user id as given in the path.")
    known_user: bool = Field(
        description="Whether the model knows the user; when false, the list is the popular fallback."
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
