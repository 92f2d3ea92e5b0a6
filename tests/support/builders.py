"""Small builders for domain values: revisions, service observations, the moment tests start."""

from __future__ import annotations

from datetime import UTC, datetime

from canary_rollback.core.models import Deployment, ServiceObservation

T0 = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
PREFIX = "arn:aws:ecs:us-east-1:123456789012:task-definition/hokusai-api-development:"
SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/hokusai-development/hokusai-api"


def rev(number: int) -> str:
    return f"{PREFIX}{number}"


def steady(revision: int) -> ServiceObservation:
    arn = rev(revision)
    return ServiceObservation(SERVICE_ARN, arn, 2, 2, (Deployment("PRIMARY", arn, "COMPLETED", 2, 2),))


def rolling(new: int, old: int) -> ServiceObservation:
    return ServiceObservation(
        SERVICE_ARN,
        rev(new),
        2,
        2,
        (Deployment("PRIMARY", rev(new), "IN_PROGRESS", 0, 2), Deployment("ACTIVE", rev(old), "COMPLETED", 2, 2)),
    )
