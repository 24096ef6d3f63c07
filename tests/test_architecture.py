"""The codebase keeps the shape docs/architecture.md describes.

- the layer contracts in pyproject.toml ([tool.importlinter]) hold;
- no import cycles between kanstudio modules, lazy imports inside functions included
  (a cycle hidden behind a function-level import still ties two modules together);
- no module imports another module's private (``_name``) objects or calls private methods
  of objects it does not own: callers get public verbs;
- ruff is clean with the rules pyproject.toml selects.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kanstudio"
# Attributes that look private but belong to other libraries (torch's tensor version counter).
FOREIGN_PRIVATE_ATTRIBUTES = {"_version"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8"), str(p))
            for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, me: str, known: set[str]) -> set[str]:
    """kanstudio modules that ``me`` imports at run time (any depth, not TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in known and m != me and not me.startswith(m + ".")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            strongconnect(v)
    return found


def test_layer_contracts_hold():
    pytest.importorskip("importlinter")
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


def test_no_import_cycles_between_modules():
    modules = _modules()
    known = set(modules)
    # a package's __init__ re-exporting its children is not a cycle of the children
    graph = {m: {d for d in _imports(tree, m, known) if not d.startswith(m + ".")}
             for m, tree in modules.items()}
    cycles = _cycles(graph)
    assert not cycles, f"import cycles (lazy imports count): {cycles}"


def test_no_private_names_across_modules():
    offences = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kanstudio"):
                offences += [f"{name}: from {node.module} import {a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
            elif (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                  and not node.attr.startswith("__")
                  and node.attr not in FOREIGN_PRIVATE_ATTRIBUTES
                  and isinstance(node.value, ast.Name)
                  and node.value.id not in ("self", "cls")):
                offences.append(f"{name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not offences, "private names used across modules:\n" + "\n".join(offences)


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists() and shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (it is in the test extras)")
    done = subprocess.run([ruff, "check", "kanstudio", "tests", "bench"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:]
