"""The house's rules, read from the code: which folder of regen/ may import which, the
procedure never loads Docker, and the library neither prints nor imports the front's tools."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REGEN = Path(__file__).resolve().parents[2] / "regen"
# a folder may import itself and the folders listed (an arrow of docs/architecture.md)
ALLOWED = {
    "core": set(),
    "ops": {"core"},
    "procedure": {"core", "ops"},
    "sites": {"core"},
    "ssh": {"core", "ops", "procedure", "sites"},
    "lab": {"core", "ops", "procedure", "sites", "ssh"},
    "scenarios": {"core", "ops", "procedure", "sites", "ssh", "lab"},
    "jobs": {"core", "ops", "procedure", "sites", "ssh", "lab", "scenarios"},
    "front": {"core", "ops", "procedure", "sites", "ssh", "lab", "scenarios", "jobs"},
}
FRONT = "front"  # what users type and run: the one folder that imports invoke (or pytest) and prints
FOLDERS = sorted(ALLOWED)


def modules() -> list[Path]:
    return sorted(p for p in REGEN.rglob("*.py"))


def folder_of(path: Path) -> str:
    rel = path.relative_to(REGEN).parts
    return rel[0] if len(rel) > 1 else ""


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a module of regen/."""
    tree = ast.parse(path.read_text())
    package = ["regen", *path.relative_to(REGEN).parts[:-1]]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
                targets = [name] if node.module else [f"{name}.{a.name}" for a in node.names]
            else:
                targets = [node.module or ""]
            out += [(node.lineno, t) for t in targets]
    return out


def test_every_module_lives_in_a_folder_of_the_layout():
    assert {folder_of(p) for p in modules()} == {"", *FOLDERS}
    assert [p.name for p in modules() if folder_of(p) == ""] == ["__init__.py"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_folder_imports_only_what_its_arrows_allow(folder):
    wrong = []
    for path in modules():
        if folder_of(path) != folder:
            continue
        for line, name in imported(path):
            parts = name.split(".")
            if parts[0] == "regen" and len(parts) > 1 and parts[1] != folder and parts[1] not in ALLOWED[folder]:
                wrong.append(f"{path.relative_to(REGEN)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_nothing_in_the_library_imports_the_front_or_prints():
    wrong = []
    for path in modules():
        if folder_of(path) == FRONT:
            continue
        for line, name in imported(path):
            if name.split(".")[0] in ("invoke", "pytest"):
                wrong.append(f"{path.relative_to(REGEN)}:{line} imports {name}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
                wrong.append(f"{path.relative_to(REGEN)}:{node.lineno} calls print()")
    assert not wrong, "\n".join(wrong)


def test_the_procedure_and_the_operators_commands_load_no_docker():
    code = ("import sys, regen.procedure.proven, regen.procedure.faults, regen.ops.postgres, regen.core.wait; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'testcontainers')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REGEN.parent, check=True)
    assert done.stdout.strip() == "[]"


MAX_LINES = 400  # a module does one job; one past this is split by job (docs/architecture.md)


def test_no_module_is_longer_than_the_houses_limit():
    long = [f"{p.relative_to(REGEN)}: {n} lines" for p in modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, "\n".join(long)


def _module_name(path: Path) -> str:
    parts = ["regen", *path.relative_to(REGEN).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_imports(path: Path, known: set[str]) -> set[str]:
    """The regen modules a module imports at its top (what loading it loads) or for its types
    (under ``if TYPE_CHECKING``: a circle of types is a circle too); a function's own import
    is not counted."""
    package = _module_name(path).split(".") if path.name == "__init__.py" else _module_name(path).split(".")[:-1]
    out = set()
    body = ast.parse(path.read_text()).body
    for node in [n for top in body for n in (top.body if isinstance(top, ast.If) and
                                             ast.unparse(top.test) == "TYPE_CHECKING" else [top])]:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module or ""
            out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return out & known


def test_no_module_imports_itself_back_through_others():
    paths = {_module_name(p): p for p in modules()}
    graph = {name: _top_imports(path, set(paths)) - {name} for name, path in paths.items()}
    circles = []

    def visit(name: str, trail: list[str]) -> None:
        for nxt in sorted(graph[name]):
            if nxt == trail[0]:
                circles.append(" -> ".join([*trail, nxt]))
            elif nxt not in trail and nxt > trail[0]:  # each circle once, from its smallest module
                visit(nxt, [*trail, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert not circles, "\n".join(circles)


STEP_ID = re.compile(r"(\d\.\d|3\.[swm]|[per]\.\d|[03])\Z")  # the seed's numbering, p.* e.* r.*, 0 and 3
# a string that reads as a step id and is not one
NOT_STEP_IDS = {("procedure/report.py", "0"), ("procedure/report.py", "3"),  # the timeline's colours, by part
                ("core/junit.py", "0"), ("front/cli/tool_tasks.py", "0"), ("sites/agents.py", "0")}


def test_a_step_id_is_written_once_in_ids_and_named_everywhere_else():
    found = [f"{p.relative_to(REGEN)}:{node.lineno}: {node.value!r}" for p in modules() if p.name != "ids.py"
             for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and STEP_ID.match(node.value)
             and (str(p.relative_to(REGEN)), node.value) not in NOT_STEP_IDS]
    assert not found, "step ids written as literals (name them with procedure.ids.StepId):\n" + "\n".join(found)
