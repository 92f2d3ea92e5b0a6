"""One powertools Logger for the package, and the handlers' X-Ray tracing switch."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger

SERVICE_NAME_DEFAULT = "canary-rollback"
logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME_DEFAULT)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    disabled = os.getenv("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("true", "1")
    return not disabled and bool(os.getenv("AWS_LAMBDA_FUNCTION_NAME"))


def traced(handler: Handler) -> Handler:
    """powertools Tracer when tracing is on (template parameter TracingEnabled), nothing otherwise.

    Not `Tracer()` unconditionally: even to disable itself it imports the X-Ray SDK, about 200 ms of every
    cold start (measured by scripts/bench_probe.py) for a feature that is off by default.
    """
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    return cast(Handler, Tracer().capture_lambda_handler(handler, capture_response=False))
