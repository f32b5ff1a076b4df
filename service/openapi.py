"""The published OpenAPI schema, with the 422 body the service really sends.

FastAPI documents every validation error with its own ``HTTPValidationError``
body (``{"detail": [...]}``), while the handlers in :mod:`service.errors` respond
with the shared error body. :func:`install_openapi` documents that body in the
schema, so that clients generated from it parse the real responses.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

__all__ = ["ErrorBody", "FieldError", "install_openapi"]

# Names of the components that FastAPI adds for its own 422 body.
_FASTAPI_ERROR = "HTTPValidationError"
_FASTAPI_ERROR_ITEM = "ValidationError"
_REF_TEMPLATE = "#/components/schemas/{model}"


class FieldError(BaseModel):
    """One invalid field of a request."""

    location: str = Field(description="Where the field is: query, path, body or header.")
    field: str = Field(description="The field, such as items[2] or n; empty for the whole body.")
    message: str = Field(description="What is wrong and what is accepted.")
    value: Any = Field(description="The rejected value, shortened when long; null when missing.")


class ErrorBody(BaseModel):
    """The body of every error response."""

    detail: str = Field(description="What went wrong and what to do, in one sentence.")
    request_id: str = Field(description="The request's id, also in the X-Request-ID header.")
    errors: list[FieldError] | None = Field(
        default=None, description="One entry per invalid field. Only 422 responses have it."
    )


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` document validation errors with :class:`ErrorBody`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.get("components", {}).get("schemas", {})
        if _FASTAPI_ERROR in components:
            for name, definition in _component_schemas().items():
                components[name] = definition
            # Every 422 already refers to HTTPValidationError, so that name now points to ErrorBody.
            components[_FASTAPI_ERROR] = {"$ref": _REF_TEMPLATE.format(model=ErrorBody.__name__)}
            components.pop(_FASTAPI_ERROR_ITEM, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _component_schemas() -> dict[str, Any]:
    """Return the JSON schemas of ErrorBody and FieldError as OpenAPI components."""
    schema = ErrorBody.model_json_schema(ref_template=_REF_TEMPLATE)
    definitions: dict[str, Any] = schema.pop("$defs", {})
    definitions[ErrorBody.__name__] = schema
    return definitions
