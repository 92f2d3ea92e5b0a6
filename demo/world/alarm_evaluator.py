"""LOCAL STAND-IN for CloudWatch alarm evaluation (moto stores alarms but never evaluates them).

Follows CloudWatch's documented semantics for a single-metric alarm: look at the last EvaluationPeriods
periods ending at `now` (periods of 10, 20 or 30 s for a high-resolution alarm, on metrics stored at
StorageResolution 1; multiples of a minute otherwise); a period with a datapoint is breaching or not by
ComparisonOperator/Threshold on the alarm's Statistic; a period with no datapoint follows TreatMissingData
(missing/ignore: not counted, breaching: counts as breaching, notBreaching: counts as good). ALARM when at
least DatapointsToAlarm periods breach; OK when enough periods are known and fewer breach; INSUFFICIENT_DATA
when nothing is known.
It is deliberately small: no anomaly detection, no metric math, no extended statistics.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    breaching: int
    evaluated: int
    values: tuple[float | None, ...]


def evaluate_alarm(alarm: dict[str, Any], cloudwatch: Any, now: datetime) -> Evaluation:
    """`alarm` as DescribeAlarms returns it; datapoints read back from (moto's) CloudWatch."""
    period = int(alarm["Period"])
    periods = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    statistic = alarm["Statistic"]
    end = period_end(now, period)
    start = end - timedelta(seconds=period * periods)
    # GetMetricData, not GetMetricStatistics: like an alarm, it reads exactly the metric with this dimension set
    # (moto's GetMetricStatistics also returns datapoints of every metric whose dimensions include these).
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Namespace": alarm["Namespace"],
                        "MetricName": alarm["MetricName"],
                        "Dimensions": alarm.get("Dimensions", []),
                    },
                    "Period": period,
                    "Stat": statistic,
                },
            }
        ],
        StartTime=start,
        EndTime=end,
    )
    by_bucket: dict[int, float] = {}
    for result in response["MetricDataResults"]:
        for stamp, value in zip(result["Timestamps"], result["Values"], strict=True):
            bucket = int((stamp - start).total_seconds() // period)
            by_bucket[bucket] = float(value)
    values = tuple(by_bucket.get(i) for i in range(periods))

    compare = _COMPARE[alarm["ComparisonOperator"]]
    threshold = float(alarm["Threshold"])
    missing = alarm.get("TreatMissingData", "missing")
    breaching = evaluated = 0
    for value in values:
        if value is None:
            if missing == "breaching":
                breaching += 1
                evaluated += 1
            elif missing == "notBreaching":
                evaluated += 1
            continue
        evaluated += 1
        if compare(value, threshold):
            breaching += 1

    shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
    if breaching >= needed:
        return Evaluation(
            "ALARM",
            f"Threshold Crossed: {breaching} of the last {periods} datapoints [{shown}] were "
            f"{alarm['ComparisonOperator']} {threshold:g} (minimum {needed} datapoints for OK -> ALARM)",
            breaching,
            evaluated,
            values,
        )
    if evaluated == 0:
        return Evaluation("INSUFFICIENT_DATA", f"no datapoints [{shown}]", 0, 0, values)
    return Evaluation("OK", f"{breaching} of {periods} datapoints [{shown}] breaching", breaching, evaluated, values)


def period_end(now: datetime, period: int) -> datetime:
    """The end of the last whole period. High-resolution alarms (10, 20, 30 s) evaluate on their own period's
    grid; CloudWatch evaluates the others once a minute, on the minute."""
    grid = period if period < 60 else 60
    whole = now.replace(microsecond=0)
    return whole - timedelta(seconds=whole.second % grid)


def state_change_event(
    alarm: dict[str, Any], evaluation: Evaluation, previous_state: str, now: datetime, region: str, account: str
) -> dict[str, Any]:
    """The EventBridge "CloudWatch Alarm State Change" event CloudWatch would emit for this transition."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [alarm["AlarmArn"]],
        "detail": {
            "alarmName": alarm["AlarmName"],
            "state": {
                "value": evaluation.state,
                "reason": evaluation.reason,
                "reasonData": json.dumps({"version": "1.0", "evaluatedDatapoints": len(evaluation.values)}),
                "timestamp": stamp,
            },
            "previousState": {"value": previous_state, "reason": "", "timestamp": stamp},
            "configuration": {
                "description": alarm.get("AlarmDescription", ""),
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": alarm["Namespace"],
                                "name": alarm["MetricName"],
                                "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
                            },
                            "period": alarm["Period"],
                            "stat": alarm["Statistic"],
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }
