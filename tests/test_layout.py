"""The layout's rules (docs/architecture.md), checked on the source as text.

- no module of probmoll over MAX_LINES lines;
- no import cycle between probmoll's modules, function-level imports included (a
  sub-module importing from its own package's ``__init__`` closes a cycle too);
- sub-packages import each other only along the layer order of ``ALLOWED``;
- nothing outside a sub-package imports its underscore names or modules;
- no file cites notes that are not part of the repository.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "probmoll"
MAX_LINES = 600
# Code outside the package that must use only its public names.
CLIENTS = ("experiments", "benchmarks", "paper_appendix", "docs", "scripts")

# Which sub-packages each may import (besides itself and the root package's version);
# top-level modules (cli, demo, ...) may import anything. Keep in step with the diagram
# of docs/architecture.md.
ALLOWED: dict[str, set[str]] = {
    "utils": set(),
    "metrics": {"utils"},
    "mollify": {"utils"},
    "models": {"utils"},
    "data": {"utils"},
    "augment": {"utils"},
    "likelihoods": {"utils", "mollify"},
    "evaluate": {"utils", "data", "metrics", "models"},
    "bayes": {"utils", "mollify", "likelihoods", "metrics", "models", "data"},
    "train": {
        "utils",
        "mollify",
        "metrics",
        "models",
        "data",
        "augment",
        "likelihoods",
        "evaluate",
    },
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def imports(path: Path, module: str | None) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` of every probmoll import in ``path``, at any depth;
    ``name`` is None for ``import a.b``. Relative imports are resolved against ``module``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                assert module is not None, f"{path}: relative import outside the package"
                package = module if module in PACKAGES else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            found += [(node.lineno, base, alias.name) for alias in node.names]
    return [entry for entry in found if entry[1].split(".")[0] == "probmoll"]


def target(base: str, name: str | None) -> str:
    """The probmoll module an import loads last: ``from a import b`` is module ``a.b``
    when that is a module, else ``a``."""
    if name is not None and f"{base}.{name}" in MODULES:
        return f"{base}.{name}"
    while base not in MODULES and "." in base:
        base = base.rpartition(".")[0]
    return base


def subpackage(module: str) -> str:
    """``probmoll.train.engine`` -> ``train``; top-level modules -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and f"probmoll.{parts[1]}" in PACKAGES else ""


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for _, base, name in imports(path, module):
            graph[module].add(target(base, name))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), or self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in graph:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def private_imports(path: Path, module: str | None) -> list[str]:
    """Imports in ``path`` of an underscore name or module of another sub-package."""
    found = []
    for line, base, name in imports(path, module):
        parts = base.split(".") + ([name] if name else [])
        private = [p for p in parts if p.startswith("_") and not p.startswith("__")]
        same = module is not None and subpackage(module) == subpackage(target(base, name))
        if private and not same:
            found.append(f"{path.relative_to(REPO)}:{line} imports {'.'.join(parts)}")
    return found


def test_the_rules_see_the_package():
    assert len(MODULES) > 50 and set(ALLOWED) <= {subpackage(m) for m in MODULES}
    assert "probmoll.train.trainer" in import_graph()["probmoll.train.engine"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_long(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by responsibility"


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_a_cycle_would_be_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_subpackages_import_along_the_layers():
    wrong = []
    for module, targets in import_graph().items():
        source = subpackage(module)
        for other in targets - {"probmoll"}:
            destination = subpackage(other)
            if source in ALLOWED and destination not in ALLOWED[source] | {source}:
                wrong.append(f"{module} imports {other}")
    assert wrong == []


def test_no_private_imports_across_subpackages():
    found = []
    for module, path in MODULES.items():
        found += private_imports(path, module)
    for folder in CLIENTS:
        for path in sorted((REPO / folder).rglob("*.py")):
            found += private_imports(path, None)
    assert found == []


def test_no_citation_of_notes_outside_the_repository():
    pattern = re.compile(r"\bNOTES(\.md)?\b")
    cited = [
        str(path.relative_to(REPO))
        for folder in ("probmoll", "docs", "experiments", "benchmarks", "tests", "results")
        for path in (REPO / folder).rglob("*")
        if path.suffix in {".py", ".md", ".yaml", ".yml", ".txt"}
        and path != Path(__file__).resolve()
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    cited += [name for name in ("README.md",) if pattern.search((REPO / name).read_text())]
    assert cited == []


def test_tests_mirror_the_package():
    subpackages = sorted({subpackage(m) for m in MODULES} - {""})
    assert [name for name in subpackages if not (REPO / "tests" / name).is_dir()] == []


def test_every_test_module_holds_tests():
    # Helpers shared by several test modules are named helpers.py / conftest.py, so that a
    # module named test_* always holds tests.
    empty = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))
            and node.name.startswith(("test", "Test"))
        ]
        if not names:
            empty.append(str(path.relative_to(REPO)))
    assert empty == []
