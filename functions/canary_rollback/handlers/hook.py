"""DeploymentHookFunction: ECS's lifecycle hook for BLUE_GREEN, LINEAR and CANARY deployments.

It probes the new revision through the test listener (POST_TEST_TRAFFIC_SHIFT) and production
(POST_PRODUCTION_TRAFFIC_SHIFT) and answers `hookStatus`; on `FAILED`, ECS rolls the deployment back itself.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from canary_rollback.core.observability import logger, traced
from canary_rollback.core.reporting import invocation_deadline
from canary_rollback.gate.run import execute_hook
from canary_rollback.probe.run import run_deadline
from canary_rollback.runtime import Lazy, Runtime, build_runtime

runtime: Lazy[Runtime] = Lazy(lambda: build_runtime(need_probes=True))
# Left of the invocation after reporting: returning the answer. Reporting unfinished then is not waited for.
REPORT_MARGIN_SECONDS = 2.0


@traced
@logger.inject_lambda_context(correlation_id_path="executionId", clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    report_by = invocation_deadline(context, REPORT_MARGIN_SECONDS)
    return execute_hook(runtime.get(), event, deadline=run_deadline(context), report_by=report_by).answer.as_response()
