"""Typed errors, so callers branch on type and never on message text."""

from __future__ import annotations


class CanaryRollbackError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(CanaryRollbackError):
    """The function's configuration (environment, probe specs) is unusable."""


class StateConflict(CanaryRollbackError):
    """A conditional write lost a race: someone else changed the state first."""


class StateStoreError(CanaryRollbackError):
    """The state table could not be read or written (missing table, access denied...)."""


class EcsError(CanaryRollbackError):
    """An ECS call failed in a way the caller should report (service missing, access denied...)."""


class SecretUnavailable(CanaryRollbackError):
    """A probe's auth secret could not be read. Never carries the secret value."""


class AlarmLookupError(CanaryRollbackError):
    """CloudWatch could not say whether the alarm is still firing (throttled past retries, unreachable)."""


class ReportingError(CanaryRollbackError):
    """A notification or a metric could not be published (missing topic, access denied...)."""


class ReadinessLookupError(CanaryRollbackError):
    """ECR or IAM could not say whether something a rollback needs exists (unreachable, throttled, access
    denied): that part of the readiness check is `unchecked`, never a failed probe run."""
