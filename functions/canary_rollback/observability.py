"""One powertools Logger and Tracer for the package (service name from POWERTOOLS_SERVICE_NAME)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Tracer

SERVICE_NAME_DEFAULT = "canary-rollback"
logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME_DEFAULT)
# Tracer is a no-op outside Lambda and when POWERTOOLS_TRACE_DISABLED=true; the template switches it.
tracer = Tracer()
