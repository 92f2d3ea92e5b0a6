"""A pinned copy is registered into the known-good's own family, tagged on create: the SAM-transformed
RollbackFunction role must allow that for whatever family the service runs, not one the stack was told about."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

ACCOUNT, REGION = "123456789012", "us-east-1"


def rollback_role_statements() -> list[dict[str, Any]]:
    """RollbackFunction's role as CloudFormation receives it (scripts/sam_translate.py, .venv-sam's python), with
    the stack's parameters at their defaults and the pseudo parameters of one account substituted."""
    sam = Path(os.environ.get("SAM_CLI") or REPO / ".venv-sam" / "bin" / "sam")
    if not sam.exists():
        pytest.skip("SAM CLI not installed (make test installs it into .venv-sam)")
    rendered = subprocess.run(
        [str(sam.parent / "python"), str(REPO / "scripts" / "sam_translate.py"), str(REPO / "template.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": REGION},
        check=True,
    )
    template = json.loads(rendered.stdout)
    known = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    known |= {name: str(p["Default"]) for name, p in template["Parameters"].items() if "Default" in p}
    role = template["Resources"]["RollbackFunctionRole"]
    policies = [p for p in role["Properties"]["Policies"] if "PolicyDocument" in p]  # the KMS one is an Fn::If
    return [_substitute(s, known) for policy in policies for s in policy["PolicyDocument"]["Statement"]]


def _substitute(value: Any, known: dict[str, str]) -> Any:
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        for name, resolved in known.items():
            text = text.replace("${" + name + "}", resolved)
        return text
    if isinstance(value, dict):
        return {key: _substitute(item, known) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, known) for item in value]
    return value


def allowed(statements: list[dict[str, Any]], action: str, arn: str, context: dict[str, str]) -> bool:
    """IAM's Allow for one action on one ARN with these request context keys (StringEquals conditions only)."""
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        if statement["Effect"] != "Allow" or action not in actions:
            continue
        if not any(isinstance(r, str) and fnmatch.fnmatchcase(arn, r) for r in resources):
            continue
        conditions = statement.get("Condition", {})
        if set(conditions) - {"StringEquals"}:
            continue  # an operator this check does not evaluate: fail closed
        if all(context.get(key) == expected for key, expected in conditions.get("StringEquals", {}).items()):
            return True
    return False


def test_tag_on_create_is_allowed_for_a_family_the_stack_was_not_told_about() -> None:
    statements = rollback_role_statements()
    for family in ("hokusai-api-development", "billing-api-production"):
        copy = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:42"
        assert allowed(statements, "ecs:TagResource", copy, {"ecs:CreateAction": "RegisterTaskDefinition"}), family
        # tagging an existing revision, outside RegisterTaskDefinition, stays denied
        assert not allowed(statements, "ecs:TagResource", copy, {}), family
    assert allowed(statements, "ecs:RegisterTaskDefinition", "*", {})
