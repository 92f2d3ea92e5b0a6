"""The rollback: an alarm in ALARM -> the last known-good revision (docs/design.md, decision table).

Flow: handlers/rollback.py -> run.py (idempotent application) -> alarm_events.py (event -> AlarmSignal)
-> responder.py (lock, decide, restore plan, UpdateService, report) -> decision.py (the table, pure)
-> restore.py (pinned copy or the known-good as it is, pure). A scheduled event is the reconcile tick (tick.py):
both rollback alarms read at once, each one in ALARM decided again through the same responder.
Entry: run.py. May touch: core, runtime. Never the probe pipeline.
"""
