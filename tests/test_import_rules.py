"""The import rules of ARCHITECTURE.md hold: no module of a package reaches, through any chain of
imports (module- or function-level, guarded or not), a module the package must not import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.import_graph import REPO, Import, ImportGraph, chain_text, read_imports, within


@dataclass(frozen=True)
class Rule:
    package: str
    forbidden: tuple[str, ...]
    why: str


RULES = [
    Rule("edge_agent", ("torch", "onnx", "cloud_service"),
         "the vehicle runs numpy and ONNX Runtime only, and never the cloud's code"),
    Rule("cloud_service", ("edge_agent",), "the cloud never runs the vehicle's code"),
    Rule("latentlink", ("edge_agent", "cloud_service"),
         "the shared package is imported by both sides, so it imports neither"),
    Rule("latentlink.codec", ("torch",), "the codec runs on the vehicle: numpy only"),
    Rule("latentlink.evaluation", ("latentlink.training", "latentlink.experiments"),
         "measuring a model needs no trainer and no experiment"),
    Rule("latentlink.training", ("latentlink.experiments",),
         "experiments drive the trainers, never the other way round"),
]


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph()


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.package}-not-"
                         + "-".join(rule.forbidden))
def test_import_rule(graph: ImportGraph, rule: Rule) -> None:
    modules = list(graph.in_package(rule.package))
    assert modules, f"no modules in {rule.package}: is the rule out of date?"
    breaches: dict[Import, list[Import]] = {}  # the package's own import that leads out → chain
    for module in modules:
        for target, chain in graph.reach(module).items():
            if any(within(target, forbidden) for forbidden in rule.forbidden):
                exit = [step for step in chain if within(step.source, rule.package)][-1]
                known = breaches.get(exit)
                if known is None or len(chain) < len(known):
                    breaches[exit] = chain
    lines = [chain_text(chain) for chain in breaches.values()]
    assert not lines, (f"{rule.package} must not import {', '.join(rule.forbidden)} ({rule.why}):\n"
                       + "\n".join(lines))


def test_the_reader_sees_every_import(tmp_path: Path) -> None:
    """Module- and function-level, relative, optional and typing-only imports are all read."""
    source = tmp_path / "example.py"
    source.write_text(
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    import torch\n"
        "def load():\n"
        "    try:\n"
        "        import cv2\n"
        "    except ImportError:\n"
        "        from .fallback import reader\n"
        "    from latentlink.codec import container\n"
    )
    modules = {"pkg.sibling", "latentlink.codec.container"}
    found = [(i.line, i.target, i.optional, i.typing_only)
             for i in read_imports(source, "pkg.example", modules)]
    assert found == [
        (1, "os", False, False),
        (2, "typing", False, False),
        (3, "pkg", False, False), (3, "pkg.sibling", False, False),
        (5, "torch", False, True),
        (8, "cv2", True, False),
        (10, "pkg.fallback", False, False),
        (11, "latentlink.codec", False, False), (11, "latentlink.codec.container", False, False),
    ]
    assert str(Import("a", REPO / "a.py", 3, "torch", False, False)) == "a.py:3 imports torch"
