"""Request bodies against the schemas of the OpenAPI document: the subset of JSON Schema
the document uses (type, properties, required, additionalProperties, minProperties, enum,
pattern, minLength, maxLength)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from calserver.api.document import OPENAPI
from calserver.errors import InvalidInput


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rpartition("/")[2]
        schema = OPENAPI["components"]["schemas"][name]
    return schema


def check_body(schema: dict[str, Any], value: Any, where: str = "the body") -> None:
    """Raise InvalidInput unless ``value`` fits ``schema`` (the subset of JSON Schema the
    document uses: type, properties, required, additionalProperties, minProperties,
    enum, pattern, minLength, maxLength, items, maxItems)."""
    schema = _resolve(schema)
    kind = schema.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "object": lambda v: isinstance(v, dict),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
    }
    if kind is not None and not checks[kind](value):
        raise InvalidInput(f"{where} must be a JSON {kind}")
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(schema["enum"])
        raise InvalidInput(f"{where} must be one of {allowed}, not {value!r}")
    if isinstance(value, str):
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength", len(value))
        if not shortest <= len(value) <= longest:
            raise InvalidInput(f"{where} must be {shortest} to {longest} characters long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise InvalidInput(f"{where} is not valid: {value!r}")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", len(value)):
            raise InvalidInput(f"{where} may have at most {schema['maxItems']} entries")
        for number, item in enumerate(value):
            check_body(schema.get("items", {}), item, f"{where}[{number}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(properties))
            if unknown:
                raise InvalidInput(f"unknown field(s) in {where}: {', '.join(unknown)}")
        for name in schema.get("required", []):
            if name not in value:
                raise InvalidInput(f"{where} lacks the field {name!r}")
        if len(value) < schema.get("minProperties", 0):
            raise InvalidInput(f"{where} must name at least one of {', '.join(properties)}")
        for name, item in value.items():
            if name in properties:
                check_body(properties[name], item, f"{name!r}")
