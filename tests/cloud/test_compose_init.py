"""The compose stack's one-shot init (docker/compose-init.sh) run for real against an embedded
database: it issues the admin token and the simulated vehicle's token once, re-issues only what
is missing, and a server configured as compose configures the cloud accepts both tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from cloud_service.core.config import Settings
from tests.cloud.servers import bearer, server_settings, threaded_server, wait_ready

REPO = Path(__file__).resolve().parents[2]
INIT = REPO / "docker" / "compose-init.sh"


def run_init(tmp_path: Path) -> str:
    """Run the init script as compose does (its folders under ``tmp_path``); its output."""
    bin_dir = str(Path(sys.executable).parent)  # this environment's python and cloud-service
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "LATENTLINK_DATA_DIR": str(tmp_path / "data"), "SECRETS_DIR": str(tmp_path / "secrets"),
           "FLEET_DIR": str(tmp_path / "fleet"), "SIM_VEHICLE": "sim-1"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(["sh", str(INIT)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_init_issues_the_tokens_once_and_the_server_accepts_them(tmp_path: Path, codec) -> None:
    for folder in ("secrets", "fleet"):
        (tmp_path / folder).mkdir()
    first = run_init(tmp_path)
    admin_file, vehicle_file = tmp_path / "secrets" / "admin-token", tmp_path / "fleet/sim-1.token"
    assert "generated the admin token" in first and "registered vehicle sim-1" in first
    assert "docker compose exec cloud cat" in first
    admin, vehicle = admin_file.read_text().strip(), vehicle_file.read_text().strip()
    assert len(admin) >= 43 and len(vehicle) >= 43 and admin != vehicle
    assert {oct(path.stat().st_mode & 0o777) for path in (admin_file, vehicle_file)} == {"0o600"}

    again = run_init(tmp_path)
    assert "generated" not in again and "vehicle" in again and "registered" not in again
    assert (admin_file.read_text().strip(), vehicle_file.read_text().strip()) == (admin, vehicle)

    vehicle_file.unlink()  # e.g. the fleet-tokens volume dropped, the database kept
    assert "issued it a new token" in run_init(tmp_path)
    reissued = vehicle_file.read_text().strip()
    assert reissued != vehicle and admin_file.read_text().strip() == admin

    settings = server_settings(tmp_path / "data", codec[1], admin_token=None,
                               admin_token_file=admin_file)
    with threaded_server(settings) as url:
        wait_ready(url)
        statuses = [httpx.get(f"{url}/frames", headers=bearer(token)).status_code
                    for token in (admin, reissued, vehicle)]
    assert statuses == [200, 200, 401]


def test_the_admin_token_file_is_read_once_and_must_be_usable(tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("  from-a-file \n")
    settings = Settings(admin_token_file=token_file)
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "from-a-file"
    assert Settings().admin_token is None
    with pytest.raises(ValidationError, match="not both"):
        Settings(admin_token_file=token_file, admin_token="also-given")
    with pytest.raises(ValidationError, match="cannot read"):
        Settings(admin_token_file=tmp_path / "missing")
    token_file.write_text("\n")
    with pytest.raises(ValidationError, match="is empty"):
        Settings(admin_token_file=token_file)
