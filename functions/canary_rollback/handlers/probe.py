"""ProbeFunction: scheduled; probes every configured route and tracks the known-good revision."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_rollback.observability import logger, traced
from canary_rollback.probe_run import execute_probe_run, run_deadline
from canary_rollback.runtime import Lazy, Runtime, build_runtime

runtime: Lazy[Runtime] = Lazy(lambda: build_runtime(need_probes=True))


@traced
@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id = event.get("id") if isinstance(event, dict) else None
    report = execute_probe_run(runtime.get(), deadline=run_deadline(context), run_id=run_id)
    return report.as_response()
