"""Invoke a function the way Lambda (and `sam local invoke`) does: the template's `Handler` value imported from
the package, called with the event and a Lambda context whose deadline is the function's `Timeout`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from demo.world.lambda_context import FakeLambdaContext
from tests.support.template import template

PROBE = "ProbeFunction"
ROLLBACK = "RollbackFunction"
HOOK = "DeploymentHookFunction"


def invoke(function: str, event: Any, *, timeout_seconds: int | None = None) -> dict[str, Any]:
    """`timeout_seconds` overrides the template's `Timeout` (an invocation that has little time left)."""
    response: dict[str, Any] = handler_of(function)(event, lambda_context(function, timeout_seconds))
    return response


def lambda_context(function: str, timeout_seconds: int | None = None) -> FakeLambdaContext:
    """A context for one invocation of `function`, its deadline the template's `Timeout` from now."""
    properties = template()["Resources"][function]["Properties"]
    timeout = int(properties["Timeout"]) if timeout_seconds is None else timeout_seconds
    return FakeLambdaContext(function, timeout)


def handler_of(function: str) -> Callable[[Any, Any], Any]:
    module_name, attribute = template()["Resources"][function]["Properties"]["Handler"].rsplit(".", 1)
    handler: Callable[[Any, Any], Any] = getattr(importlib.import_module(module_name), attribute)
    return handler
