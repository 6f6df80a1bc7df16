"""The suite's probes; each starts its own server in ``work`` and returns a flat dict of figures
(``ok`` says whether the property it checks held)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from benchmarks.reliability.harness import ADMIN_TOKEN, Template, relabel, server
from latentlink.codec import container

MSGPACK = {"content-type": container.MEDIA_TYPE}
PEAK_RSS_BOUND_MIB = 2048
"""docs/cloud.md's bound on the server's peak memory with the default settings (CPU)."""


def kill9(work: Path, codec_spec: str, template: Template, kills: int, frames: int) -> dict:
    """SIGKILL the server ``kills`` times while a client uploads ``frames`` frames, retrying
    each until it is answered; then every frame must be stored exactly once, with its bytes."""
    vehicle = "kill-1"
    bodies = {f"k{i}": relabel(template, vehicle, f"k{i}") for i in range(frames)}
    rng = random.Random(9)
    with server(work, codec_spec, (vehicle,), segmentation_lease_s="1",
                sweep_interval_s="0.2") as live:
        refused: list[int] = []
        done = threading.Event()

        def upload() -> None:
            with live.client(live.tokens[vehicle], timeout=10) as car:
                for body in bodies.values():
                    while True:
                        try:
                            status = car.post("/frames", content=body, headers=MSGPACK).status_code
                        except httpx.TransportError:
                            status = None  # the server is down
                        if status in (None, 503):  # down, or up with its models still loading:
                            time.sleep(0.05)  # retry, as the agent does
                            continue
                        if status not in (200, 201):
                            refused.append(status)
                        break
            done.set()

        uploader = threading.Thread(target=upload)
        uploader.start()
        restarts = []
        for _ in range(kills):
            time.sleep(rng.uniform(0.2, 1.0))
            live.kill()
            started = time.monotonic()
            live.start()
            restarts.append(time.monotonic() - started)
        uploader.join()
        stored = live.frames()
        with live.client(ADMIN_TOKEN) as admin:
            bad_blobs = sum(
                hashlib.sha256(admin.get(f"/frames/{row['id']}/latent").content).hexdigest()
                != hashlib.sha256(bodies[row["frame"]]).hexdigest() for row in stored)
    names = [row["frame"] for row in stored]
    lost = len(set(bodies) - set(names))
    duplicated = len(names) - len(set(names))
    return {"kills": kills, "frames": frames, "stored": len(stored), "lost": lost,
            "duplicated": duplicated, "blob_mismatches": bad_blobs, "refused": len(refused),
            "restart_s": round(float(np.mean(restarts)), 1),
            "ok": lost == duplicated == bad_blobs == len(refused) == 0}


def _mutate(rng: random.Random, body: bytes, other: bytes) -> bytes:
    data = bytearray(body)
    kind = rng.randrange(5)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del data[rng.randrange(len(data)):]
    elif kind == 2:  # inserted bytes
        at = rng.randrange(len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 64))
    elif kind == 3:  # splice of two containers
        data = data[:rng.randrange(len(data))] + other[rng.randrange(len(other)):]
    else:  # overwritten run
        at = rng.randrange(len(data))
        data[at:at + 16] = rng.randbytes(16)
    return bytes(data)


def fuzz(work: Path, codec_spec: str, templates: list[Template], cases: int) -> dict:
    """``cases`` mutated containers posted to one server: no 5xx, no traceback, still up."""
    vehicle = "fuzz-1"
    rng = random.Random(13)
    counts: dict[int, int] = {}
    with server(work, codec_spec, (vehicle,)) as live:
        started = time.monotonic()
        with live.client(live.tokens[vehicle]) as car:
            for case in range(cases):
                body = relabel(templates[case % len(templates)], vehicle, f"z{case}")
                other = relabel(templates[(case + 1) % len(templates)], vehicle, f"y{case}")
                status = car.post("/frames", content=_mutate(rng, body, other),
                                  headers=MSGPACK).status_code
                counts[status] = counts.get(status, 0) + 1
            healthy = car.get("/healthz").status_code == 200
        seconds = time.monotonic() - started
        tracebacks = live.tracebacks()
    errors = sum(count for status, count in counts.items() if status >= 500)
    return {"cases": cases, "per_s": round(cases / seconds, 1), "5xx": errors,
            "statuses": {str(k): v for k, v in sorted(counts.items())},
            "tracebacks": tracebacks, "ok": errors == 0 and healthy and tracebacks == 0}


def _constant(codec_id: str, depth: int, vehicle: str, frame: str, side: int,
              level: float) -> bytes:
    factor = 2 ** (depth + 1)
    latent = np.full((16, -(-side // factor), -(-side // factor)), level, np.float32)
    return container.encode_latent(latent, bits=8, codec_id=codec_id, depth=depth,
                                   image_size=(side, side),
                                   meta=container.CaptureMeta(vehicle=vehicle, frame=frame, ts=1))


def amplification(work: Path, codec_spec: str, codec_id: str, depth: int,
                  pictures: int) -> dict:
    """Tiny containers declaring 4096² (refused) and 2048² (the budget: stored and segmented)
    frames, then ``pictures`` concurrent picture requests; the server's peak RSS."""
    vehicle = "amp-1"
    with server(work, codec_spec, (vehicle,), sweep_interval_s="0.2") as live:
        baseline = live.peak_rss_mib()
        with live.client(live.tokens[vehicle], timeout=300) as car:
            over = [car.post("/frames", content=_constant(codec_id, depth, vehicle, f"o{i}", 4096,
                                                          0.5), headers=MSGPACK).status_code
                    for i in range(4)]
            bodies = [_constant(codec_id, depth, vehicle, f"a{i}", 2048, level)
                      for i, level in enumerate((0.2, 0.5, 0.8))]
            ids = [car.post("/frames", content=body, headers=MSGPACK).json()["id"]
                   for body in bodies]
            started = time.monotonic()
            with ThreadPoolExecutor(pictures) as pool:
                statuses = list(pool.map(
                    lambda i: car.get(f"/frames/{ids[i % len(ids)]}/image").status_code,
                    range(pictures)))
            picture_s = time.monotonic() - started
            deadline = time.monotonic() + 600
            while any(car.get(f"/frames/{i}").json()["segmentation"]["status"] != "done"
                      for i in ids) and time.monotonic() < deadline:
                time.sleep(0.5)
        peak = live.peak_rss_mib()
    return {"container_bytes": max(len(body) for body in bodies),
            "over_budget_refused": over.count(422), "pictures": pictures,
            "pictures_200": statuses.count(200), "pictures_503": statuses.count(503),
            "picture_s": round(picture_s, 1), "baseline_rss_mib": round(baseline),
            "peak_rss_mib": round(peak),
            "ok": over.count(422) == len(over) and set(statuses) <= {200, 503}
            and peak < PEAK_RSS_BOUND_MIB}


