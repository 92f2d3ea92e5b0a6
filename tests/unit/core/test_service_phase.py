"""`status` says scaling apart from deploying (docs/operate.md)."""

from __future__ import annotations

from dataclasses import replace

from canary_rollback.core.models import Deployment
from tests.support.builders import rev, rolling, steady


def test_steady_deploying_and_scaling_are_told_apart() -> None:
    assert steady(31).phase == "steady"
    assert rolling(34, 31).phase == "deploying"
    one = steady(31)
    short_of_tasks = replace(one, running_count=1, deployments=(Deployment("PRIMARY", rev(31), "COMPLETED", 1, 2),))
    assert short_of_tasks.phase == "scaling"
    rolling_out = replace(one, deployments=(Deployment("PRIMARY", rev(31), "IN_PROGRESS", 1, 2),))
    assert rolling_out.phase == "deploying"
