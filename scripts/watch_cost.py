"""Print what a deployment watch costs (README, "What the watch costs"). Figures, not assertions.

Prices: us-east-1 list prices as quoted in the README, with their sources; check them before relying on them.
"""

from __future__ import annotations

import argparse

LAMBDA_ARM_GB_SECOND = 0.0000133334  # AWS Lambda pricing, Arm, first 7.5 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1_000_000
HIGH_RESOLUTION_ALARM_MONTH = 0.30  # CloudWatch pricing, high-resolution alarm metric (to be checked)
SYNTHETICS_RUN = 0.0012  # CloudWatch Synthetics, per canary run (to be checked)
LAMBDA_FREE_GB_SECONDS = 400_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=float, default=300, help="seconds a watch runs (WATCH_SECONDS)")
    parser.add_argument("--memory-mb", type=int, default=128)
    parser.add_argument("--deploys-per-month", type=int, default=30)
    parser.add_argument("--invocations-per-deploy", type=int, default=3, help="the watcher plus extending events")
    args = parser.parse_args()

    gb_seconds = args.window * args.memory_mb / 1024
    per_deploy = gb_seconds * LAMBDA_ARM_GB_SECOND + args.invocations_per_deploy * LAMBDA_REQUEST
    monthly_gb_seconds = gb_seconds * args.deploys_per_month
    monthly = per_deploy * args.deploys_per_month
    synthetics = 60 * 24 * 30 * SYNTHETICS_RUN
    print(f"watch window              {args.window:g} s at {args.memory_mb} MB, arm64")
    print(f"per deployment            {gb_seconds:g} GB-s  ${per_deploy:.6f}")
    label = f"per month ({args.deploys_per_month} deploys)"
    print(f"{label:<26}{monthly_gb_seconds:g} GB-s  ${monthly:.4f} "
          f"(inside the {LAMBDA_FREE_GB_SECONDS:,} GB-s free tier: $0)")  # fmt: skip
    print(f"FastRollbackAlarm         ${HIGH_RESOLUTION_ALARM_MONTH:.2f} a month (high-resolution alarm)")
    print(f"Synthetics, 1 run/minute  {60 * 24 * 30:,} runs  ${synthetics:.2f} a month")


if __name__ == "__main__":
    main()
