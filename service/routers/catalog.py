"""The item catalogue of the served model: ``PUT /v1/items``, and the rule parameters of requests.

An uploaded catalogue is validated whole and replaces the serving model's
catalogue only when it is valid. It is stored in the event store's database
(table ``item_catalogs``, one row per upload, the newest applies), so it
survives a restart, and it is applied again to every model that a reload swaps
in. Without an event store it is kept in memory only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Column, DateTime, Integer, Table, Text, insert, select

from recsys import Catalog, DataValidationError, Rules
from recsys.rules import Boost, Range, is_reversed_range, split_range_text
from service import store as event_store
from service.deps import RequestIdDep, ServingDep, reject_unknown_query_parameters, require_json_body
from service.errors import error_response
from service.schemas import CatalogRequest, CatalogResponse, RangeBody, RulesBody
from service.security import require_write_key

__all__ = ["RulesQueryDep", "apply_uploaded_catalog", "evidence_fields", "router", "rules_from_body"]

logger = logging.getLogger("recsys.service")

#: Unknown catalogue ids listed in the PUT response; the count is always complete.
_MAX_LISTED_IDS = 100

catalog_table = Table(
    "item_catalogs",
    event_store.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
    Column("n_items", Integer, nullable=False),
    # The validated rows as a JSON array of objects, read back with Catalog.from_frame.
    Column("rows", Text, nullable=False),
)

router = APIRouter(
    prefix="/v1",
    tags=["items"],
    dependencies=[Depends(reject_unknown_query_parameters), Depends(require_write_key)],
)


@dataclass(frozen=True, slots=True)
class _Upload:
    catalog: Catalog
    uploaded_at: datetime


@router.put(
    "/items",
    response_model=CatalogResponse,
    dependencies=[Depends(require_json_body)],
    responses={
        401: {"description": "The X-API-Key header is missing or holds an unknown key"},
        403: {"description": "The server has no API keys, so write endpoints are disabled"},
        415: {"description": "The body is not sent as application/json"},
        422: {"description": "The catalogue is invalid; the previous one stays"},
    },
)
def replace_catalog(
    body: CatalogRequest, request: Request, serving: ServingDep, request_id: RequestIdDep
) -> Any:
    """Replace the item catalogue (attributes for rules and metadata) of the served model."""
    rows = [item.model_dump() for item in body.items]
    try:
        catalog = Catalog.from_frame(
            pd.DataFrame.from_records(rows) if rows else pd.DataFrame({"item_id": []})
        )
    except DataValidationError as error:
        return _invalid_catalog(error, request_id)
    uploaded_at = datetime.now(UTC)
    stored = _store_upload(request, catalog, uploaded_at)
    request.app.state.catalog_upload = _Upload(catalog, uploaded_at)
    model = serving.model
    model.set_catalog(catalog)
    summary = model.catalog_summary()
    logger.info(
        "catalogue replaced: %d items, %d unknown to model %s (request_id=%s)",
        summary["items"],
        len(summary["unknown_items"]),
        model.version_,
        request_id,
    )
    return CatalogResponse(
        items=summary["items"],
        matched=summary["matched"],
        unknown_items=len(summary["unknown_items"]),
        unknown_item_ids=summary["unknown_items"][:_MAX_LISTED_IDS],
        missing_items=summary["missing_items"],
        columns=summary["columns"],
        stored=stored,
        uploaded_at=uploaded_at.isoformat(timespec="seconds"),
        model_version=model.version_,
        request_id=request_id,
    )


def _invalid_catalog(error: DataValidationError, request_id: str) -> Any:
    row = getattr(error, "row", None)
    column = getattr(error, "column", None)
    field = "items"
    if row is not None:
        field = f"items[{row}]"
        if column is not None:
            field += f".{column}"

    entry = {
        "location": "body",
        "field": field,
        "message": str(error),
        "value": getattr(error, "value", None),
    }
    try:
        json.dumps(entry["value"])
    except (TypeError, ValueError):
        entry["value"] = repr(entry["value"])
    return error_response(
        422, f"invalid catalogue, the previous one stays: {error}", request_id, errors=[entry]
    )


def _store_upload(request: Request, catalog: Catalog, uploaded_at: datetime) -> Literal["database", "memory"]:
    """Write the catalogue to the event store and return where it is kept."""
    store = getattr(request.app.state, "store", None)
    if store is None:
        # NOTE: without an event store the catalogue lasts until the process stops.
        return "memory"
    rows = json.dumps(_records(catalog), ensure_ascii=False)
    with store.engine.begin() as connection:
        connection.execute(
            insert(catalog_table).values(uploaded_at=uploaded_at, n_items=len(catalog), rows=rows)
        )
    return "database"


def _records(catalog: Catalog) -> list[dict[str, Any]]:
    frame = catalog.to_frame()
    return [
        {str(name): value for name, value in record.items() if value is not None}
        for record in frame.to_dict(orient="records")
    ]


def _latest_upload(request: Request) -> _Upload | None:
    """Return the catalogue uploaded last, read from the store once per process."""
    state = request.app.state
    if hasattr(state, "catalog_upload"):
        upload: _Upload | None = state.catalog_upload
        return upload
    upload = None
    store = getattr(state, "store", None)
    if store is not None:
        with store.engine.connect() as connection:
            row = connection.execute(
                select(catalog_table.c.rows, catalog_table.c.uploaded_at)
                .order_by(catalog_table.c.id.desc())
                .limit(1)
            ).first()
        if row is not None:
            catalog = Catalog.from_frame(pd.DataFrame.from_records(json.loads(row.rows)))
            upload = _Upload(catalog, row.uploaded_at)
            logger.info("read the catalogue uploaded at %s: %d items", row.uploaded_at, len(catalog))
    state.catalog_upload = upload
    return upload


def apply_uploaded_catalog(request: Request) -> None:
    """Make the serving model use the uploaded catalogue, also after a reload swapped the model.

    A dependency of the recommendation endpoints; it does nothing when no
    catalogue was uploaded, so a model keeps the catalogue it was saved with.
    """
    serving = getattr(request.app.state, "serving", None)
    if serving is None:
        return
    upload = _latest_upload(request)
    if upload is not None and serving.model.catalog_ is not upload.catalog:
        serving.model.set_catalog(upload.catalog)
        logger.info("applied the uploaded catalogue to model %s", serving.model.version_)


# --------------------------------------------------------------------------- rule parameters


@dataclass(frozen=True, slots=True)
class RequestRules:
    """The rules and evidence gate of one request."""

    rules: Rules | None
    min_support: int | None


def rules_query(
    request: Request,
    filter: Annotated[  # noqa: A002 - the query parameter is called filter
        list[str] | None,
        Query(
            description="Only items whose attribute has this value, written attribute:value "
            "(category:garden), or a range for numbers and dates (price:0..20, price:..20). "
            "Repeat it: the same attribute repeated means one of the values, different "
            "attributes must all match."
        ),
    ] = None,
    filter_out: Annotated[
        list[str] | None,
        Query(description="Leave out items whose attribute has this value, written as for filter."),
    ] = None,
    boost: Annotated[
        list[str] | None,
        Query(
            description="Multiply the score of items with this attribute value, written "
            "attribute:value:factor (category:garden:1.5). Repeat it for several boosts."
        ),
    ] = None,
    max_per_category: Annotated[
        int | None, Query(ge=1, description="At most this many items per value of the category attribute.")
    ] = None,
    min_support: Annotated[
        int | None,
        Query(ge=1, description="Use only item pairs that at least this many customers bought together."),
    ] = None,
) -> RequestRules:
    """Read the rule parameters of a GET request, after applying the uploaded catalogue."""
    apply_uploaded_catalog(request)
    include = _conditions("filter", filter)
    exclude = _conditions("filter_out", filter_out)
    boosts = [_boost(text) for text in boost or []]
    if not (include or exclude or boosts or max_per_category is not None):
        return RequestRules(None, min_support)
    return RequestRules(
        Rules(include=include, exclude=exclude, boost=boosts, max_per_category=max_per_category),
        min_support,
    )


RulesQueryDep = Annotated[RequestRules, Depends(rules_query)]


def _conditions(name: str, texts: list[str] | None) -> dict[str, Any]:
    conditions: dict[str, list[str]] = {}
    for text in texts or []:
        attribute, separator, value = text.partition(":")
        if not separator or not attribute or not value:
            raise _query_error(name, text, "must be written attribute:value, such as category:garden")
        bounds = split_range_text(value)
        if bounds is not None and is_reversed_range(*bounds):
            raise _query_error(
                name,
                text,
                f"has the range {text!r}, whose lower bound is above its upper bound, so it matches "
                f"no item; write it as {attribute}:{bounds[1]}..{bounds[0]}",
            )
        conditions.setdefault(attribute, []).append(value)
    return {attribute: values[0] if len(values) == 1 else values for attribute, values in conditions.items()}


def _boost(text: str) -> Boost:
    head, separator, factor_text = text.rpartition(":")
    attribute, inner, value = head.partition(":")
    try:
        factor = float(factor_text)
    except ValueError:
        factor = float("nan")
    if not separator or not inner or not attribute or not value or factor != factor:
        raise _query_error(
            "boost", text, "must be written attribute:value:factor, such as category:garden:1.5"
        )
    return Boost({attribute: value}, factor)


def _query_error(name: str, value: str, message: str) -> RequestValidationError:
    """Return a 422 error for the query parameter ``name``, in the shape of the other field errors."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
    )


def rules_from_body(body: RulesBody | None) -> Rules | None:
    """Convert the ``rules`` field of a JSON body to library rules."""
    if body is None:
        return None

    def condition(value: Any) -> Any:
        if isinstance(value, RangeBody):
            return Range(value.min, value.max)
        return value

    def conditions(mapping: dict[str, Any]) -> dict[str, Any]:
        return {attribute: condition(value) for attribute, value in mapping.items()}

    return Rules(
        include=conditions(body.include),
        exclude=conditions(body.exclude),
        boost=[Boost(conditions(boost.where), boost.factor) for boost in body.boost],
        max_per_category=body.max_per_category,
        category_attribute=body.category_attribute,
        now=body.now,
    )


def evidence_fields(result: Any) -> dict[str, Any]:
    """Return the evidence flags of a result, for a response body."""
    return {"short_of_evidence": result.short_of_evidence, "below_min_support": result.below_min_support}
