"""The blue/green gate's decisions: which probes a lifecycle stage runs, and what the hook answers ECS.

ECS (`BLUE_GREEN`, `LINEAR` and `CANARY` deployments) invokes a Lambda at each lifecycle stage it is attached to
and rolls the deployment back by itself when the answer is `FAILED` (docs/gate.md).
Pure: an event view and probe results in, an answer out; no AWS, no clock, no I/O.

The answer's state travels in `hookDetails`, not in a table: ECS merges the details an `IN_PROGRESS` answer
returns into the next invocation's event, so the pass count survives between calls without storage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from canary_rollback.core.arns import is_guarded_service, service_key
from canary_rollback.core.errors import CanaryRollbackError
from canary_rollback.core.models import GuardedService, PauseFlag, ProbeResult
from canary_rollback.core.probe_spec import ProbeSpec

HookStatus = Literal["SUCCEEDED", "FAILED", "IN_PROGRESS"]

POST_TEST_TRAFFIC_SHIFT = "POST_TEST_TRAFFIC_SHIFT"
POST_PRODUCTION_TRAFFIC_SHIFT = "POST_PRODUCTION_TRAFFIC_SHIFT"
# The traffic-shift stages ECS also runs while it rolls a deployment back.
ROLLBACK_STAGES = frozenset({"TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"})
PROBED_STAGES = frozenset({POST_TEST_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT})


class HookEventError(CanaryRollbackError):
    """The invocation is not an ECS lifecycle hook event this function can judge."""


@dataclass(frozen=True)
class HookEvent:
    """What ECS sends a lifecycle hook (AWS docs, "Lambda hooks for Amazon ECS service deployments")."""

    execution_id: str
    stage: str
    resource_arn: str  # the service deployment
    service_arn: str
    target_revision_arn: str  # the green service revision, also while traffic shifts back to blue
    test_weights: Mapping[str, float]
    production_weights: Mapping[str, float]
    hook_details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stage_weight(self) -> float | None:
        """The target revision's share of the traffic this stage is about; None when ECS did not say.

        ECS sends empty weight maps at the POST_* stages: unknown is not zero, so such a stage is probed.
        """
        if "TEST_TRAFFIC" in self.stage:
            weights = self.test_weights
        elif "PRODUCTION_TRAFFIC" in self.stage:
            weights = self.production_weights
        else:
            return None
        return weights.get(self.target_revision_arn)


@dataclass(frozen=True)
class HookSettings:
    guarded: GuardedService
    passes_required: int
    interval_seconds: int


@dataclass(frozen=True)
class HookAnswer:
    status: HookStatus
    details: dict[str, Any]
    callback_delay: int | None = None
    # Set on a FAILED answer caused by a probe: the result a person needs to read in the notification.
    failure: ProbeResult | None = None
    # An answer that lets a deployment through unchecked (no test_url): logged as a warning.
    unchecked: bool = False

    def as_response(self) -> dict[str, Any]:
        """The JSON ECS reads: `hookStatus`, `callBackDelay` (IN_PROGRESS only) and `hookDetails`."""
        response: dict[str, Any] = {"hookStatus": self.status, "hookDetails": self.details}
        if self.callback_delay is not None:
            response["callBackDelay"] = self.callback_delay
        return response


@dataclass(frozen=True)
class HookPlan:
    """Either an answer that needs no probing, or the probes to run (URLs already chosen for the stage)."""

    answer: HookAnswer | None
    probes: tuple[ProbeSpec, ...] = ()


def parse_hook_event(raw: Any) -> HookEvent:
    if not isinstance(raw, dict):
        raise HookEventError(f"a lifecycle hook event is a JSON object, got {type(raw).__name__}")
    details = raw.get("executionDetails")
    if not isinstance(details, dict):
        raise HookEventError("no executionDetails: not an ECS lifecycle hook event")
    stage = raw.get("lifecycleStage")
    service_arn = details.get("serviceArn")
    target = details.get("targetServiceRevisionArn")
    for name, value in (("lifecycleStage", stage), ("serviceArn", service_arn), ("targetServiceRevisionArn", target)):
        if not isinstance(value, str) or not value:
            raise HookEventError(f"{name} missing from the lifecycle hook event")
    hook_details = raw.get("hookDetails") or {}
    return HookEvent(
        execution_id=str(raw.get("executionId", "")),
        stage=str(stage),
        resource_arn=str(raw.get("resourceArn", "")),
        service_arn=str(service_arn),
        target_revision_arn=str(target),
        test_weights=_weights(details.get("testTrafficWeights"), "testTrafficWeights"),
        production_weights=_weights(details.get("productionTrafficWeights"), "productionTrafficWeights"),
        hook_details=dict(hook_details) if isinstance(hook_details, dict) else {},
    )


def stage_probes(stage: str, specs: Sequence[ProbeSpec]) -> tuple[ProbeSpec, ...]:
    """POST_TEST_TRAFFIC_SHIFT probes each probe with a `test_url` at that URL; POST_PRODUCTION every probe at `url`."""
    if stage == POST_TEST_TRAFFIC_SHIFT:
        return tuple(replace(spec, url=spec.test_url) for spec in specs if spec.test_url is not None)
    if stage == POST_PRODUCTION_TRAFFIC_SHIFT:
        return tuple(specs)
    return ()


def plan_hook(event: HookEvent, load_specs: Callable[[], Sequence[ProbeSpec]], settings: HookSettings) -> HookPlan:
    """The rules that need no probe, in the order that keeps a rollback from ever being blocked.

    The probe list is loaded last (`load_specs`), only for a stage that probes: a probe list that cannot be
    loaded (an SSM parameter throttled or deleted) must never fail a stage ECS runs while it rolls back.
    """
    # PRE_PRODUCTION_TRAFFIC_SHIFT carries the weights from before the shift (green still 0): not a rollback.
    if event.stage_weight == 0 and not event.stage.startswith("PRE_"):
        return HookPlan(
            _succeeded(
                {
                    "stage": event.stage,
                    "weight": 0,
                    "note": "traffic is going back to the previous revision; a rollback is never blocked",
                }
            )
        )
    wrong_service = not is_guarded_service(event.service_arn, settings.guarded)
    if wrong_service and event.stage not in ROLLBACK_STAGES:
        return HookPlan(
            HookAnswer(
                "FAILED",
                {
                    "stage": event.stage,
                    "reason": "wrong_service",
                    "guards": settings.guarded.key,
                    "service": event.service_arn,
                    "note": f"this hook guards {settings.guarded.key}, not {service_key(event.service_arn)}",
                },
            )
        )
    if event.stage not in PROBED_STAGES:
        note = f"{event.stage} is not a probed stage"
        if wrong_service:  # ECS runs these stages during its own rollback too: never block one, but say so
            note += f"; this hook guards {settings.guarded.key}, not {service_key(event.service_arn)}"
        return HookPlan(HookAnswer("SUCCEEDED", {"stage": event.stage, "note": note}, unchecked=wrong_service))
    probes = stage_probes(event.stage, load_specs())
    if not probes:
        note = "no probe has a test_url: nothing checked through the test listener"
        return HookPlan(HookAnswer("SUCCEEDED", {"stage": event.stage, "note": note}, unchecked=True))
    return HookPlan(None, probes)


def decide_hook(
    event: HookEvent, results: Sequence[ProbeResult], probes: Sequence[ProbeSpec], settings: HookSettings
) -> HookAnswer:
    """One probe round of a probed stage: FAILED at the first failure, else count it towards the passes.

    A round counts only towards the same stage at the same traffic weight: a new LINEAR/CANARY step (a new
    weight) starts the count afresh. A probe that could not run (reason `error`) fails the gate too: a gate
    that cannot check must not pass.
    """
    weight = event.stage_weight
    failure = next((result for result in results if not result.ok), None)
    if failure is not None:
        url = next((spec.url for spec in probes if spec.name == failure.name), None)
        return HookAnswer(
            "FAILED",
            {
                "stage": event.stage,
                "weight": weight,
                "probe": failure.name,
                "url": url,
                "status": failure.status,
                "reason": failure.reason,
            },
            failure=failure,
        )
    passes = previous_passes(event) + 1
    details: dict[str, Any] = {"stage": event.stage, "weight": weight, "passes": passes}
    if passes >= settings.passes_required:
        return _succeeded(details)
    return HookAnswer("IN_PROGRESS", details, callback_delay=settings.interval_seconds)


def previous_passes(event: HookEvent) -> int:
    """The passes ECS handed back, if they were counted for this very stage and traffic weight."""
    details = event.hook_details
    passes = details.get("passes")
    if not isinstance(passes, int) or isinstance(passes, bool) or passes < 0:
        return 0
    if details.get("stage") != event.stage or details.get("weight") != event.stage_weight:
        return 0
    return passes


def _succeeded(details: dict[str, Any]) -> HookAnswer:
    return HookAnswer("SUCCEEDED", details)


def _weights(raw: Any, name: str) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in raw.values()
    ):
        raise HookEventError(f"{name} must map service revision ARNs to numbers")
    return {str(k): v for k, v in raw.items()}


def while_paused(answer: HookAnswer, pause: PauseFlag) -> HookAnswer:
    """Pause covers the gate: while a person has taken over, the hook never fails (or holds) a deployment. It
    answers SUCCEEDED at every stage and says, in `hookDetails`, what it would have answered."""
    details = {
        "paused": f"automatic rollback paused by {pause.by} at {pause.at.isoformat()}: {pause.reason}",
        "would_have_answered": answer.status,
        **({"would_have": answer.details} if answer.details else {}),
    }
    return HookAnswer("SUCCEEDED", details)
