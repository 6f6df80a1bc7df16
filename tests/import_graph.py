"""The project's import graph, read from the source with ``ast``: which module imports what, where.

Shared by the import-rule tests (ARCHITECTURE.md) and the deployment tests (what each image must
install). Reading the source rather than importing it sees every import, function-level ones
included (the CLIs import almost everything inside their commands), and needs none of the
imported packages installed.
"""

from __future__ import annotations

import ast
import importlib.util
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {
    "latentlink": REPO / "shared" / "latentlink",
    "cloud_service": REPO / "cloud_service",
    "edge_agent": REPO / "edge_agent",
}
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


@dataclass(frozen=True)
class Import:
    """One import statement's effect: module ``source`` (file ``path``), at line ``line``,
    imports module ``target``."""

    source: str
    path: Path
    line: int
    target: str
    optional: bool
    """Inside ``try: … except ImportError``: the code copes when the module is missing."""
    typing_only: bool
    """Under ``if TYPE_CHECKING:``: never runs."""

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line} imports {self.target}"


def within(module: str, package: str) -> bool:
    """Whether ``module`` is ``package`` or inside it (``onnxruntime`` is not inside ``onnx``)."""
    return module == package or module.startswith(package + ".")


def project_modules() -> dict[str, Path]:
    """Dotted name → file of every module of the three packages (a package is its __init__)."""
    modules = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def read_imports(path: Path, name: str, modules: set[str]) -> list[Import]:
    """Every import in the file at ``path`` (module ``name``), at any depth of the code.

    ``from package import submodule`` imports the submodule too, when it is one of ``modules``.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, optional: bool, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(name, path, node.lineno, alias.name, optional, typing_only)
                         for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names
                                if f"{base}.{alias.name}" in modules]
            found.extend(Import(name, path, node.lineno, target, optional, typing_only)
                         for target in targets)
        elif isinstance(node, ast.Try | ast.TryStar):
            guarded = any(catches_import_error(handler) for handler in node.handlers)
            for child in node.body:
                visit(child, optional or guarded, typing_only)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, optional, typing_only)
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.body:
                visit(child, optional, True)
            for child in node.orelse:
                visit(child, optional, typing_only)
        else:
            for child in ast.iter_child_nodes(node):
                visit(child, optional, typing_only)

    visit(ast.parse(path.read_text(), str(path)), False, False)
    return found


def catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(kind, ast.Name) and kind.id in IMPORT_ERRORS for kind in caught)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class ImportGraph:
    """The imports of every project module, and what importing one module reaches in the end."""

    def __init__(self) -> None:
        self.modules = project_modules()
        names = set(self.modules)
        self.imports = {name: read_imports(path, name, names)
                        for name, path in self.modules.items()}

    def executed(self, module: str) -> list[str]:
        """The project modules that importing ``module`` runs: each package on its way, then it."""
        parts = module.split(".")
        prefixes = (".".join(parts[:end]) for end in range(1, len(parts) + 1))
        return [prefix for prefix in prefixes if prefix in self.modules]

    def reach(self, module: str,
              follow: Callable[[Import], bool] = lambda _: True) -> dict[str, list[Import]]:
        """Every module, the project's and others, that importing ``module`` can import, through
        the imports ``follow`` accepts, each with a shortest chain of imports that gets there."""
        chains: dict[str, list[Import]] = {name: [] for name in self.executed(module)}
        queue = deque(chains)
        while queue:
            current = queue.popleft()
            for imported in filter(follow, self.imports[current]):
                for target in self.executed(imported.target) or [imported.target]:
                    if target not in chains:
                        chains[target] = [*chains[current], imported]
                        if target in self.modules:
                            queue.append(target)
        return chains

    def in_package(self, package: str) -> Iterator[str]:
        return (name for name in self.modules if within(name, package))


def chain_text(chain: list[Import]) -> str:
    return " → ".join(map(str, chain))
