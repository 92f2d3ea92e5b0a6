"""Everything a handler needs, built once per container (at the first invocation) and injectable in tests.

Building it validates the configuration, so a broken config fails the first invocation with one message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

import requests

from canary_rollback.aws.alarms import AlarmReader
from canary_rollback.aws.clients import AwsClients
from canary_rollback.aws.cloudwatch import CloudWatchSink
from canary_rollback.aws.ecr import EcrGateway
from canary_rollback.aws.ecs import EcsGateway
from canary_rollback.aws.events import DecisionEvents
from canary_rollback.aws.iam import IamGateway
from canary_rollback.aws.notifier import SnsNotifier
from canary_rollback.aws.parameters import ParameterSource
from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.config import Settings, load_settings
from canary_rollback.core.metrics import EmfSink, MetricsSink
from canary_rollback.core.probe_spec import ProbeSpec
from canary_rollback.http.prober import build_session

Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    clients: AwsClients
    clock: Clock = utc_now
    # The deployment watch's timer: real time in Lambda; tests and the demo drive it from a simulated clock.
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _session: requests.Session | None = field(default=None, repr=False)
    _parameters: ParameterSource | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def parameters(self) -> ParameterSource:
        """Created on first use: a run whose probes carry no secret never builds SSM/Secrets clients."""
        with self._lock:
            if self._parameters is None:
                self._parameters = ParameterSource(self.clients.ssm, self.clients.secretsmanager)
            return self._parameters

    def resolve_secret(self, reference: str) -> str:
        return self.parameters.secret(reference)

    def probe_specs(self) -> tuple[ProbeSpec, ...]:
        if self.settings.probes is not None:
            return self.settings.probes
        assert self.settings.probes_parameter is not None  # load_settings guarantees one of the two
        return self.parameters.probes(self.settings.probes_parameter)

    def http_session(self, pool_size: int) -> requests.Session:
        if self._session is None:
            self._session = build_session(pool_size)
        return self._session

    @property
    def metrics_sink(self) -> MetricsSink:
        if self.settings.metrics_sink_kind == "cloudwatch":
            return CloudWatchSink(self.clients.cloudwatch, self.settings.namespace)
        return EmfSink(self.settings.namespace, self.settings.powertools_service)

    @property
    def alarms(self) -> AlarmReader:
        return AlarmReader(self.clients.cloudwatch)

    @property
    def ecs(self) -> EcsGateway:
        return EcsGateway(self.clients.ecs)

    @property
    def ecr(self) -> EcrGateway:
        return EcrGateway(self.clients.ecr)

    @property
    def iam(self) -> IamGateway:
        return IamGateway(self.clients.iam)

    @property
    def store(self) -> StateStore | None:
        if self.settings.state_table is None:
            return None
        return StateStore(self.clients.dynamodb, self.settings.state_table)

    @property
    def notifier(self) -> SnsNotifier:
        topic = self.settings.notify_topic_arn
        return SnsNotifier(self.clients.sns if topic else None, topic)

    @property
    def decision_events(self) -> DecisionEvents:
        bus = self.settings.decision_event_bus
        return DecisionEvents(self.clients.events if bus else None, bus)


def build_runtime(
    env: Mapping[str, str] | None = None,
    *,
    need_probes: bool = True,
    clients: AwsClients | None = None,
    clock: Clock = utc_now,
) -> Runtime:
    settings = load_settings(os.environ if env is None else env, need_probes=need_probes)
    return Runtime(settings=settings, clients=clients or AwsClients(), clock=clock)


class Lazy(Generic[T]):
    """A handler's per-container object, built at the first invocation (so a broken configuration fails that
    invocation with one message, not the import) and replaceable in tests and the demo with `set`."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def set(self, value: T | None) -> None:
        with self._lock:
            self._value = value
