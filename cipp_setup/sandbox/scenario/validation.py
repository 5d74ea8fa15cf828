"""Checking a scenario document against ``scenario.schema.json``.

A schema violation becomes one `ScenarioError` naming the field (``users.sam.upn``,
``directory_roles[2].principal``) and what was expected, in words rather than in
jsonschema's. New fields of the format are declared in the schema file; this module needs
no change for them.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from cipp_setup.sandbox.scenario.errors import ScenarioError

_SCHEMA_FILE = "scenario.schema.json"


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario format."""
    text = resources.files("cipp_setup.sandbox").joinpath(_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (empty)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = json.dumps(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _schema_message(error: Any) -> tuple[str, str]:
    """(field path, expectation) for one jsonschema ValidationError."""
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    expected_hint = schema.get("x-expected")
    validator = error.validator
    if validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        field = missing.group(1) if missing else "?"
        return _json_path([*path, field]), "is required but missing"
    if validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        allowed = ", ".join(sorted(schema.get("properties", {})))
        field = extra[0] if extra else "?"
        return _json_path([*path, field]), f"unknown field: expected one of {allowed}"
    if validator == "propertyNames":
        key = error.instance
        return _json_path([*path, key]), (
            "bad key: expected a short key of letters, digits, '-', '_' or '.'"
        )
    got = describe(error.instance)
    if expected_hint:
        return _json_path(path), f"expected {expected_hint}, got {got}"
    if validator == "type":
        types = (
            error.validator_value
            if isinstance(error.validator_value, list)
            else [error.validator_value]
        )
        words = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
        return _json_path(path), f"expected {words}, got {got}"
    if validator == "enum":
        choices = ", ".join("null" if c is None else str(c) for c in error.validator_value)
        return _json_path(path), f"expected one of {choices}, got {got}"
    if validator in ("minimum", "exclusiveMinimum"):
        return _json_path(path), f"expected a value of at least {error.validator_value}, got {got}"
    if validator == "minLength":
        return _json_path(path), f"expected a non-empty string, got {got}"
    if validator == "minItems":
        return _json_path(path), "expected a non-empty list"
    if validator == "pattern":
        return _json_path(path), f"expected a value matching {error.validator_value}, got {got}"
    return _json_path(path), error.message.splitlines()[0]


def validate(label: str, doc: dict[str, Any]) -> None:
    import jsonschema  # imported here: only scenario loading needs it

    validator = jsonschema.Draft202012Validator(scenario_schema())
    errors = list(validator.iter_errors(doc))
    if not errors:
        return
    # The deepest error is the most specific; for oneOf alternatives prefer the parent's hint.
    best = jsonschema.exceptions.best_match(errors)
    if best.validator in ("oneOf", "anyOf") and not best.schema.get("x-expected"):
        contexts = sorted(best.context or [], key=lambda e: -len(e.absolute_path))
        if contexts:
            best = contexts[0]
    field, expected = _schema_message(best)
    raise ScenarioError(label, field or "(top level)", expected)
