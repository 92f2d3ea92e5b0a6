"""Print what the reconcile tick costs (docs/watch.md, "What the tick costs"). Figures, not assertions.

A quiet tick (no rollback alarm in ALARM) is one RollbackFunction invocation that makes one DescribeAlarms call.
With `--measure N`, N quiet ticks run in this process through the real handler against a local moto server and
the median wall time is printed (a laptop's figure, not Lambda's: use it only as an order of magnitude).

Prices: us-east-1 list prices, with their sources in docs/watch.md; check them before relying on them.
Usage: .venv/bin/python scripts/tick_cost.py [--duration-ms 100] [--memory-mb 128] [--measure 50]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TICKS_PER_MONTH = 60 * 24 * 30  # rate(1 minute), a 30-day month
CLOUDWATCH_API_REQUEST = 0.01 / 1000  # CloudWatch pricing, "API requests" (DescribeAlarms among them)
CLOUDWATCH_FREE_REQUESTS = 1_000_000  # free tier: API requests a month (GetMetricData excluded)
LAMBDA_ARM_GB_SECOND = 0.0000133334  # AWS Lambda pricing, Arm, first 7.5 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_FREE_REQUESTS = 1_000_000
LAMBDA_FREE_GB_SECONDS = 400_000


def measure(count: int) -> float:
    """Median milliseconds of `count` quiet ticks through the real handler, moto in this process."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from canary_rollback.handlers import rollback as rollback_handler
    from canary_rollback.rollback.run import RollbackApplication
    from canary_rollback.runtime import build_runtime
    from demo.world.lambda_context import FakeLambdaContext
    from demo.world.local_aws import local_aws_environment
    from demo.world.stack import create_local_stack

    event = {"detail-type": "Scheduled Event", "source": "aws.events", "id": "tick", "detail": {}}
    with local_aws_environment():
        stack = create_local_stack("tick-cost")
        rollback_handler.application.set(
            RollbackApplication(build_runtime(stack.environment("RollbackFunction"), need_probes=False))
        )
        rollback_handler.handler(event, FakeLambdaContext("RollbackFunction"))  # the cold start is not a tick's cost
        times = []
        for _ in range(count):
            started = time.perf_counter()
            answer = rollback_handler.handler(event, FakeLambdaContext("RollbackFunction"))
            times.append((time.perf_counter() - started) * 1000)
            assert answer["action"] == "quiet"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=float, default=100, help="billed duration of one quiet tick")
    parser.add_argument("--memory-mb", type=int, default=128)
    parser.add_argument("--measure", type=int, default=0, metavar="N", help="time N quiet ticks against local moto")
    args = parser.parse_args()

    if args.measure:
        print(f"measured quiet tick       {measure(args.measure):.1f} ms median of {args.measure} (local moto)")
    gb_seconds = TICKS_PER_MONTH * args.duration_ms / 1000 * args.memory_mb / 1024
    describe = TICKS_PER_MONTH * CLOUDWATCH_API_REQUEST
    requests = TICKS_PER_MONTH * LAMBDA_REQUEST
    duration = gb_seconds * LAMBDA_ARM_GB_SECOND
    print(f"ticks a month             {TICKS_PER_MONTH:,} (rate(1 minute))")
    print(f"DescribeAlarms            {TICKS_PER_MONTH:,} requests  ${describe:.4f}")
    print(f"Lambda requests           {TICKS_PER_MONTH:,}  ${requests:.4f}")
    billed = f"{args.duration_ms:g} ms at {args.memory_mb} MB"
    print(f"Lambda duration           {gb_seconds:,.0f} GB-s ({billed})  ${duration:.4f}")
    print(f"quiet ticks, list prices  ${describe + requests + duration:.2f} a month")
    free = (
        TICKS_PER_MONTH <= CLOUDWATCH_FREE_REQUESTS
        and TICKS_PER_MONTH <= LAMBDA_FREE_REQUESTS
        and gb_seconds <= LAMBDA_FREE_GB_SECONDS
    )
    print(f"inside the free tiers     {'yes: $0 while the account stays within them' if free else 'no'}")


if __name__ == "__main__":
    main()
