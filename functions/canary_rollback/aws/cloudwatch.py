"""The `cloudwatch` metrics sink: PutMetricData, for running outside Lambda (a laptop, the demo)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.errors import ReportingError
from canary_rollback.core.metrics import MetricDatum

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

# PutMetricData accepts up to 1000 metric data per request (and 1 MB); a probe run is far below either.
MAX_DATA_PER_REQUEST = 1000


class CloudWatchSink:
    def __init__(self, client: CloudWatchClient, namespace: str) -> None:
        self._client = client
        self._namespace = namespace

    def publish(self, data: Sequence[MetricDatum]) -> None:
        entries: list[Any] = [
            {
                "MetricName": d.name,
                "Dimensions": [{"Name": name, "Value": value} for name, value in d.dimensions],
                "Timestamp": d.timestamp,
                "Value": float(d.value),
                "Unit": d.unit,
                "StorageResolution": 1 if d.high_resolution else 60,
            }
            for d in data
        ]
        for start in range(0, len(entries), MAX_DATA_PER_REQUEST):
            try:
                self._client.put_metric_data(
                    Namespace=self._namespace, MetricData=entries[start : start + MAX_DATA_PER_REQUEST]
                )
            except (ClientError, BotoCoreError) as exc:
                raise ReportingError(f"PutMetricData to {self._namespace} failed: {error_code(exc)}: {exc}") from exc
