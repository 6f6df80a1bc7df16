"""A (vehicle, frame) is stored once, however often and however concurrently it is uploaded."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.cloud.servers import MSGPACK, LiveServer


def test_retry_returns_the_stored_record(server: LiveServer, make_container) -> None:
    body = make_container("car-1", "dup-1", seed=1)
    with server.client(server.tokens["car-1"]) as car:
        first = car.post("/frames", content=body, headers=MSGPACK)
        again = car.post("/frames", content=body, headers=MSGPACK)
    assert (first.status_code, again.status_code) == (201, 200)
    # The worker may segment the frame between the two answers: everything but the
    # segmentation's progress must be the stored record, unchanged.
    stored, retried = first.json(), again.json()
    stored.pop("segmentation"), retried.pop("segmentation")
    assert retried == stored


def test_concurrent_uploads_of_one_frame_store_it_once(server: LiveServer, make_container) -> None:
    body = make_container("car-1", "dup-race", seed=2)

    def upload(_: int) -> tuple[int, int]:
        with server.client(server.tokens["car-1"]) as car:
            response = car.post("/frames", content=body, headers=MSGPACK)
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(upload, range(8)))
    assert sorted(code for code, _ in results) == [200] * 7 + [201]
    assert len({frame_id for _, frame_id in results}) == 1
    with server.admin as admin:
        page = admin.get("/frames", params={"vehicle": "car-1", "limit": 1000}).json()
    assert [item["frame"] for item in page["items"]].count("dup-race") == 1


def test_same_frame_id_with_other_content_conflicts(server: LiveServer, make_container) -> None:
    with server.client(server.tokens["car-1"]) as car:
        first = car.post("/frames", content=make_container("car-1", "dup-2", seed=3),
                         headers=MSGPACK)
        other = car.post("/frames", content=make_container("car-1", "dup-2", seed=4),
                         headers=MSGPACK)
    assert first.status_code == 201
    assert other.status_code == 409 and "different content" in other.json()["detail"]


def test_other_vehicles_may_reuse_a_frame_id(server: LiveServer, make_container) -> None:
    responses = []
    for vehicle in ("car-1", "car-2"):
        with server.client(server.tokens[vehicle]) as car:
            responses.append(car.post("/frames", content=make_container(vehicle, "shared-id"),
                                      headers=MSGPACK))
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json()["id"] != responses[1].json()["id"]
