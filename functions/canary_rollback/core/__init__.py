"""The shared core: values and rules that every pipeline uses.

Flow: none of its own; probe, watch, rollback and gate build on these types (docs/design.md).
May touch: the standard library and powertools' logging/metrics only. Imports nothing above it: no
`aws/`, no pipeline, no boto3 (enforced by the import-linter contracts in pyproject.toml).
"""
