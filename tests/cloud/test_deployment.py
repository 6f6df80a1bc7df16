"""The deployment files and the docs agree with the code: compose's environment is made of real
settings with valid values and needs no variable, its init hands the tokens it issues to the
cloud and the simulator, the Dockerfiles are shaped as documented and take every package index
as a build argument, the build context leaves local state out, each image installs every
package its program imports (and the edge image no torch; the edge extra is also installed
into a fresh virtual environment and run), and docs/cloud.md's configuration table lists
exactly the settings with their defaults."""

from __future__ import annotations

import fnmatch
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
GPU_COMPOSE = REPO / "docker-compose.gpu.yml"
DOCKERIGNORE = REPO / ".dockerignore"
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


def mounts(service: dict) -> dict[str, str]:
    """A service's named volumes: container path → volume name (``:ro`` dropped)."""
    return {target: source for source, target, *_ in
            (str(volume).split(":") for volume in service.get("volumes", []))}


def test_compose_runs_postgres_the_cloud_and_a_simulated_vehicle(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "init", "cloud", "edge-sim"}
    assert "pg-data" in compose["volumes"]
    assert mounts(services["postgres"])["/var/lib/postgresql/data"] == "pg-data"
    for name in ("postgres", "cloud", "edge-sim"):
        assert services[name]["healthcheck"]["test"]
    conditions = {(name, needed): condition["condition"] for name, service in services.items()
                  for needed, condition in service.get("depends_on", {}).items()}
    assert conditions == {("init", "postgres"): "service_healthy",
                          ("cloud", "postgres"): "service_healthy",
                          ("cloud", "init"): "service_completed_successfully",
                          ("edge-sim", "init"): "service_completed_successfully",
                          ("edge-sim", "cloud"): "service_healthy"}
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert published == {"cloud": ["${LATENTLINK_PORT:-8000}:8000"]}  # console and API: one port
    assert services["edge-sim"]["command"][:3] == ["run", "--source", "synthetic"]
    cloud = services["cloud"]["environment"]
    assert interpolate(cloud.get("LATENTLINK_SEGMENTER_WEIGHTS", "")) in ("", "default")
    assert "/readyz" in " ".join(services["cloud"]["healthcheck"]["test"])
    for name, dockerfile in (("cloud", CLOUD_DOCKERFILE), ("edge-sim", EDGE_DOCKERFILE)):
        assert (REPO / services[name]["build"]["dockerfile"]) == dockerfile


def test_compose_needs_no_variable() -> None:
    """``ps``, ``logs``, ``down`` and a fresh ``up`` all interpolate the whole file: a required
    variable (``${X:?…}``) or one without a default would stop each of them."""
    for file in (COMPOSE, GPU_COMPOSE):
        values = " ".join(strings(yaml.safe_load(file.read_text())))
        used = INTERPOLATION.findall(values)
        assert used and all(kind == "-" for _, kind, _ in used), (file.name, used)
        assert values.count("$") == len(used), f"{file.name}: a bare $VARIABLE"


