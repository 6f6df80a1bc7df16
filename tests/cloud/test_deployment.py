"""The deployment files and the docs agree with the code: compose's environment is made of real
settings with valid values, the Dockerfiles are shaped as documented, and docs/cloud.md's
configuration table lists exactly the settings with their defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cloud_service.core.config import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
CLOUD_DOCKERFILE = REPO / "docker" / "cloud.Dockerfile"
EDGE_DOCKERFILE = REPO / "docker" / "edge.Dockerfile"
DOCS = REPO / "docs" / "cloud.md"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


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


def runs(steps: list[tuple[str, str]]) -> str:
    return " ".join(arguments for keyword, arguments in steps if keyword == "RUN")


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
    runs = " ".join(arguments for keyword, arguments in steps if keyword == "RUN")
    assert '"/src[cloud]"' in runs and "torch==2.13.0" in runs
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
    assert copied == {"build": "/opt/venv", "export": "/opt/net_c.onnx"}
    assert '"/src[edge]"' in runs(by_stage["build"])
    assert "torch" not in runs(by_stage["build"]) + runs(runtime)
    assert "latentlink export-onnx" in runs(by_stage["export"])
    assert ("ENTRYPOINT", '["edge-agent"]') in runtime


def test_compose_sets_only_real_agent_settings(compose: dict) -> None:
    config = pytest.importorskip("edge_agent.config")
    agent = compose["services"]["edge-sim"]
    known = {f"{config.ENV_PREFIX}{name.upper()}" for name in config.AgentSettings.model_fields}
    assert set(agent["environment"]) <= known, set(agent["environment"]) - known
    image_env = " ".join(a for k, a in stages(EDGE_DOCKERFILE)["runtime"] if k == "ENV")
    assert set(re.findall(r"(LATENTLINK_\w+)=", image_env)) <= known


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
