"""`make demo [SCENARIO=...]`: the incident rehearsed end to end on an embedded AWS, in well under a minute."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from demo.scenarios import SCENARIOS, TimelineEntry, format_report, run
from demo.scenarios.picture import draw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--scenario", default="incident", choices=SCENARIOS)
    parser.add_argument("--verbose", action="store_true", help="also print the functions' structured logs")
    parser.add_argument("--output", type=Path, default=Path("build/demo"), help="where the timeline picture goes")
    args = parser.parse_args(argv)
    from canary_rollback.core.observability import logger

    if not args.verbose:
        logger.setLevel("WARNING")
    started = time.perf_counter()
    print(f"canary-rollback demo: scenario '{args.scenario}' (embedded AWS: moto; loopback MLflow proxy + auth)")
    print(f"{'time (sim)':<10}  {'event':<44}  evidence")

    def show(entry: TimelineEntry) -> None:
        print(f"{entry.at:%H:%M:%S}    {entry.event:<44}  {entry.evidence}")

    result = run(args.scenario, on_entry=show)
    format_report(result)
    if result.chart is not None:
        png, svg = draw(result.chart, args.output, f"{args.scenario}-timeline")
        print(f"timeline picture: {png}  {svg}")
    print(f"(wall time {time.perf_counter() - started:.1f} s)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
