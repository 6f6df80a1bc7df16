"""JSON request bodies read *after* the caller is known to be the admin.

FastAPI parses a body parameter before any dependency runs, so a bad body from a caller without
a token would be answered 400/422 instead of 401. Routes that take an operator's JSON body
therefore declare it through :func:`admin_json_body`, whose dependency checks the token first,
and describe the body in the OpenAPI document with :func:`json_request_body`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from cloud_service.api.body import read_capped_body
from cloud_service.api.deps import AdminDep
from cloud_service.ingest import IngestError

JSON = "application/json"
MAX_JSON_BODY_BYTES = 64 * 1024
"""An operator's request is a few hundred bytes; nothing larger is read."""

Model = TypeVar("Model", bound=BaseModel)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema with its ``$defs`` written in place, for a request body that
    the OpenAPI document describes by hand (no component to point a ``$ref`` at)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def json_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the route's required JSON body."""
    return {"requestBody": {"required": True,
                            "content": {JSON: {"schema": inline_schema(model)}}}}


def admin_json_body(model: type[Model], what: str) -> Callable[..., Awaitable[Model]]:
    """A dependency yielding the validated body once the caller is the admin: 400/413/415 for
    a body that cannot be read, 422 (FastAPI's shape, without the input) for a wrong one."""

    async def read(request: Request, _: AdminDep) -> Model:
        try:
            body = await read_capped_body(request, MAX_JSON_BODY_BYTES, JSON, what)
        except IngestError as error:
            raise HTTPException(error.status, error.detail) from error
        try:
            return model.model_validate_json(body)
        except ValidationError as error:
            raise RequestValidationError(  # without the input, which may not even be text
                [{"type": problem["type"], "loc": ("body", *problem["loc"]),
                  "msg": problem["msg"]}
                 for problem in error.errors(include_url=False)]) from error

    return read
