"""The deployment files and the docs agree with the code: compose's environment is made of real
settings with valid values, the Dockerfiles are shaped as documented, each image installs every
package its program imports (and the edge image no torch), and docs/cloud.md's configuration
table lists exactly the settings with their defaults."""

from __future__ import annotations

import json
import re
import shlex
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cloud_service.core.config import Settings
from tests.import_graph import PACKAGES, ImportGraph, chain_text

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
CLOUD_DOCKERFILE = REPO / "docker" / "cloud.Dockerfile"
EDGE_DOCKERFILE = REPO / "docker" / "edge.Dockerfile"
DOCS = REPO / "docs" / "cloud.md"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
PROJECT_TARGET = re.compile(r"/src(?:\[([\w,]*)\])?")
"""The project as the Dockerfiles copy it, with the extras to install."""
PIP_OPTIONS_WITH_VALUES = {"-i", "--index-url", "--extra-index-url", "-c", "--constraint",
                           "-f", "--find-links"}


def stages(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A Dockerfile's instructions by build stage (``FROM … AS name``; "" before the first)."""
    result: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for keyword, arguments in instructions(path):
        if keyword == "FROM":
            current = arguments.split(" AS ")[-1] if " AS " in arguments else arguments
            result[current] = []
        result[current].append((keyword, arguments))
    return result


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def pip_targets(steps: list[tuple[str, str]]) -> list[str]:
    """What the ``pip install`` commands of the RUN steps install, in order, options dropped."""
    targets = []
    for keyword, arguments in steps:
        commands = arguments.split("&&") if keyword == "RUN" else []
        for words in map(shlex.split, commands):
            if words[:2] != ["pip", "install"]:
                continue
            takes_value = False
            for word in words[2:]:
                if not takes_value and not word.startswith("-"):
                    targets.append(word)
                takes_value = word in PIP_OPTIONS_WITH_VALUES
    return targets


def project_requirements(extras: set[str]) -> list[Requirement]:
    """The project's dependencies with ``extras``, its own extras (``latentlink[…]``) expanded."""
    requirements = [Requirement(text) for text in PROJECT["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        seen.add(extra)
        for requirement in map(Requirement, PROJECT["optional-dependencies"][extra]):
            if requirement.name == PROJECT["name"]:
                pending.extend(requirement.extras - seen)
            else:
                requirements.append(requirement)
    return requirements


def installed_by(targets: list[str]) -> set[str]:
    """The distributions (canonical names) that installing ``targets`` brings: their
    requirements and, as this environment's package metadata lists them, theirs in turn."""
    pending = []
    for target in targets:
        match = PROJECT_TARGET.fullmatch(target)
        if match:
            pending += project_requirements(set(filter(None, (match[1] or "").split(","))))
        else:
            pending.append(Requirement(target))
    expanded: set[tuple[str, str]] = set()  # (distribution, one of its extras or "")
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        for extra in {"", *requirement.extras} - expanded_extras(expanded, name):
            expanded.add((name, extra))
            try:
                texts = metadata.requires(name) or []
            except metadata.PackageNotFoundError:  # not here: installed, its own needs unread
                continue
            pending += [dependency for dependency in map(Requirement, texts)
                        if dependency.marker is None
                        or dependency.marker.evaluate({"extra": extra})]
    return {name for name, _ in expanded}


def expanded_extras(expanded: set[tuple[str, str]], name: str) -> set[str]:
    return {extra for done, extra in expanded if done == name}


def image_distributions(dockerfile: Path) -> set[str]:
    """The distributions in the runtime stage's virtual environment, which it copies from the
    stage that pip-installed into it."""
    by_stage = stages(dockerfile)
    (source,) = [arguments.split()[0].removeprefix("--from=")
                 for keyword, arguments in by_stage["runtime"]
                 if keyword == "COPY" and arguments.split()[1] == "/opt/venv"]
    return installed_by(pip_targets(by_stage[source]))


def entry_module(dockerfile: Path) -> str:
    """The module of the console script that the image's ENTRYPOINT runs."""
    (entrypoint,) = [json.loads(arguments) for keyword, arguments in instructions(dockerfile)
                     if keyword == "ENTRYPOINT"]
    return PROJECT["scripts"][entrypoint[0]].partition(":")[0]


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} → the default; ${VAR:?message} → a stand-in value."""
    def replace(match: re.Match) -> str:
        kind, default = match.group(2), match.group(3) or ""
        return default if kind == "-" else "stand-in-for-a-required-value"
    return INTERPOLATION.sub(replace, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_runs_postgres_the_cloud_and_a_simulated_vehicle(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "cloud", "edge-sim"}
    assert "pg-data" in compose["volumes"]
    assert any(str(v).startswith("pg-data:") for v in services["postgres"]["volumes"])
    for name in ("postgres", "cloud"):
        assert services[name]["healthcheck"]["test"]
    assert services["cloud"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["edge-sim"]["depends_on"]["cloud"]["condition"] == "service_healthy"
    assert services["edge-sim"]["command"][:3] == ["run", "--source", "synthetic"]
    cloud = services["cloud"]["environment"]
    assert interpolate(cloud.get("LATENTLINK_SEGMENTER_WEIGHTS", "")) in ("", "default")
    assert "/readyz" in " ".join(services["cloud"]["healthcheck"]["test"])
    for name, dockerfile in (("cloud", CLOUD_DOCKERFILE), ("edge-sim", EDGE_DOCKERFILE)):
        assert (REPO / services[name]["build"]["dockerfile"]) == dockerfile


def test_compose_sets_only_real_settings_with_valid_values(compose: dict) -> None:
    environment = compose["services"]["cloud"]["environment"]
    known = set(Settings.env_names().values())
    assert set(environment) <= known, f"not settings: {set(environment) - known}"
    values = {field: interpolate(str(environment[env]))
              for field, env in Settings.env_names().items() if env in environment}
    settings = Settings(**{k: v for k, v in values.items() if v != ""})
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://")


def test_cloud_dockerfile() -> None:
    steps = instructions(CLOUD_DOCKERFILE)
    froms = [arguments for keyword, arguments in steps if keyword == "FROM"]
    assert ("ARG", "VARIANT=cpu") in steps
    assert any(f.endswith("AS base-cpu") for f in froms)
    assert any(f.endswith("AS base-cuda") and "cuda" in f for f in froms)
    assert all(f.startswith("base-${VARIANT}") for f in froms[2:])
    (torch,) = [r for r in project_requirements({"cloud"}) if r.name == "torch"]
    assert pip_targets(stages(CLOUD_DOCKERFILE)["build"]) == [str(torch), "/src[cloud]"]
    entrypoint = [arguments for keyword, arguments in steps if keyword == "ENTRYPOINT"]
    assert entrypoint == ['["cloud-service"]']
    assert any(keyword == "HEALTHCHECK" for keyword, _ in steps)
    assert ("USER", "latentlink") in steps
    env_lines = " ".join(arguments for keyword, arguments in steps if keyword == "ENV")
    for name in re.findall(r"(LATENTLINK_\w+)=", env_lines):
        assert name in Settings.env_names().values()


def test_edge_image_has_no_torch() -> None:
    by_stage = stages(EDGE_DOCKERFILE)
    runtime = by_stage["runtime"]
    copied = {arguments.split()[0].removeprefix("--from="): arguments.split()[1]
              for keyword, arguments in runtime if keyword == "COPY"}
    assert copied == {"build": "/opt/venv"}
    assert pip_targets(by_stage["build"]) == ["/src[edge]"]
    assert not {"torch", "onnx"} & image_distributions(EDGE_DOCKERFILE)
    assert ("ENTRYPOINT", '["edge-agent"]') in runtime


def test_the_shipped_onnx_model_is_package_data() -> None:
    """The image runs the agent's default model, so a wheel must carry it."""
    config = pytest.importorskip("edge_agent.config")
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["edge_agent"]
    shipped = config.SHIPPED_MODEL.relative_to(REPO / "edge_agent")
    assert any(shipped.match(pattern) for pattern in patterns)
    assert config.AgentSettings.model_fields["model"].default == config.SHIPPED_MODEL


def test_the_two_programs_read_different_variables() -> None:
    """One shell or compose file may configure both; neither may take the other's settings."""
    config = pytest.importorskip("edge_agent.config")
    agent = {config.env_var(name) for name in config.AgentSettings.model_fields}
    assert not agent & set(Settings.env_names().values())


def test_compose_sets_only_real_agent_settings(compose: dict) -> None:
    config = pytest.importorskip("edge_agent.config")
    agent = compose["services"]["edge-sim"]
    known = {f"{config.ENV_PREFIX}{name.upper()}" for name in config.AgentSettings.model_fields}
    assert set(agent["environment"]) <= known, set(agent["environment"]) - known
    image_env = " ".join(a for k, a in stages(EDGE_DOCKERFILE)["runtime"] if k == "ENV")
    assert set(re.findall(r"(LATENTLINK_\w+)=", image_env)) <= known


def test_installed_by_follows_extras_and_their_dependencies() -> None:
    edge = installed_by(["/src[edge]"])
    assert {"numpy", "onnxruntime", "httpx", "httpcore"} <= edge  # httpcore: httpx's
    assert "torch" not in edge
    assert {"torch", "onnxruntime", "fastapi", "pytest"} <= installed_by(["/src[dev]"])
    assert installed_by(["torch==2.13.0"]) < installed_by(["torch==2.13.0", "/src"])


@pytest.mark.parametrize("dockerfile", [CLOUD_DOCKERFILE, EDGE_DOCKERFILE], ids=["cloud", "edge"])
def test_image_installs_every_package_its_program_imports(dockerfile: Path) -> None:
    """Follow every import, function-level ones included, from the module of the image's
    entrypoint; imports guarded by ``except ImportError`` (optional features) and typing-only
    ones are left out. The cloud image once crashed at start on modules its extra lacked."""
    installed = image_distributions(dockerfile)
    providers = metadata.packages_distributions()
    reached = ImportGraph().reach(entry_module(dockerfile),
                                  lambda imported: not (imported.optional or imported.typing_only))
    missing = {}
    for module, chain in reached.items():
        top = module.partition(".")[0]
        if top in PACKAGES or top in sys.stdlib_module_names or top in missing:
            continue
        candidates = {canonicalize_name(name) for name in providers.get(top, [])}
        if not candidates & installed:
            missing[top] = f"{top} ({', '.join(sorted(candidates)) or 'not installed here'}): " \
                           f"{chain_text(chain)}"
    assert not missing, f"{dockerfile.name} does not install:\n" + "\n".join(missing.values())


def documented_settings() -> dict[str, str]:
    """variable → default cell of docs/cloud.md's configuration table."""
    section = DOCS.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M)
    return {name: default.strip().strip("`") for name, default in rows}


def shown(default: object) -> str:
    """How the docs write a default."""
    if default is None:
        return "unset"
    if default == "":
        return "(empty)"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if isinstance(default, list):
        return ",".join(default)
    return str(default)


def test_docs_configuration_table_matches_the_settings() -> None:
    documented = documented_settings()
    names = Settings.env_names()
    assert set(documented) == set(names.values())
    for field, env in names.items():
        assert documented[env] == shown(Settings.model_fields[field].default), env
