"""The import graph of the package: no stage imports another stage, no import cycle, and the library layers do not
reach up into the layers built on them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "posekit"
SHARED_STAGE_MODULES = {"posekit.stages.template", "posekit.stages.common", "posekit.stages.adapt_common", "posekit.stages"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """posekit modules ``path`` imports (``from posekit.x import y`` counts as posekit.x.y when that is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("posekit"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("posekit")}
    return found


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def test_no_stage_imports_another_stage():
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith("posekit.stages.") or name in SHARED_STAGE_MODULES:
            continue
        for target in imports(path, top_level_only=False):
            if target.startswith("posekit.stages.") and target not in SHARED_STAGE_MODULES:
                offenders.append(f"{name} imports {target}")
    assert not offenders, offenders


def test_no_import_cycle():
    """Deferred imports (inside functions) count too: they are dependencies all the same."""
    graph = {name: {t for t in imports(path, top_level_only=False) if t in MODULES and t != name}
             for name, path in MODULES.items()}
    # a package's __init__ importing its own submodules (registration) is not a cycle through the package
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not (name.startswith(t + ".") and MODULES[t].name == "__init__.py")}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " → ".join(trail[trail.index(nxt):] + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("lower, upper", [
    ("posekit.workspace", "posekit.engine"), ("posekit.data", "posekit.engine"),
    ("posekit.engine", "posekit.methods"), ("posekit.models", "posekit.config"),
    ("posekit.evaluation", "posekit.losses"), ("posekit.models", "posekit.stages"),
    ("posekit.evaluation", "posekit.stages"), ("posekit.viz", "posekit.stages"),
    ("posekit.inference", "posekit.stages"), ("posekit.engine", "posekit.stages"),
])
def test_library_layers_do_not_import_upwards(lower, upper):
    offenders = [f"{name} imports {t}" for name, path in MODULES.items() if name == lower or name.startswith(lower + ".")
                 for t in imports(path, top_level_only=False) if t == upper or t.startswith(upper + ".")]
    assert not offenders, offenders
