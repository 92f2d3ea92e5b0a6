"""Print the CloudFormation template the SAM transform makes of a SAM template (run with .venv-sam's python).

The AWS SAM translator is what CloudFormation runs for `Transform: AWS::Serverless-2016-10-31`; rendering it
locally shows what really deploys: the generated roles and their managed policies, Globals applied to each
function. Local CodeUri paths are replaced by a placeholder S3 location, as `sam validate` does.

    .venv-sam/bin/python scripts/sam_translate.py template.yaml > rendered.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER_CODE = "s3://bucket/code.zip"
PLACEHOLDER_TEMPLATE = "https://s3.amazonaws.com/bucket/template.yaml"


def _placeholders(template: dict[str, Any]) -> None:
    globals_function = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_function.get("CodeUri"), str):
        globals_function["CodeUri"] = PLACEHOLDER_CODE
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = PLACEHOLDER_CODE
        if resource.get("Type") == "AWS::Serverless::Application" and isinstance(props.get("Location"), str):
            props["Location"] = PLACEHOLDER_TEMPLATE


def main(path: str) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator needs a region for ARNs
    template = yaml_parse(Path(path).read_text())
    _placeholders(template)
    translated = Translator(managed_policy_map=None, sam_parser=Parser()).translate(
        template, parameter_values={}, get_managed_policy_map=dict
    )
    json.dump(translated, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
