"""Vehicle lifecycle: list, rotate a token, revoke one — over the API at once, from the CLI
within a second — against a real server whose token cache already knows the old token."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from cloud_service.cli import main as cli
from cloud_service.core.security import TOKEN_CACHE_S
from tests.cloud.servers import MSGPACK, LiveServer, live_server, server_settings


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, codec) -> Iterator[LiveServer]:
    """A server of its own: these tests revoke its vehicles."""
    settings = server_settings(tmp_path_factory.mktemp("vehicles"), codec[1])
    with live_server(settings, vehicles=("van-1", "van-2", "van-3", "van-4")) as live:
        yield live


def status_of(server: LiveServer, token: str) -> int:
    """What a frame listing answers to ``token`` (200 while it is valid)."""
    with server.client(token) as client:
        return client.get("/frames").status_code


def run_cli(server: LiveServer, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(server.settings.data_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def listed(server: LiveServer) -> dict[str, bool]:
    with server.admin as admin:
        response = admin.get("/vehicles")
    assert response.status_code == 200, response.text
    return {item["name"]: item["revoked"] for item in response.json()["items"]}


def test_the_admin_lists_every_vehicle(fleet: LiveServer) -> None:
    assert {"van-1", "van-2", "van-3", "van-4"} <= set(listed(fleet))


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("van-1", 403)])
def test_only_the_admin_manages_vehicles(fleet: LiveServer, token: str | None,
                                         status: int) -> None:
    with fleet.client(fleet.tokens.get(token, token)) as client:
        assert client.get("/vehicles").status_code == status
        assert client.post("/vehicles/van-1/revoke").status_code == status
    assert status_of(fleet, fleet.tokens["van-1"]) == 200


def test_unknown_vehicle_is_404(fleet: LiveServer) -> None:
    with fleet.admin as admin:
        for action in ("revoke", "rotate-token"):
            response = admin.post(f"/vehicles/no-such-van/{action}")
            assert response.status_code == 404 and "no-such-van" in response.json()["detail"]


def test_rotation_over_the_api_holds_at_once(fleet: LiveServer, make_container) -> None:
    old = fleet.tokens["van-1"]
    assert status_of(fleet, old) == 200  # now in the server's token cache
    with fleet.admin as admin:
        response = admin.post("/vehicles/van-1/rotate-token")
    assert response.status_code == 200
    new = response.json()["token"]
    assert new != old and status_of(fleet, old) == 401
    with fleet.client(new) as van:
        upload = van.post("/frames", content=make_container("van-1", "after-rotation"),
                          headers=MSGPACK)
    assert upload.status_code == 201, upload.text


def test_revocation_over_the_api_holds_at_once_and_keeps_the_frames(
        fleet: LiveServer, make_container) -> None:
    token = fleet.tokens["van-2"]
    with fleet.client(token) as van:
        stored = van.post("/frames", content=make_container("van-2", "before-revocation"),
                          headers=MSGPACK)
    assert stored.status_code == 201
    with fleet.admin as admin:
        revoked = admin.post("/vehicles/van-2/revoke")
        assert revoked.status_code == 200 and revoked.json()["revoked"] is True
        assert status_of(fleet, token) == 401
        assert admin.get(f"/frames/{stored.json()['id']}").status_code == 200
        assert admin.post("/vehicles/van-2/revoke").status_code == 200  # harmless twice
    assert listed(fleet)["van-2"] is True

    with fleet.admin as admin:
        restored = admin.post("/vehicles/van-2/rotate-token").json()["token"]
    assert status_of(fleet, restored) == 200 and status_of(fleet, token) == 401
    assert listed(fleet)["van-2"] is False


def wait_for_status(server: LiveServer, token: str, status: int) -> float:
    """Seconds until ``token`` gets ``status``; fails after twice the cache's lifetime."""
    started = time.monotonic()
    while time.monotonic() - started < 2 * TOKEN_CACHE_S + 1:
        if status_of(server, token) == status:
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"token still not answered {status}")


def test_revocation_from_the_cli_holds_within_the_cache_lifetime(fleet: LiveServer) -> None:
    token = fleet.tokens["van-3"]
    assert status_of(fleet, token) == 200
    assert "revoked vehicle van-3" in run_cli(fleet, "vehicles", "revoke", "van-3")
    assert wait_for_status(fleet, token, 401) <= 2 * TOKEN_CACHE_S + 1
    lines = dict(line.split("\t", 1) for line in run_cli(fleet, "vehicles", "list").splitlines())
    assert lines["van-3"].endswith("\trevoked") and lines["van-4"].endswith("\tactive")


def test_rotation_from_the_cli_prints_a_working_token(fleet: LiveServer) -> None:
    old = fleet.tokens["van-4"]
    assert status_of(fleet, old) == 200
    new = run_cli(fleet, "vehicles", "rotate-token", "van-4").strip().splitlines()[-1]
    assert status_of(fleet, new) == 200
    wait_for_status(fleet, old, 401)


def test_the_cli_names_an_unknown_vehicle(fleet: LiveServer) -> None:
    result = CliRunner().invoke(cli, ["vehicles", "revoke", "nobody", "--data-dir",
                                      str(fleet.settings.data_dir)])
    assert result.exit_code == 1 and "no vehicle named 'nobody'" in result.output
