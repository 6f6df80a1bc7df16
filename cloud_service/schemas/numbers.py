"""Integers as JSON Schema means them: in a JSON body ``5`` and ``5.0`` are integers, ``true`` and
``"5"`` are not (pydantic's lax mode takes all four; its strict mode refuses ``5.0``). Values
built in Python (the console's form fields, the CLI's options) may still be text."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, WithJsonSchema


def _json_integer(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, bool) or (isinstance(value, str) and info.mode == "json"):
        raise ValueError("must be a JSON integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


def bounded_json_int(ge: int, le: int) -> Any:
    """A :data:`JsonInt` within [ge, le], for optional fields (``bounded_json_int(…) | None``):
    pydantic writes bounds on such a union as non-standard ``ge``/``le`` keys, so the schema
    (minimum, maximum) is given explicitly."""
    return Annotated[int, BeforeValidator(_json_integer), Field(ge=ge, le=le),
                     WithJsonSchema({"type": "integer", "minimum": ge, "maximum": le})]
