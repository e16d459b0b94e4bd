"""The import graph says the architecture: imports run one way, from entry points to the ground.

Every module of ``restore`` sits on a floor; a module may import its own room (package) and the
floors below, never a floor above nor a neighbouring room of its own floor. The imports are read
from the source (``ast``), including imports inside functions, so a late import cannot hide an
upward edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from restore.utils.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "restore"

# floor per module prefix (the longest prefix wins); 0 is the ground floor
FLOORS = {
    "restore": 0,  # the package root: version only
    "restore.imaging": 1,  # pixels: on the errors it raises (DataError)
    "restore.utils.errors": 0,
    "restore.utils.config": 1,
    "restore.utils.tables": 1,  # text and Markdown tables (test report, pipeline, report)
    "restore.utils.timing": 1,  # the wall clock, Stopwatch, median of runs
    "restore.utils.rundir": 1,  # one run, one directory (the lock)
    "restore.metrics": 2,
    "restore.degradations": 2,
    "restore.losses": 2,
    "restore.archs": 3,
    "restore.data": 4,
    "restore.tasks": 5,
    "restore.utils.build": 6,
    "restore.utils.cli": 6,
    "restore.utils.loggers": 6,
    "restore.callbacks": 6,
    "restore.dip": 7,
    "restore.inference": 7,
    "restore.reporting": 8,
    # entry points
    "restore.dip.run": 9,
    "restore.dip.__main__": 10,  # the `python -m restore.dip` shim over run
    "restore.train": 9,
    "restore.eval": 9,
    "restore.predict": 9,
    "restore.export": 9,
    "restore.pipeline": 9,
    "restore.report": 9,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def place(module: str) -> tuple[int, str]:
    """(floor, room) of a module: the floor of its longest listed prefix, and that prefix."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in FLOORS:
            return FLOORS[prefix], prefix
    raise KeyError(module)


def imports(path: Path) -> set[str]:
    """The ``restore`` modules ``path`` imports (``from a import b`` counts ``a.b`` if a module)."""
    found = set()
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                is_module = (PROJECT_ROOT / Path(*full.split("."))).with_suffix(".py").is_file()
                found.add(full if is_module else base)
    return {m for m in found if m == "restore" or m.startswith("restore.")}


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_floor():
    unplaced = []
    for path in MODULES:
        try:
            place(module_name(path))
        except KeyError:
            unplaced.append(module_name(path))
    assert not unplaced, f"add these to FLOORS: {unplaced}"


def violations(me: str, targets: set[str]) -> list[str]:
    """The imports of module ``me`` that point to a higher floor or a neighbouring room."""
    floor, room = place(me)
    wrong = []
    for target in sorted(targets):
        t_floor, t_room = place(target)
        same_room = t_room == room or t_room.startswith(room + ".") or room.startswith(t_room)
        if t_floor > floor or (t_floor == floor and not same_room):
            wrong.append(f"{target} (floor {t_floor})")
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down(path):
    me = module_name(path)
    wrong = violations(me, imports(path))
    assert not wrong, f"{me} (floor {place(me)[0]}) imports upward or sideways: {wrong}"


def test_the_check_sees_upward_and_sideways_imports():
    assert violations("restore.imaging", {"restore.tasks"}) == ["restore.tasks (floor 5)"]
    assert violations("restore.metrics.sr", {"restore.degradations.resize"})  # sideways
    assert violations("restore.utils.build", {"restore.callbacks"})  # same floor, other room
    assert not violations("restore.tasks.sr", {"restore.tasks.base", "restore.imaging"})
    assert not violations("restore.train", {"restore.utils.build", "restore.data"})
