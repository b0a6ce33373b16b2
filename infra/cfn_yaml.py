"""Reads template.yaml: a SafeLoader that turns CloudFormation's short-form tags (!Ref, !Sub,
!GetAtt, ...) into their long form. One loader for the gateway, the AWS bootstrap, the event
source and the template tests, so they all read the template the same way."""

from __future__ import annotations

from pathlib import Path

import yaml


class TemplateLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _cfn_tag(loader: TemplateLoader, tag_suffix: str, node: yaml.Node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


TemplateLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: str | Path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=TemplateLoader)  # noqa: S506 (SafeLoader subclass)
