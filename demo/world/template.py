"""Read template.yaml (CloudFormation short-form tags included) and resolve the few intrinsics the local
world needs, so the demo and the tests create the table, topic and alarms exactly as the template declares."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """A fresh copy each call (callers may edit theirs); the file is parsed once per process (~80 ms a parse)."""
    return copy.deepcopy(parse_template(path.resolve(), path.stat().st_mtime_ns))


@functools.cache
def parse_template(path: Path, _modified: int) -> dict[str, Any]:
    """The parse itself, cached by path and modification time; use `load_template` (this one is shared)."""
    with path.open() as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506  # SafeLoader subclass
    assert isinstance(document, dict)
    return document


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


_LIST_PARAMETER_TYPES = ("CommaDelimitedList", "List<")


class Resolver:
    """Resolves Ref, Fn::Sub, Fn::GetAtt, Fn::Join and Fn::If against known values; anything else is an error.

    A list parameter (CommaDelimitedList) given as text resolves to its items, as CloudFormation splits it:
    the empty default is `[""]`.
    """

    def __init__(self, template: Mapping[str, Any], refs: Mapping[str, str]) -> None:
        self._template = template
        self.refs = dict(refs)

    def condition(self, name: str) -> bool:
        spec = self._template["Conditions"][name]
        return bool(self._eval_condition(spec))

    def _eval_condition(self, spec: Any) -> Any:
        if isinstance(spec, dict) and len(spec) == 1:
            ((key, value),) = spec.items()
            if key == "Fn::Equals":
                return self.resolve(value[0]) == self.resolve(value[1])
            if key == "Fn::Not":
                return not self._eval_condition(value[0])
            if key == "Condition":
                return self.condition(value)
        return self.resolve(spec)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return _NO_VALUE
                return self._ref(arg)
            if key == "Fn::GetAtt":
                return self.refs[f"{arg[0]}.{arg[1]}"]
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str({**self.refs, **extra}[m.group(1)]), text)
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Join":
                return str(arg[0]).join(str(item) for item in self.resolve(arg[1]))
            if key.startswith("Fn::"):
                raise ValueError(f"local resolver does not support {key}")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        value = self.refs[name]
        parameter_type = str(self._template.get("Parameters", {}).get(name, {}).get("Type", ""))
        if isinstance(value, str) and parameter_type.startswith(_LIST_PARAMETER_TYPES):
            return value.split(",")
        return value


_NO_VALUE = object()
