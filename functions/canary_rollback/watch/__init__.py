"""The deployment watch: probe closely while ECS deploys (docs/design.md, "Deployment watch").

Flow: handlers/probe.py (an ECS deployment event) -> run.py (`watch_deployment`) -> lease.py (pure lease and
round-schedule rules) -> probe rounds through probe/run.py.
Entry: run.py. May touch: core, runtime, probe (a round is a probe run).
"""