def strings(node: object) -> list[str]:
    """Every key and value of a parsed YAML document, as text."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings(key) + strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return [str(node)]


INIT_OWN_VARIABLES = {"SECRETS_DIR", "FLEET_DIR", "SIM_VEHICLE"}
"""docker/compose-init.sh's own settings; the rest of its environment is the cloud's."""


@pytest.mark.parametrize("service", ["cloud", "init"])
def test_compose_sets_only_real_settings_with_valid_values(compose: dict, service: str,
                                                           tmp_path: Path) -> None:
    environment = dict(compose["services"][service]["environment"])
    for name in INIT_OWN_VARIABLES & set(environment):
        del environment[name]
    known = set(Settings.env_names().values())
    assert set(environment) <= known, f"not settings: {set(environment) - known}"
    values = {field: interpolate(str(environment[env]))
              for field, env in Settings.env_names().items() if env in environment}
    if "admin_token_file" in values:  # written by init into a volume; stand in for it here
        (tmp_path / "admin-token").write_text("stand-in")
        values["admin_token_file"] = str(tmp_path / "admin-token")
    settings = Settings(**{k: v for k, v in values.items() if v != ""})
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://")


def test_compose_init_hands_its_tokens_to_the_cloud_and_the_simulator(compose: dict) -> None:
    """init writes SECRETS_DIR/admin-token and FLEET_DIR/VEHICLE.token (tests/cloud/
    test_compose_init.py runs it); the cloud and the simulator must read those very files, from
    the same named volumes, and the simulator must call itself that vehicle."""
    services = compose["services"]
    init, cloud, sim = services["init"], services["cloud"], services["edge-sim"]
    assert (init["image"], init["build"]) == (cloud["image"], cloud["build"])
    (entrypoint,) = init["entrypoint"]
    copied = [arguments.split() for keyword, arguments in stages(CLOUD_DOCKERFILE)["runtime"]
              if keyword == "COPY"]
    assert ["docker/compose-init.sh", f"/usr/local/bin/{entrypoint}"] in copied
    made = init["environment"]
    secrets, fleet = made["SECRETS_DIR"], made["FLEET_DIR"]
    admin_file = Path(cloud["environment"]["LATENTLINK_ADMIN_TOKEN_FILE"])
    vehicle_file = Path(sim["environment"]["LATENTLINK_EDGE_TOKEN_FILE"])
    assert admin_file == Path(secrets) / "admin-token"
    assert vehicle_file == Path(fleet) / f"{made['SIM_VEHICLE']}.token"
    assert sim["environment"]["LATENTLINK_EDGE_VEHICLE_ID"] == made["SIM_VEHICLE"]
    assert mounts(cloud)[str(admin_file.parent)] == mounts(init)[secrets]
    assert mounts(sim)[str(vehicle_file.parent)] == mounts(init)[fleet]
    assert str(admin_file.parent) not in mounts(sim)  # the vehicle never sees the admin token
    assert "LATENTLINK_ADMIN_TOKEN" not in cloud["environment"]
    assert "LATENTLINK_EDGE_TOKEN" not in sim["environment"]
    runtime = " ".join(arguments for keyword, arguments in stages(CLOUD_DOCKERFILE)["runtime"]
                       if keyword == "RUN")
    assert f"mkdir {secrets} {fleet}" in runtime
    assert f"chown latentlink {secrets} {fleet}" in runtime


def test_gpu_override_builds_the_cuda_variant_for_init_and_cloud() -> None:
    override = yaml.safe_load(GPU_COMPOSE.read_text())["services"]
    assert set(override) == {"init", "cloud"}
    for service in override.values():
        assert service["build"]["args"] == ["VARIANT=cuda"]
        assert service["image"] == "latentlink-cloud:cuda"
    (device,) = override["cloud"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]


def test_cloud_dockerfile() -> None:
    steps = instructions(CLOUD_DOCKERFILE)
    froms = [arguments for keyword, arguments in steps if keyword == "FROM"]
    assert ("ARG", "VARIANT=cpu") in steps
    # One base image for both variants (torch's CUDA wheels carry the CUDA libraries): the
    # classic builder pulls every stage's base, so a CUDA base would be fetched for CPU builds.
    assert [f.split(" AS ")[1] for f in froms[:2]] == ["base-cpu", "base-cuda"]
    assert len({f.split(" AS ")[0] for f in froms[:2]}) == 1
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


@pytest.mark.parametrize("dockerfile", [CLOUD_DOCKERFILE, EDGE_DOCKERFILE], ids=["cloud", "edge"])
def test_every_package_index_is_a_build_argument(dockerfile: Path, compose: dict) -> None:
    """Hosts that reach PyPI or download.pytorch.org only through a mirror (or a local wheel
    index, as scripts/compose-check.sh uses) must be able to build without editing the file;
    and no ``# syntax=`` line, which makes BuildKit fetch a frontend from a registry first."""
    assert not dockerfile.read_text().startswith("# syntax")
    for name, steps in stages(dockerfile).items():
        runs = " ".join(arguments for keyword, arguments in steps if keyword == "RUN")
        assert "://" not in runs, name
        if pip_targets(steps):
            arguments = {arguments.partition("=")[0] for keyword, arguments in steps
                         if keyword == "ARG"}
            assert {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"} <= arguments, name
    passed = {service["build"]["dockerfile"]: set(service["build"]["args"])
              for service in compose["services"].values() if "build" in service}
    assert {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"} <= passed[str(dockerfile.relative_to(REPO))]


def test_torch_comes_from_a_build_argument() -> None:
    by_stage = stages(CLOUD_DOCKERFILE)
    for base in ("base-cpu", "base-cuda"):
        assert any(keyword == "ARG" and arguments.startswith("TORCH_INDEX=")
                   for keyword, arguments in by_stage[base])
    torch_steps = [arguments for keyword, arguments in by_stage["build"]
                   if keyword == "RUN" and "torch==" in arguments]
    assert torch_steps and all('--index-url "$TORCH_INDEX"' in step for step in torch_steps)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore ``patterns`` leave ``path`` (or a folder above it) out of the build
    context; ``**/`` matches any depth. Close enough to Docker's rules for these patterns."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    suffixes = ["/".join(parts[start:end]) for end in range(1, len(parts) + 1)
                for start in range(end)]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(s, pattern[3:]) for s in suffixes):
                return True
        elif any(fnmatch.fnmatchcase(p, pattern) for p in prefixes):
            return True
    return False


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert not any(pattern.startswith("!") for pattern in patterns)
    for local in (".git/HEAD", ".venv/bin/python", "runs/x/weights.pt", "results/a.json",
                  "test-artifacts/log.txt", "shared/latentlink/__pycache__/cli.cpython-311.pyc",
                  "shared/latentlink/codec/_huffman.cpython-311-x86_64-linux-gnu.so",
                  "build/lib/x.py", "latentlink.egg-info/PKG-INFO", ".pytest_cache/v"):
        assert ignored(local, patterns), local
    copied = [arguments.split()[:-1] for dockerfile in (CLOUD_DOCKERFILE, EDGE_DOCKERFILE)
              for keyword, arguments in instructions(dockerfile)
              if keyword == "COPY" and not arguments.startswith("--from")]
    sources = {source for sources in copied for source in sources}
    assert {"shared", "cloud_service", "edge_agent", "pyproject.toml"} <= sources
    for source in sources:
        files = [source] if (REPO / source).is_file() else [
            str(path.relative_to(REPO)) for path in (REPO / source).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so"]
        kept = [file for file in files if not ignored(file, patterns)]
        assert kept == files, f"left out of the build: {set(files) - set(kept)}"


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
