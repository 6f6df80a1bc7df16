"""The agent's import graph has no torch and no onnx, not even inside a function: a vehicle image
installs neither (the model is exported beforehand by ``latentlink export-onnx``)."""

from __future__ import annotations

import ast
from pathlib import Path

import edge_agent

FORBIDDEN = ("torch", "onnx", "latentlink.models", "latentlink.training")
"""Top-level packages (or latentlink's torch-based subpackages) the agent must never import."""


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from … import`` anywhere in the file names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_of_the_agent_imports_torch_or_onnx() -> None:
    modules = sorted(Path(edge_agent.__file__).parent.rglob("*.py"))
    assert len(modules) > 5
    offending = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_modules(path)
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN)
    }
    assert not offending, offending
