"""Files of YAML a user writes (scenarios, site files): read with limits (size, UTF-8, plain
YAML only: no tags, anchors, aliases or deep nesting), composed to nodes that keep their
lines, and walked by a Checker whose every error names the file, line and field."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import BadInput


def read_yaml(path: Path, max_bytes: int, max_depth: int, what: str) -> yaml.Node:
    """The composed document of ``path`` (``what`` it should be, for messages); BadInput
    naming the file and line for anything else."""
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise BadInput(f"{path}: larger than {max_bytes // 1024} KiB: not {what} file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise BadInput(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x})") from None
    try:
        _plain_yaml(path, text, max_depth, what)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise BadInput(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise BadInput(f"{path}:1: the file is empty")
    return root


class Checker:
    """Walks a composed YAML document; every error names the file, line and field."""

    def __init__(self, path: Path, top: str) -> None:
        self.path = path
        self.top = top  # what the document is called in messages about its top level

    def fail(self, node: yaml.Node | None, where: str, msg: str) -> BadInput:
        line = node.start_mark.line + 1 if node is not None else 1
        return BadInput(f"{self.path}:{line}: {where}: {msg}")

    def mapping(self, node: yaml.Node, where: str, allowed: dict[str, bool]) -> dict[str, yaml.Node]:
        """A mapping with only ``allowed`` keys (True: required)."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "must be a mapping (key: value lines)")
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, where or self.top, "keys must be plain words, not lists or mappings")
            key = key_node.value
            if key not in allowed:
                raise self.fail(key_node, f"{where}.{key}" if where else key,
                                f"unknown field; allowed: {', '.join(allowed)}")
            if key in out:
                raise self.fail(key_node, f"{where}.{key}" if where else key, "given twice")
            out[key] = value
        missing = [k for k, req in allowed.items() if req and k not in out]
        if missing:
            raise self.fail(node, where or self.top, f"missing field {missing[0]!r}")
        return out

    def scalar(self, node: yaml.Node, where: str, kind: type):
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, where, f"must be a {kind.__name__}")
        value = yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value
        if kind is str:
            return str(value)
        if kind is bool and not isinstance(value, bool):
            raise self.fail(node, where, f"must be true or false, not {node.value!r}")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(node, where, f"must be a whole number, not {node.value!r}")
        return value

    def str_list(self, node: yaml.Node, where: str) -> list[str]:
        if isinstance(node, yaml.ScalarNode):
            return [self.scalar(node, where, str)]
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, where, "must be a string or a list of strings")
        return [self.scalar(item, f"{where}[{i}]", str) for i, item in enumerate(node.value)]


_OPENS = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
          yaml.FlowSequenceStartToken)
_CLOSES = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
_REFUSED = {yaml.TagToken: "YAML tags (`!name`, `!!type`) are not part of the format",
            yaml.AnchorToken: "anchors (`&name`) are not part of the format",
            yaml.AliasToken: "aliases (`*name`) are not part of the format"}


def _plain_yaml(path: Path, text: str, max_depth: int, what: str) -> None:
    """Plain YAML only, found with the scanner before anything is built: no tags, anchors or
    aliases, and no nesting deeper than ``max_depth`` (a file of 20,000 brackets would exhaust
    the parser's recursion)."""
    depth = 0
    for token in yaml.scan(text):
        refused = next((msg for kind, msg in _REFUSED.items() if isinstance(token, kind)), None)
        if refused:
            raise BadInput(f"{path}:{token.start_mark.line + 1}: {refused}")
        depth += isinstance(token, _OPENS) - isinstance(token, _CLOSES)
        if depth > max_depth:
            raise BadInput(f"{path}:{token.start_mark.line + 1}: nested deeper than {max_depth} levels: "
                           f"not {what}")
