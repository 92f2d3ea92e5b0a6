"""boto3 clients created once per container, lazily, with botocore's `standard` retry mode.

`standard` retries throttling and transient errors with jittered backoff, so no hand-written retry loop
exists in this package. Clients honour AWS_ENDPOINT_URL and AWS_DEFAULT_REGION like any boto3 client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

# Five attempts in all for throttling; connect/read bounded so a stuck API cannot eat the Lambda timeout.
DEFAULT_MAX_ATTEMPTS = 5
# (connect, read) seconds. DynamoDB answers a single-item call in milliseconds: a read that takes seconds is a
# brownout, and a short timeout hands it to the next attempt instead of waiting. Five attempts of 3 s with
# standard backoff stay under about 30 s, which the rollback's reporting margin covers (docs/design.md,
# "Answers on time"). Other APIs (ECS registering a task definition, say) may take longer.
_TIMEOUTS: dict[str, tuple[float, float]] = {"dynamodb": (2, 3)}
_DEFAULT_TIMEOUTS = (5.0, 15.0)


def boto_config(service: str = "") -> Config:
    """botocore's `standard` retries. AWS_MAX_ATTEMPTS, botocore's own setting, still wins when it is set (an
    explicit Config would otherwise override it): a user's throttling budget, or a test's short one."""
    raw = os.getenv("AWS_MAX_ATTEMPTS", "").strip()
    attempts = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_ATTEMPTS
    connect, read = _TIMEOUTS.get(service, _DEFAULT_TIMEOUTS)
    return Config(
        retries={"mode": "standard", "max_attempts": attempts},
        connect_timeout=connect,
        read_timeout=read,
        user_agent_extra="canary-rollback/0.1",
    )


def readiness_config() -> Config:
    """The readiness check's lookups (ECR, IAM) answer a question that can wait five minutes: two attempts and
    short timeouts, so an unreachable registry API costs the probe run seconds, not its budget."""
    return Config(
        retries={"mode": "standard", "max_attempts": 2},
        connect_timeout=2,
        read_timeout=5,
        user_agent_extra="canary-rollback/0.1",
    )


# (service, operation, request parameters): lets tests check every call against the template's policies.
OperationHook = Callable[[str, str, dict[str, Any]], None]


class AwsClients:
    """A per-container cache of clients. `on_call(service, operation, params)` lets tests record every call."""

    def __init__(self, session: boto3.Session | None = None, on_call: OperationHook | None = None) -> None:
        self._session = session
        self._on_call = on_call
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, name: str, region: str | None = None, config: Config | None = None) -> Any:
        key = name if region is None else f"{name}@{region}"
        with self._lock:  # boto3 session creation is not thread-safe; the probe threads may share this
            if key not in self._clients:
                session = self._session or boto3.Session()
                client = session.client(  # type: ignore[call-overload]
                    name, region_name=region, config=config or boto_config(name)
                )
                if self._on_call is not None:
                    hook = self._on_call
                    client.meta.events.register(
                        "before-parameter-build.*.*",  # the API parameters, before serialisation
                        lambda model, params, **_: hook(model.service_model.service_name, model.name, params),
                    )
                self._clients[key] = client
            return self._clients[key]

    @property
    def ecs(self) -> ECSClient:
        return self._client("ecs")  # type: ignore[no-any-return]

    @property
    def dynamodb(self) -> DynamoDBClient:
        return self._client("dynamodb")  # type: ignore[no-any-return]

    @property
    def cloudwatch(self) -> CloudWatchClient:
        return self._client("cloudwatch")  # type: ignore[no-any-return]

    @property
    def sns(self) -> SNSClient:
        return self._client("sns")  # type: ignore[no-any-return]

    @property
    def ssm(self) -> SSMClient:
        return self._client("ssm")  # type: ignore[no-any-return]

    @property
    def sts(self) -> STSClient:
        return self._client("sts")  # type: ignore[no-any-return]

    def ecr(self, region: str) -> ECRClient:
        """ECR in the region an image lives in (a task definition may pull from another region's registry)."""
        return self._client("ecr", region, readiness_config())  # type: ignore[no-any-return]

    @property
    def iam(self) -> IAMClient:
        return self._client("iam", None, readiness_config())  # type: ignore[no-any-return]

    @property
    def secretsmanager(self) -> SecretsManagerClient:
        return self._client("secretsmanager")  # type: ignore[no-any-return]

    @property
    def events(self) -> EventBridgeClient:
        return self._client("events")  # type: ignore[no-any-return]

    @property
    def cloudformation(self) -> CloudFormationClient:
        return self._client("cloudformation")  # type: ignore[no-any-return]


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception type for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str):
            return code
    return type(exc).__name__
