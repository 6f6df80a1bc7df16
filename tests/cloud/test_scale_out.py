"""The scale-out configuration: two replicas sharing a real PostgreSQL and an S3-API store."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from sqlalchemy import create_engine, text

from tests.cloud.servers import MSGPACK, LiveServer, live_server, server_settings


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, codec, postgres_url: str,
             s3_endpoint: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Replica A registers the vehicles; B shares A's database and bucket, not its data dir."""
    shared = dict(database_url=postgres_url, s3_bucket="frames", s3_endpoint_url=s3_endpoint,
                  s3_prefix="test/", s3_access_key_id="test", s3_secret_access_key="test")
    a = server_settings(tmp_path_factory.mktemp("replica-a"), codec[1], **shared)
    b = server_settings(tmp_path_factory.mktemp("replica-b"), codec[1], **shared)
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(live_server(a, env={"DATABASE_URL": postgres_url}))
        second = stack.enter_context(live_server(b, vehicles=()))
        second.tokens = first.tokens
        yield first, second


def bucket_keys(endpoint: str) -> set[str]:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    return {item["Key"] for item in s3.list_objects_v2(Bucket="frames").get("Contents", [])}


def test_frames_live_in_postgres_and_the_bucket(replicas, make_container, postgres_url: str,
                                                s3_endpoint: str) -> None:
    a, b = replicas
    body = make_container("car-1", "scale-1", seed=31)
    with a.client(a.tokens["car-1"]) as car:
        created = car.post("/frames", content=body, headers=MSGPACK)
    assert created.status_code == 201, created.text
    record = created.json()
    with b.client(b.tokens["car-1"]) as car:
        assert car.get(f"/frames/{record['id']}/latent").content == body

    assert f"test/latents/{record['sha256'][:2]}/{record['sha256']}.msgpack" \
        in bucket_keys(s3_endpoint)
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT vehicle, frame, bytes FROM frames WHERE id = :id"),
                                 {"id": record["id"]}).one()
    engine.dispose()
    assert tuple(row) == ("car-1", "scale-1", len(body))

    deadline = time.monotonic() + 30
    with b.admin as admin:
        while admin.get(f"/frames/{record['id']}").json()["segmentation"]["status"] != "done":
            assert time.monotonic() < deadline, "never segmented"
            time.sleep(0.05)
        mask = admin.get(f"/frames/{record['id']}/segmentation", params={"format": "raw"})
    assert mask.status_code == 200
    assert any(key.startswith("test/masks/") for key in bucket_keys(s3_endpoint))


def test_one_frame_raced_to_both_replicas_is_stored_once(replicas, make_container) -> None:
    body = make_container("car-2", "scale-race", seed=32)

    def upload(server: LiveServer) -> tuple[int, int]:
        with server.client(server.tokens["car-2"]) as car:
            response = car.post("/frames", content=body, headers=MSGPACK)
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(upload, list(replicas) * 4))
    assert sorted(code for code, _ in results) == [200] * 7 + [201]
    assert len({frame_id for _, frame_id in results}) == 1


def test_pagination_on_postgres(replicas, make_container) -> None:
    a, b = replicas
    with a.client(a.tokens["car-3"]) as car:
        for index in range(5):
            body = make_container("car-3", f"scale-page-{index}", ts=2e9 + index % 2, seed=index)
            assert car.post("/frames", content=body, headers=MSGPACK).status_code == 201
    seen, cursor = [], None
    with b.client(b.tokens["car-3"]) as car:
        while True:
            page = car.get("/frames", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            seen += [(item["ts"], item["id"]) for item in page.json()["items"]]
            cursor = page.json()["next"]
            if cursor is None:
                break
    assert len(seen) == 5 and seen == sorted(seen)


def test_with_a_bucket_no_blob_touches_the_local_disk(replicas) -> None:
    for replica in replicas:
        assert not (Path(replica.settings.data_dir) / "blobs").exists()
        assert not (Path(replica.settings.data_dir) / "latentlink.db").exists()
