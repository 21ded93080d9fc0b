"""docs/ARCHITECTURE.md says which way the imports go; this reads every module's imports and
holds the code to it."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = [
    "config",
    "accounts",
    "pulses",
    "incidents",
    "maintenance",
    "alerts",
    "notices",
    "oncall",
    "escalation",
    "checklists",
    "changes",
    "vendors",
    "integrations",
    "heartbeats",
    "chat",
    "ops",
]
# Composition roots: they wire every app together, and nothing imports them.
ROOTS = {"config.urls", "config.wsgi", "config.asgi", "config.settings"}
ADAPTERS = {"integrations", "heartbeats", "chat", "ops"}
DOORS = ("admin", "api", "views", "serializers", "tasks")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for app in APPS
    for path in (ROOT / app).rglob("*.py")
    if "migrations" not in path.parts
}


def _known(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{alias.name}" for alias in node.names]


def _imports(module: str) -> tuple[set[str], list[tuple[str, int]]]:
    """(modules imported at run time at the top, project modules imported inside functions)."""
    top, inside = set(), []

    def visit(nodes, in_function: bool):
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in filter(None, map(_known, _targets(module, node))):
                    if target != module:
                        (inside.append((target, node.lineno)) if in_function else top.add(target))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue  # annotations only
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(getattr(node, "body", []), True)
            else:
                for field in ("body", "orelse", "handlers", "finalbody"):
                    children = getattr(node, field, [])
                    if isinstance(children, list):
                        visit(children, in_function)

    visit(ast.parse(MODULES[module].read_text()).body, False)
    return top, inside


GRAPH = {module: _imports(module) for module in MODULES}


def app_of(module: str) -> str:
    return module.split(".")[0]


def test_no_cycle_between_modules():
    state: dict[str, int] = {}
    cycles = []

    def walk(module, path):
        state[module] = 1
        for target in sorted(GRAPH[module][0]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            walk(module, [module])
    assert cycles == []


def test_no_project_import_inside_a_function():
    inside = {module: found for module, (_top, found) in GRAPH.items() if found}
    assert inside == {}


def test_the_base_modules_of_config_import_no_app():
    leaking = {
        module: sorted(t for t in top if app_of(t) != "config")
        for module, (top, _inside) in GRAPH.items()
        if app_of(module) == "config" and module not in ROOTS
    }
    assert {module: found for module, found in leaking.items() if found} == {}


def test_services_never_import_tasks_or_doors():
    wrong = {
        module: sorted(t for t in top if t.rpartition(".")[2] in DOORS)
        for module, (top, _inside) in GRAPH.items()
        if ".services" in f".{module.partition('.')[2]}"
    }
    assert {module: found for module, found in wrong.items() if found} == {}


def test_the_domain_apps_never_import_an_adapter():
    wrong = {
        module: sorted(t for t in top if app_of(t) in ADAPTERS)
        for module, (top, _inside) in GRAPH.items()
        if app_of(module) not in ADAPTERS and module not in ROOTS
    }
    assert {module: found for module, found in wrong.items() if found} == {}


def documented_dependencies() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    table = text.split("| app | imports |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.strip().splitlines()[1:]:
        app, imports = (cell.strip() for cell in line.strip("|").split("|"))
        rows[app.strip("`")] = set(re.findall(r"`(\w+)`", imports))
    return rows


def test_the_architecture_page_shows_what_the_imports_say():
    actual: dict[str, set[str]] = defaultdict(set)
    for module, (top, _inside) in GRAPH.items():
        if module in ROOTS:
            continue
        for target in top:
            if app_of(target) != app_of(module):
                actual[app_of(module)].add(app_of(target))
    assert documented_dependencies() == {app: actual[app] for app in APPS}


@pytest.mark.parametrize("module", ["checklists.models", "checklists.selectors"])
def test_what_the_close_rule_reads_never_imports_incidents(module):
    assert not [t for t in GRAPH[module][0] if app_of(t) == "incidents"]


@pytest.mark.parametrize("module", ["changes.models", "changes.selectors", "changes.serializers"])
def test_what_the_incident_reads_of_changes_never_imports_incidents(module):
    """The incident's API, admin, chat status and postmortem read "what changed?" from these;
    changes' services import incidents, so these must not."""
    assert not [t for t in GRAPH[module][0] if app_of(t) == "incidents"]
