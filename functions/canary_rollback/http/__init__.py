"""The HTTP edge: the one place that sends a probe's request (requests, with pooled adapters).

Used by the probe run, the deployment watch's rounds (through the probe run) and the deployment gate.
May touch: core only. Like aws/, it is an edge: the pipelines above it hold the rules.
"""
