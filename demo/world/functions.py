"""The stack's functions in this process: each handler's per-container object built from its environment, as
the Lambda service would at a cold start, but on the world's simulated clock."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from canary_rollback.handlers import hook as hook_handler
from canary_rollback.handlers import probe as probe_handler
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import Clock, build_runtime
from demo.world.clock import SimTimer
from demo.world.stack import LocalStack


def install(stack: LocalStack, clock: Clock, timer: SimTimer) -> None:
    """ProbeFunction (its deployment watch sleeps on the simulated timer) and RollbackFunction."""
    probe_runtime = build_runtime(stack.environment("ProbeFunction"), clock=clock)
    probe_runtime.monotonic = timer.monotonic
    probe_runtime.sleep = timer.sleep
    probe_handler.runtime.set(probe_runtime)
    rollback_env = stack.environment("RollbackFunction")
    rollback_handler.application.set(RollbackApplication(build_runtime(rollback_env, need_probes=False, clock=clock)))


def install_deployment_hook(env: Mapping[str, str], probes: Sequence[Mapping[str, Any]], clock: Clock) -> None:
    """DeploymentHookFunction with its own probes (a blue/green deployment's test listener among them)."""
    hook_handler.runtime.set(build_runtime({**env, "PROBES": json.dumps(list(probes))}, clock=clock))


def uninstall_deployment_hook() -> None:
    hook_handler.runtime.set(None)


def uninstall() -> None:
    probe_handler.runtime.set(None)
    rollback_handler.application.set(None)
    uninstall_deployment_hook()
