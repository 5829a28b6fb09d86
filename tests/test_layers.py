"""The floors of docs/architecture.md, held by reading every module's imports.

A floor imports only the floors below it. The front ends (`cli/`, `web/`) reach the database only
through the engine and session factory (`monitor.store.db`) and ask every question of a service;
the renderers (`notify/`) and the format readers (`adapters/`) know no table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"

# floor -> the monitor packages and modules it must not import
FORBIDDEN = {
    "domain": (
        "store",
        "services",
        "notify",
        "adapters",
        "cli",
        "web",
        "daemon",
        "config",
        "clock",
    ),
    "store": ("services", "notify", "adapters", "cli", "web", "daemon"),
    "notify": ("store", "services", "adapters", "cli", "web", "daemon"),
    "services": ("adapters", "cli", "web", "daemon"),
    "adapters": ("cli", "web", "daemon"),
}
FRONT_ENDS = ("cli", "web")
SESSION_FACTORY = "monitor.store.db"


def _imports(path: Path) -> list[str]:
    """The absolute `monitor.` modules a file imports (a relative import stays in its floor)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.startswith("monitor.")]


def _modules(floor: str) -> list[Path]:
    return sorted((PACKAGE / floor).rglob("*.py"))


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_a_floor_imports_only_the_floors_below_it(floor: str) -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(floor)
        for name in _imports(path)
        if name.split(".")[1] in FORBIDDEN[floor]
    ]
    assert wrong == []


@pytest.mark.parametrize("floor", FRONT_ENDS)
def test_front_ends_reach_the_store_only_through_the_session_factory(floor: str) -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(floor)
        for name in _imports(path)
        if name.startswith("monitor.store") and not name.startswith(SESSION_FACTORY)
    ]
    assert wrong == []


def test_the_adapters_know_no_table() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules("adapters")
        for name in _imports(path)
        if name.startswith("monitor.store") and not name.startswith(SESSION_FACTORY)
    ]
    assert wrong == []
