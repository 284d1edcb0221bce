"""Every module of the package imports on its own, first, and no two modules import each other.

An import cycle works or breaks depending on which module of it is imported first, so a test suite that
happens to import them in a lucky order never notices it. Two checks:

- each module is imported first in a fresh copy of the package (a subprocess in which third-party
  libraries stay loaded but every ``reverie`` module is dropped from ``sys.modules`` before each import);
- the static import graph (grimp, the library behind import-linter, which also sees imports inside
  functions) has no cycle: a function-level import only hides a cycle until someone moves it.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PACKAGE_DIR = Path(importlib.util.find_spec("reverie").submodule_search_locations[0])


def module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


# Run in one subprocess: importing torch takes seconds, a fresh interpreter per module would take minutes.
_FRESH_IMPORTS = """
import importlib, json, sys, traceback
import gymnasium, numba, numpy, torch  # third-party: loaded once, they cannot hide an order bug in reverie
results = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "reverie" or m.startswith("reverie.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
        results[name] = None
    except Exception as error:
        cause = error  # an optional extra that is not installed (mujoco) is a skip, not a failure
        while cause is not None and not isinstance(cause, ModuleNotFoundError):
            cause = cause.__cause__ or cause.__context__
        missing = getattr(cause, "name", None) or "reverie"
        optional = missing.split(".")[0] != "reverie"
        results[name] = {"skip" if optional else "error": traceback.format_exc(limit=-3)}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def fresh_imports() -> dict:
    names = module_names()
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _FRESH_IMPORTS, json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_module_list_covers_the_package():
    names = module_names()
    assert "reverie" in names and "reverie.planners.shooting.icem" in names and "reverie.cli" in names
    assert len(names) == len(set(names)) > 50


@pytest.mark.parametrize("name", module_names())
def test_every_module_imports_first_in_a_fresh_package(fresh_imports, name):
    result = fresh_imports[name]
    if result is not None and "skip" in result:
        pytest.skip(f"needs an optional extra: {result['skip'].splitlines()[-1]}")
    assert result is None, result["error"]


def import_cycles(graph) -> list[list[str]]:
    """The strongly connected components (more than one module) of ``graph``'s direct imports."""
    modules = sorted(graph.modules)
    reach = {}
    for start in modules:
        seen, todo = set(), [start]
        while todo:
            for imported in graph.find_modules_directly_imported_by(todo.pop()):
                if imported not in seen:
                    seen.add(imported)
                    todo.append(imported)
        reach[start] = seen
    cycles = {frozenset([m, *(n for n in reach[m] if m in reach[n])]) for m in modules}
    return sorted(sorted(c) for c in cycles if len(c) > 1)


def test_import_cycles_finds_a_two_module_cycle():
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(graph) == [["pkg.a", "pkg.b"]]


def test_no_module_is_part_of_an_import_cycle():
    assert import_cycles(grimp.build_graph("reverie")) == []
