"""The deployment gate: an ECS lifecycle hook that probes a blue/green, linear or canary deployment.

Flow: handlers/hook.py -> run.py (`execute_hook`) -> stages.py (pure stage and pass-count rules)
-> probes through http/prober.py.
Entry: run.py. May touch: core, runtime, http (the gate probes the same way a run does). Never another pipeline.
"""
