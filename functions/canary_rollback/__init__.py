"""canary-rollback: probe an ECS service's routes, roll it back to its last known-good task definition."""

__version__ = "0.1.0"
