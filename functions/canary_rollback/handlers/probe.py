"""ProbeFunction: scheduled, it probes every route and tracks the known-good revision; on an ECS deployment
event it watches the deployment in rounds every WATCH_INTERVAL_SECONDS (docs/watch.md)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_rollback.core.observability import logger, traced
from canary_rollback.probe.run import execute_probe_run, run_deadline
from canary_rollback.runtime import Lazy, Runtime, build_runtime
from canary_rollback.watch.lease import looks_like_deployment_event
from canary_rollback.watch.run import watch_deployment

runtime: Lazy[Runtime] = Lazy(lambda: build_runtime(need_probes=True))


@traced
@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if looks_like_deployment_event(event):
        remaining = context.get_remaining_time_in_millis() / 1000
        return watch_deployment(
            runtime.get(), event, holder=context.aws_request_id, remaining_seconds=remaining
        ).as_response()
    run_id = event.get("id") if isinstance(event, dict) else None
    report = execute_probe_run(runtime.get(), deadline=run_deadline(context), run_id=run_id)
    return report.as_response()
