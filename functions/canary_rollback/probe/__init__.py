"""The scheduled probe run: probe every route, publish metrics, track the known-good (docs/design.md).

Flow: handlers/probe.py -> run.py (`execute_probe_run`) -> http/prober.py -> tracking (pure streak rules)
-> snapshots (what a promotion records) -> one conditional state write.
Entry: run.py. Everything else here is data in, data out.
May touch: core, runtime (its AWS gateways). Never another pipeline.
"""
