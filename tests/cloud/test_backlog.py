"""The segmentation backlog: the order in which a worker that is behind takes frames, the lag it
reports in seconds (/readyz and /metrics), and that no frame is lost whichever order is set."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cloud_service import crud
from cloud_service.db.models import SegStatus, Vehicle
from cloud_service.db.session import create_tables, make_engine, make_sessions
from tests.cloud.servers import MSGPACK, live_server, scrape, server_settings, value

LEASE_S = 300.0


def _row(vehicle: str, index: int, status: SegStatus = SegStatus.PENDING,
         received_at: float = 1_700_000_000.0) -> dict:
    return dict(vehicle=vehicle, frame=f"f{index}", camera="front", ts=float(index),
                received_at=received_at + index, codec="0" * 16, depth=1, bits=8, height=64,
                width=96, bytes=100, sha256=f"{index:064x}", blob_key=f"latents/{index}",
                seg_status=status)


@pytest.fixture()
def sessions(tmp_path: Path):
    """An embedded database with vehicles a (frames 1–9 arrive interleaved with b's 10–12)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'backlog.db'}")
    create_tables(engine)
    factory = make_sessions(engine)
    with factory.begin() as session:
        session.add_all([Vehicle(name="a", token_hash="1" * 64, created_at=0.0),
                         Vehicle(name="b", token_hash="2" * 64, created_at=0.0)])
    with factory.begin() as session:
        for index in range(1, 13):
            crud.frames.insert(session, _row("a" if index < 10 else "b", index))
    yield factory
    engine.dispose()


def _ids(sessions, order: str, limit: int, stride: int = 4) -> list[int]:
    with sessions() as session:
        return [row.id for row in crud.frames.claimable(session, LEASE_S, limit, order, stride)]


def test_oldest_and_newest_first(sessions) -> None:
    assert _ids(sessions, "oldest", 3) == [1, 2, 3]
    assert _ids(sessions, "newest", 3) == [12, 11, 10]


def test_stride_takes_every_kth_frame_of_each_vehicle_first_then_the_rest(sessions) -> None:
    # a: 9 8 7 6 5 4 3 2 1 → every 4th from its newest: 9, 5, 1; b: 12 11 10 → 12
    assert _ids(sessions, "stride", 4) == [12, 9, 5, 1]
    assert _ids(sessions, "stride", 100)[:4] == [12, 9, 5, 1]
    assert sorted(_ids(sessions, "stride", 100)) == list(range(1, 13))  # none passed over for good
    assert _ids(sessions, "stride", 3, stride=3) == [12, 9, 6]


def test_done_frames_are_not_claimed_and_the_lag_is_the_oldest_waiting(sessions) -> None:
    with sessions.begin() as session:
        for frame_id in (1, 2):
            crud.frames.record_segmentation(session, frame_id, status=SegStatus.DONE, error=None,
                                            shares=None, mask=None, segmenter="x")
    assert _ids(sessions, "oldest", 2) == [3, 4]
    with sessions() as session:
        assert crud.frames.oldest_waiting(session) == 1_700_000_003.0


def test_a_worker_behind_segments_every_frame_and_reports_its_lag(tmp_path: Path, codec,
                                                                   make_container) -> None:
    """A queue of one frame overflows at once; the worker then takes every frame from the
    database in stride order, and none is lost. Before: /readyz and /metrics show the lag."""
    frames = 12
    settings = server_settings(tmp_path, codec[1], batch_size=1, queue_size=1,
                               sweep_interval_s=0.2, segmentation_order="stride",
                               segmentation_stride=3)
    bodies = [make_container(f"car-{i % 2 + 1}", f"lag-{i}", seed=i) for i in range(frames)]
    with live_server(settings, vehicles=("car-1", "car-2")) as server:
        def upload(body_index: int) -> int:
            with server.client(server.tokens[f"car-{body_index % 2 + 1}"]) as car:
                return car.post("/frames", content=bodies[body_index],
                                headers=MSGPACK).status_code

        started = time.time()
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(upload, range(frames))) == [201] * frames
        with server.client() as anyone:
            behind = anyone.get("/readyz").json()["segmentation_lag_s"]
        assert 0 <= behind <= time.time() - started + 1

        deadline = time.monotonic() + 120
        with server.admin as admin:
            while True:
                items = admin.get("/frames", params={"limit": 100}).json()["items"]
                if all(item["segmentation"]["status"] == "done" for item in items):
                    break
                assert time.monotonic() < deadline, "frames left unsegmented"
                time.sleep(0.1)
            assert len(items) == frames
            caught_up = admin.get("/readyz").json()["segmentation_lag_s"]
        samples = scrape(server)
    assert caught_up == 0
    assert value(samples, "latentlink_segmentation_lag_seconds") == 0
    assert value(samples, "latentlink_frames_segmented_total", status="done") == frames


def test_the_lag_counts_from_the_oldest_waiting_frame(tmp_path: Path, codec) -> None:
    """A frame left pending 100 s ago (segmentation now off, so nobody takes it)."""
    settings = server_settings(tmp_path, codec[1], segmentation=False)
    engine = make_engine(settings.sqlalchemy_url)
    create_tables(engine)
    with make_sessions(engine).begin() as session:
        session.add(Vehicle(name="old", token_hash="3" * 64, created_at=0.0))
    with make_sessions(engine).begin() as session:
        crud.frames.insert(session, _row("old", 1, received_at=time.time() - 101))
    engine.dispose()
    with live_server(settings, vehicles=()) as server, server.client() as anyone:
        lag = anyone.get("/readyz").json()["segmentation_lag_s"]
        samples = scrape(server)
    assert 99 < lag < 130
    assert 99 < value(samples, "latentlink_segmentation_lag_seconds") < 130
