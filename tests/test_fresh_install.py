"""Each program's install extra, alone, in a fresh virtual environment: ``pip install .[edge]``
and ``.[cloud]``, then the program is run from there. The images install exactly these extras,
and the cloud image once crashed at every start on packages its extra lacked, which no test run
in the development environment (which has every extra) could see.

Slow (about 15 s and 50 s here, pip's cache warm; torch comes from the machine's wheel folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cloud.servers import free_port, wait_ready

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def fresh_install(folder: Path, extra: str) -> Path:
    """A new virtual environment in ``folder`` with ``latentlink[extra]``; its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    bin_dir = folder / "bin"
    installed = subprocess.run(
        [bin_dir / "pip", "install", "--quiet", "--disable-pip-version-check",
         f"{REPO}[{extra}]"], capture_output=True, text=True, timeout=600, env=isolated_env())
    assert installed.returncode == 0, installed.stderr[-3000:]
    return bin_dir


def isolated_env() -> dict[str, str]:
    """This environment without the checkout on the path: only the venv's packages count."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "DATABASE_URL"):
        env.pop(name, None)
    return env


def run(bin_dir: Path, *args: str, cwd: Path) -> str:
    result = subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=isolated_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


IMPORT_ALL = """
import importlib, importlib.util, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if not module.name.endswith(".__main__"):  # that one runs the program
        importlib.import_module(module.name)
print(package.__file__, importlib.util.find_spec("torch") is not None)
"""


def test_the_edge_extra_alone_runs_the_agent_without_torch(tmp_path: Path) -> None:
    bin_dir = fresh_install(tmp_path / "venv", "edge")
    assert "Usage: edge-agent" in run(bin_dir, "edge-agent", "--help", cwd=tmp_path)
    where, has_torch = run(bin_dir, "python", "-c", IMPORT_ALL, "edge_agent",
                           cwd=tmp_path).split()
    assert where.startswith(str(tmp_path / "venv")) and has_torch == "False"


@pytest.fixture
def cloud_venv(tmp_path: Path) -> Iterator[Path]:
    yield fresh_install(tmp_path / "venv", "cloud")


def test_the_cloud_extra_alone_serves_the_shipped_models(tmp_path: Path,
                                                         cloud_venv: Path) -> None:
    """``serve`` loads everything it imports at start-up (fine-tuning included) before
    /readyz answers 200, so a missing package fails here as it failed in the image."""
    assert "Usage: cloud-service" in run(cloud_venv, "cloud-service", "--help", cwd=tmp_path)
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(cloud_venv / "cloud-service"), "serve", "--data-dir", str(tmp_path / "data"),
             "--port", str(port)], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
            env={**isolated_env(), "LATENTLINK_DEVICE": "cpu"})
    try:
        try:
            wait_ready(f"http://127.0.0.1:{port}", process)
        except (RuntimeError, TimeoutError) as error:
            raise AssertionError(f"{error}:\n{log_path.read_text()[-3000:]}") from error
    finally:
        process.kill()
        process.wait(timeout=30)
