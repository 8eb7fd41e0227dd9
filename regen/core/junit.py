"""JUnit XML for CI (`--junit PATH`): the Ant/Surefire format that Jenkins, GitLab and GitHub's
test reporters read, written with the standard library. Its subset is described by
``docs/schemas/junit.xsd``; a unit test validates what is written against it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .files import write_private


@dataclass(frozen=True)
class Case:
    """One test case: passed, failed (``failure``: the evidence) or not judged (``error``)."""

    name: str
    classname: str
    seconds: float = 0.0
    failure: str = ""
    error: str = ""
    message: str = ""  # one line: what failed
    output: str = ""  # what it observed, shown beside it


@dataclass(frozen=True)
class Suite:
    name: str
    timestamp: str  # ISO 8601
    cases: list[Case]
    seconds: float = 0.0
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return sum(1 for c in self.cases if c.failure)

    @property
    def errors(self) -> int:
        return sum(1 for c in self.cases if c.error and not c.failure)


def _s(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}"


def to_xml(suites: list[Suite], name: str = "regenlab") -> bytes:
    root = ET.Element("testsuites", name=name, tests=str(sum(len(s.cases) for s in suites)),
                      failures=str(sum(s.failures for s in suites)), errors=str(sum(s.errors for s in suites)),
                      time=_s(sum(s.seconds for s in suites)))
    for suite in suites:
        node = ET.SubElement(root, "testsuite", name=suite.name, tests=str(len(suite.cases)),
                             failures=str(suite.failures), errors=str(suite.errors), skipped="0",
                             time=_s(suite.seconds), timestamp=suite.timestamp)
        if suite.properties:
            props = ET.SubElement(node, "properties")
            for key, value in suite.properties.items():
                ET.SubElement(props, "property", name=key, value=value)
        for case in suite.cases:
            item = ET.SubElement(node, "testcase", name=case.name, classname=case.classname, time=_s(case.seconds))
            if case.failure or case.error:
                kind = "failure" if case.failure else "error"
                problem = ET.SubElement(item, kind, message=case.message or kind, type=kind)
                problem.text = case.failure or case.error
            if case.output:
                ET.SubElement(item, "system-out").text = case.output
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write(path: Path, suites: list[Suite]) -> Path:
    """The XML written whole (owner-only, like every report: it quotes fingerprints and errors)."""
    return write_private(path, to_xml(suites))
