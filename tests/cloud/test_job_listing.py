"""``GET /jobs``: newest first, filtered by state, paged by cursors that never repeat or skip."""

from __future__ import annotations

import time

import pytest

from tests.cloud.servers import LiveServer

JOBS = 5


@pytest.fixture(scope="module")
def submitted(server: LiveServer) -> list[int]:
    """Ids of jobs that fail at once (the shared server holds no labelled frames), settled."""
    with server.admin as admin:
        ids = [admin.post("/jobs/finetune", json={"vehicle": f"nobody-{n}"}).json()["id"]
               for n in range(JOBS)]
        deadline = time.monotonic() + 30
        while any(admin.get(f"/jobs/{job_id}").json()["state"] in ("queued", "running")
                  for job_id in ids):
            assert time.monotonic() < deadline, "jobs did not settle"
            time.sleep(0.1)
    return ids


def test_pages_run_newest_first_without_repeats(server: LiveServer, submitted: list[int]) -> None:
    seen, cursor, sizes = [], None, []
    with server.admin as admin:
        while True:
            page = admin.get("/jobs", params={"state": "failed", "limit": 2,
                                              **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            body = page.json()
            sizes.append(len(body["items"]))
            seen += [item["id"] for item in body["items"]]
            assert {item["state"] for item in body["items"]} <= {"failed"}
            cursor = body["next"]
            if cursor is None:
                break
    mine = [job_id for job_id in seen if job_id in submitted]
    assert mine == sorted(submitted, reverse=True)
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == len(seen)
    assert body["total"] == len(seen) >= JOBS and sizes[-1] <= 2 < sum(sizes)


def test_filters_and_refusals(server: LiveServer, submitted: list[int]) -> None:
    with server.admin as admin:
        assert admin.get("/jobs", params={"state": "succeeded"}).json()["total"] == 0
        newest = admin.get("/jobs", params={"limit": 1}).json()
        assert newest["items"][0]["id"] >= max(submitted) and newest["next"] is not None
        assert admin.get("/jobs", params={"cursor": "not-a-cursor"}).status_code == 422
        assert admin.get("/jobs", params={"state": "sleeping"}).status_code == 422
        assert admin.get("/jobs", params={"limit": 0}).status_code == 422
    with server.client(server.tokens["car-1"]) as car:
        assert car.get("/jobs").status_code == 403
    with server.client() as anonymous:
        assert anonymous.get("/jobs").status_code == 401


def test_a_job_from_an_unknown_version_is_refused_before_it_is_queued(server: LiveServer) -> None:
    with server.admin as admin:
        before = admin.get("/jobs").json()["items"]
        answer = admin.post("/jobs/finetune", json={"base_version": 424242})
        assert answer.status_code == 404 and "no model version 424242" in answer.text
        assert admin.get("/jobs").json()["items"] == before
