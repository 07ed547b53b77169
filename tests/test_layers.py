"""The package is a stack where every import points down (README, "Architecture").

Imports are read from the source with ``ast``, those inside functions included (a cycle
hidden in a function is still a cycle); only imports under ``if TYPE_CHECKING:`` are left
out, since they never run. Each module belongs to one layer; it may import its own layer
and the layers below, and the whole graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A name ending in ".*" covers a package's modules.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "ground",
        [
            "pip_attest",
            "pip_attest._errors",
            "pip_attest._env",
            "pip_attest._dirs",
            "pip_attest._fileio",
            "pip_attest._notify",
            "pip_attest._identity",
            "pip_attest._names",
            "pip_attest._model",
            "pip_attest._toml",
            "pip_attest._text",
        ],
    ),
    (
        "stores and wire",
        [
            "pip_attest._sigstore",
            "pip_attest._trust",
            "pip_attest._store",
            "pip_attest._memo",
            "pip_attest._spawn",
            "pip_attest._provenance",
            "pip_attest._cache",
            "pip_attest._fulcio",
            "pip_attest._verify",
            "pip_attest._report",
            "pip_attest._results",
            "pip_attest._lock",
            "pip_attest._config",
            "pip_attest._background",
            "pip_attest._candidate",
        ],
    ),
    (
        "check and judge",
        [
            "pip_attest._policy",
            "pip_attest._helper",
            "pip_attest._prove",
            "pip_attest._examine",
            "pip_attest._check",
        ],
    ),
    (
        "pip",
        [
            "pip_attest._pip",
            "pip_attest._pip._reqs",
            "pip_attest._pip._guard",
            "pip_attest._pip._version",
            "pip_attest._pip._adverts",
            "pip_attest._pip._ledger",
            "pip_attest._pip._state",
            "pip_attest._pip._files",
            "pip_attest._pip._early",
            "pip_attest._pip._pylock",
            "pip_attest._pip._index",
            "pip_attest._pip._pages",
            "pip_attest._pip._seam",
            "pip_attest._pip._run",
        ],
    ),
    (
        "flows",
        ["pip_attest._locking", "pip_attest._audit", "pip_attest._audit.*", "pip_attest._foreign"],
    ),
    (
        "entry points",
        [
            "pip_attest._cli",
            "pip_attest._cli.*",
            "pip_attest.__main__",
            "pip_attest._pip._hook",
            "pip_attest._helper_main",
        ],
    ),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "pip_attest").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _layer_of(module: str) -> int:
    for number, (_, members) in enumerate(LAYERS):
        for member in members:
            if member == module or (member.endswith(".*") and module.startswith(member[:-1])):
                return number
    raise AssertionError(f"{module} is in no layer: add it to tests/test_layers.py")


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except what sits under ``if TYPE_CHECKING:``."""
    out: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            deps.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            deps.add(base)
            deps.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
    return {d for d in deps if d in modules and d != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    for module in graph:
        _layer_of(module)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} ({LAYERS[_layer_of(module)][0]}) imports {dep} ({LAYERS[_layer_of(dep)][0]})"
        for module, deps in sorted(graph.items())
        for dep in sorted(deps)
        if _layer_of(dep) > _layer_of(module)
    ]


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    # The package itself is imported first by every submodule; its own imports must only
    # point down (checked apart), so it is left out of the cycle search.
    edges = {m: {d for d in deps if d != "pip_attest"} for m, deps in graph.items()}
    state: dict[str, int] = {}
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return cycles


def test_no_import_points_up(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_no_cycle(graph: dict[str, set[str]]) -> None:
    assert cycles_in(graph) == []


def test_the_test_would_see_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The checks above can fail: made-up modules show an upward import made inside a
    function, a cycle, and an import only a type checker sees left out."""
    names, cli = tmp_path / "names.py", tmp_path / "cli.py"
    names.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pip_attest import _policy\n"
        "def f():\n    from pip_attest import _cli\n"
    )
    cli.write_text("from pip_attest._names import x\n")
    modules = {
        "pip_attest._names": names,
        "pip_attest._cli": cli,
        "pip_attest._policy": tmp_path / "policy.py",
    }
    graph = {
        name: _imports(name, path, modules)
        for name, path in modules.items()
        if name != "pip_attest._policy"
    }
    assert graph == {
        "pip_attest._names": {"pip_attest._cli"},
        "pip_attest._cli": {"pip_attest._names"},
    }
    assert upward_imports(graph) == [
        f"pip_attest._names ({LAYERS[_layer_of('pip_attest._names')][0]}) imports "
        f"pip_attest._cli ({LAYERS[_layer_of('pip_attest._cli')][0]})"
    ]
    assert cycles_in(graph) == [["pip_attest._cli", "pip_attest._names", "pip_attest._cli"]]
