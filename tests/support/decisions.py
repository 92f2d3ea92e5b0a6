"""The structured decision's JSON Schema (docs/schemas/decision-1.schema.json), as a validator for any test."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "decision-1.schema.json"


@cache
def decision_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in decision_validator().iter_errors(document)]


def assert_valid_decision(document: Any) -> None:
    errors = schema_errors(document)
    assert not errors, "not a canary-rollback/decision/1 document:\n" + "\n".join(errors)
