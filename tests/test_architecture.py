"""The import graph of the package: no stage imports another stage, no import cycle, and the library layers do not
reach up into the layers built on them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "posekit"
SHARED_STAGE_MODULES = {"posekit.stages.template", "posekit.stages.pretrain_common", "posekit.stages.predict_common", "posekit.stages.adapt_common", "posekit.stages"}


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


# The floor plan, from the ground up: a module may import its own layer's modules and those of the layers below it,
# never one above. A new package or top-level module must be given its place here (test_every_module_has_a_layer).
LAYERS = [
    "posekit.version",  # the version string
    "posekit.errors",  # the error types the CLI turns into one line
    "posekit.numbers",  # the one check of a number a user gives (CLI options, API parameters)
    "posekit.faults",  # fault injection for the crash tests
    "posekit.fonts",  # the one font pictures use
    "posekit.signals",  # SIGTERM and worker start-up
    "posekit.registry",  # the name -> object registry
    "posekit.data",  # the HDF5 format, datasets, loaders, codecs, GPU transforms, image and annotation readers
    "posekit.workspace",  # the workspace layout, names, atomic writes
    "posekit.config",  # typed configuration (torch-free)
    "posekit.datasets",  # what prepare builds from: converters and the synthetic generator
    "posekit.models",  # networks
    "posekit.engine",  # the training loop, checkpoints, precision, logging
    "posekit.losses",
    "posekit.detect",  # person detectors
    "posekit.temporal",  # tracking and smoothing over video frames
    "posekit.inference",  # a trained run's network on crops
    "posekit.evaluation",  # metrics and evaluation loops
    "posekit.viz",  # pictures, and the report's document content
    "posekit.stylize",  # image-level style transfer
    "posekit.methods",  # training methods: a batch -> named losses
    "posekit.video_predict",
    "posekit.predictor",  # the Python API
    "posekit",  # the package face (lazy names)
    "posekit.stages",  # stage orchestration
    "posekit.cli",  # the command line
    "posekit.__main__",
]


def layer_of(module: str) -> int:
    """Index in LAYERS of the longest entry that is ``module`` or a package holding it (-1 if none)."""
    best, rank = -1, -1
    for i, layer in enumerate(LAYERS):
        if (module == layer or module.startswith(layer + ".")) and len(layer) > best:
            best, rank = len(layer), i
    return rank


def test_every_module_has_a_layer():
    assert not [name for name in MODULES if layer_of(name) < 0]
    assert len(set(LAYERS)) == len(LAYERS)


def test_layers_import_only_downwards():
    """Deferred imports count: an import inside a function is a dependency all the same."""
    offenders = [f"{name} ({LAYERS[layer_of(name)]}) imports {target} ({LAYERS[layer_of(target)]})"
                 for name, path in sorted(MODULES.items())
                 for target in sorted(imports(path, top_level_only=False))
                 if target in MODULES and layer_of(target) > layer_of(name)]
    assert not offenders, "\n".join(offenders)


def test_the_configuration_layer_loads_without_torch():
    """The schema validates backbone names from a torch-free table, so reading a config file needs no torch."""
    import subprocess
    import sys

    code = "import sys, posekit.config.load, posekit.config.schema; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
