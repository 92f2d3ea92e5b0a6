"""The demo's local stand-in for CloudWatch alarm evaluation, on high-resolution periods too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from demo.world.alarm_evaluator import evaluate_alarm, period_end

T = datetime(2026, 11, 26, 19, 9, 34, 500000, tzinfo=UTC)


class StoredDatapoints:
    """Answers GetMetricData from a list of (timestamp, value) the way CloudWatch buckets them."""

    def __init__(self, points: list[tuple[datetime, float]]) -> None:
        self.points = points
        self.asked: dict[str, Any] = {}

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        (query,) = kwargs["MetricDataQueries"]
        period = query["MetricStat"]["Period"]
        self.asked = {**kwargs, "Period": period}
        start, end = kwargs["StartTime"], kwargs["EndTime"]
        buckets: dict[datetime, float] = {}
        for at, value in self.points:
            if start <= at < end:
                bucket = start + timedelta(seconds=int((at - start).total_seconds()) // period * period)
                buckets[bucket] = max(buckets.get(bucket, value), value)
        return {"MetricDataResults": [{"Id": "m1", "Timestamps": list(buckets), "Values": list(buckets.values())}]}


def alarm(period: int, n: int, m: int) -> dict[str, Any]:
    return {
        "AlarmName": "a", "Namespace": "N", "MetricName": "ProbeFailures", "Dimensions": [],
        "Statistic": "Maximum", "Period": period, "EvaluationPeriods": n, "DatapointsToAlarm": m,
        "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("period", "end"),
    [(10, "19:09:30"), (20, "19:09:20"), (30, "19:09:30"), (60, "19:09:00"), (300, "19:09:00")],
)
def test_periods_end_on_their_own_grid(period: int, end: str) -> None:
    assert period_end(T, period).strftime("%H:%M:%S") == end


@pytest.mark.parametrize("period", [10, 20, 30])
def test_high_resolution_periods_are_evaluated_per_period(period: int) -> None:
    # Given failing rounds 10, 20 and 40 s ago (in two periods of any size), and nothing before
    end = period_end(T, period)
    rounds = [(end - timedelta(seconds=s), 1.0) for s in (10, 20, 40)]
    cloudwatch = StoredDatapoints(rounds)

    # When an M-of-N alarm over one minute evaluates
    n = 60 // period
    evaluation = evaluate_alarm(alarm(period, n, 2), cloudwatch, T)

    # Then it asked for exactly that minute in its own period, and the failing periods breach
    assert cloudwatch.asked["Period"] == period
    assert cloudwatch.asked["EndTime"] - cloudwatch.asked["StartTime"] == timedelta(seconds=60)
    assert len(evaluation.values) == n
    assert evaluation.state == "ALARM"


def test_three_of_six_ten_second_periods() -> None:
    end = period_end(T, 10)
    two = StoredDatapoints([(end - timedelta(seconds=10), 1.0), (end - timedelta(seconds=20), 1.0)])
    assert evaluate_alarm(alarm(10, 6, 3), two, T).state == "OK"
    three = StoredDatapoints([(end - timedelta(seconds=s), 1.0) for s in (10, 20, 50)])
    evaluation = evaluate_alarm(alarm(10, 6, 3), three, T)
    assert evaluation.state == "ALARM"
    assert evaluation.values == (None, 1.0, None, None, 1.0, 1.0)


def test_one_datapoint_a_minute_never_fires_three_of_six() -> None:
    # Between watches only the scheduled run publishes: one datapoint a minute
    end = period_end(T, 10)
    scheduled = StoredDatapoints([(end - timedelta(seconds=60 * k + 5), 1.0) for k in range(5)])
    assert evaluate_alarm(alarm(10, 6, 3), scheduled, T).state == "OK"