async def _slow_connection(url: str, kind: str, limit: float) -> float:
    """Seconds until the server closed a connection that behaves as ``kind``."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        if kind == "half_line":
            writer.write(b"GET /heal")
        elif kind == "no_body":
            writer.write(b"POST /frames HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n"
                         b"content-type: application/x-msgpack\r\n\r\n")
        if kind == "trickle":
            for byte in b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-pad: aaaaaaaa\r\n\r\n":
                writer.write(bytes([byte]))
                try:
                    if not await asyncio.wait_for(reader.read(4096), 1.0):
                        break
                except TimeoutError:
                    continue
        while await asyncio.wait_for(reader.read(4096), limit):
            pass
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started


def slow_clients(work: Path, codec_spec: str, per_kind: int, timeout_s: float) -> dict:
    """``per_kind`` connections of each slow kind at once; the longest each kind stayed open."""
    kinds = ("silent", "half_line", "no_body", "trickle")
    with server(work, codec_spec, request_timeout_s=str(timeout_s)) as live:
        async def everyone() -> list[float]:
            return await asyncio.gather(*(_slow_connection(live.url, kind, timeout_s * 3)
                                          for kind in kinds for _ in range(per_kind)))

        took = asyncio.run(everyone())
        healthy = httpx.get(f"{live.url}/healthz", timeout=10).status_code == 200
        tracebacks = live.tracebacks()
    longest = {kind: round(max(took[i * per_kind:(i + 1) * per_kind]), 1)
               for i, kind in enumerate(kinds)}
    return {"connections": len(took), "timeout_s": timeout_s,
            **{f"{kind}_max_s": value for kind, value in longest.items()},
            "tracebacks": tracebacks,
            "ok": healthy and tracebacks == 0 and max(longest.values()) <= timeout_s + 2}


def fleet_load(work: Path, codec_spec: str, templates: list[Template], vehicles: int,
               seconds: float) -> dict:
    """``vehicles`` concurrent vehicles (one keep-alive connection each) uploading for
    ``seconds``; throughput, latency, errors, and how far segmentation fell behind."""
    names = tuple(f"fleet-{i:02d}" for i in range(vehicles))
    with server(work, codec_spec, names) as live:
        latencies: list[float] = []
        errors = 0

        async def vehicle(index: int, stop_at: float) -> None:
            nonlocal errors
            name = names[index]
            async with httpx.AsyncClient(base_url=live.url, timeout=60,
                                         headers={"authorization": f"Bearer {live.tokens[name]}",
                                                  **MSGPACK}) as client:
                sent = 0
                while time.perf_counter() < stop_at:
                    body = relabel(templates[(index + sent) % len(templates)], name, f"f{sent}")
                    sent += 1
                    begun = time.perf_counter()
                    try:
                        status = (await client.post("/frames", content=body)).status_code
                    except httpx.TransportError:
                        status = 0
                    if status == 201:
                        latencies.append(time.perf_counter() - begun)
                    else:
                        errors += 1

        async def fleet() -> float:
            started = time.perf_counter()
            await asyncio.gather(*(vehicle(i, started + seconds) for i in range(vehicles)))
            return time.perf_counter() - started

        span = asyncio.run(fleet())
        lag = httpx.get(f"{live.url}/readyz", timeout=10).json()["segmentation_lag_s"]
        stored = len(live.frames())
        peak = live.peak_rss_mib()
        tracebacks = live.tracebacks()
    milliseconds = np.array(latencies or [np.nan]) * 1000
    return {"vehicles": vehicles, "seconds": round(span, 1), "frames": len(latencies),
            "frames_per_s": round(len(latencies) / span, 1),
            "p50_ms": round(float(np.percentile(milliseconds, 50)), 1),
            "p99_ms": round(float(np.percentile(milliseconds, 99)), 1), "errors": errors,
            "stored": stored, "segmentation_lag_s": lag, "peak_rss_mib": round(peak),
            "tracebacks": tracebacks,
            "ok": errors == 0 and stored == len(latencies) and tracebacks == 0}
