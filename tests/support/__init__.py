"""Helpers the test tiers import: builders, the one `invoke`, the one simulated clock, the loopback servers and
the helpers of the moto-backed world. Fixtures stay in the conftest.py files; no test imports a conftest or
another test module (ruff's banned-api enforces it, see pyproject.toml)."""
