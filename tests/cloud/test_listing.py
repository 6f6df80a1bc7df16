"""Listing frames: filters, a stable (ts, id) order, and cursors that never repeat or skip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.cloud.servers import MSGPACK, LiveServer

BASE_TS = 1_800_000_000.0
OFFSETS = [5, 1, 3, 3, 3, 0, 9]  # equal times test the tie-break on id


@pytest.fixture(scope="module")
def listed(server: LiveServer, make_container) -> list[dict]:
    """car-3's frames, uploaded out of time order."""
    records = []
    with server.client(server.tokens["car-3"]) as car:
        for index, offset in enumerate(OFFSETS):
            body = make_container("car-3", f"list-{index}", ts=BASE_TS + offset, seed=index)
            response = car.post("/frames", content=body, headers=MSGPACK)
            assert response.status_code == 201
            records.append(response.json())
    return sorted(records, key=lambda r: (r["ts"], r["id"]))


def pages(client, **params) -> list[dict]:
    """Every page of a listing, following `next`."""
    result, cursor = [], None
    while True:
        page = client.get("/frames", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        result.append(page.json())
        cursor = page.json()["next"]
        if cursor is None:
            return result


def test_pages_cover_every_frame_once_in_order(server: LiveServer, listed: list[dict]) -> None:
    with server.admin as admin:
        got = pages(admin, vehicle="car-3", limit=3)
    assert [len(page["items"]) for page in got] == [3, 3, 1]
    assert {page["total"] for page in got} == {len(OFFSETS)}
    ids = [item["id"] for page in got for item in page["items"]]
    assert ids == [record["id"] for record in listed]
    assert all("id" in item for page in got for item in page["items"])


def test_new_frames_do_not_disturb_a_listing(server: LiveServer, listed: list[dict],
                                             make_container) -> None:
    with server.client(server.tokens["car-3"]) as car:
        first = car.get("/frames", params={"limit": 2}).json()
        late = make_container("car-3", "list-late", ts=BASE_TS - 100)  # sorts before page 1
        assert car.post("/frames", content=late, headers=MSGPACK).status_code == 201
        rest = pages(car, limit=2, cursor=first["next"], since=BASE_TS)
    ids = [item["id"] for item in first["items"]] + [i["id"] for p in rest for i in p["items"]]
    assert ids == [record["id"] for record in listed]


def test_time_filters(server: LiveServer, listed: list[dict]) -> None:
    iso_since = datetime.fromtimestamp(BASE_TS + 3, UTC).isoformat()
    with server.admin as admin:
        page = admin.get("/frames", params={"vehicle": "car-3", "since": iso_since,
                                            "until": BASE_TS + 9}).json()
    assert [item["ts"] - BASE_TS for item in page["items"]] == [3, 3, 3, 5]
    assert page["total"] == 4 and page["next"] is None
