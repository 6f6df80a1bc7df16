"""A frame's whole life on the embedded server: container in; latents, mask and image out."""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from latentlink.codec import container
from tests.cloud.servers import FRAME_SIZE, MSGPACK, LiveServer


def wait_segmented(client, frame_id: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/frames/{frame_id}").json()
        if record["segmentation"]["status"] not in ("pending", "running"):
            return record
        time.sleep(0.05)
    raise TimeoutError(f"frame {frame_id} not segmented after {timeout}s")


def test_round_trip(server: LiveServer, make_container, codec) -> None:
    body = make_container("car-1", "round-trip-1", seed=7)
    with server.client(server.tokens["car-1"]) as car:
        created = car.post("/frames", content=body, headers=MSGPACK)
        assert created.status_code == 201, created.text
        record = created.json()
        frame_id = record["id"]
        assert record["vehicle"] == "car-1" and record["frame"] == "round-trip-1"
        assert record["codec"] == codec[0].codec_id and record["bytes"] == len(body)
        assert record["size"] == list(FRAME_SIZE)
        assert record["compression_factor"] == round(3 * 64 * 96 / len(body), 3)

        latent = car.get(f"/frames/{frame_id}/latent")
        assert latent.content == body
        assert latent.headers["content-type"] == "application/x-msgpack"
        sent = container.unpack(body)
        stored = container.unpack(latent.content)
        assert np.array_equal(stored.quantized.codes, sent.quantized.codes)

        done = wait_segmented(car, frame_id)
        assert done["segmentation"]["status"] == "done", done
        assert done["segmenter"] == "untrained"
        shares = done["segmentation"]["class_shares"]
        assert len(shares) == 11 and abs(sum(shares.values()) - 1) < 1e-4

        raw = car.get(f"/frames/{frame_id}/segmentation", params={"format": "raw"})
        assert raw.status_code == 200 and raw.headers["content-type"] == "image/png"
        labels = np.asarray(Image.open(io.BytesIO(raw.content)))
        assert labels.shape == FRAME_SIZE and labels.max() < 11
        counts = np.bincount(labels.reshape(-1), minlength=11) / labels.size
        assert np.allclose(counts, list(shares.values()), atol=1e-6)

        palette = Image.open(io.BytesIO(car.get(f"/frames/{frame_id}/segmentation").content))
        assert palette.mode == "P" and np.array_equal(np.asarray(palette), labels)

        image = car.get(f"/frames/{frame_id}/image")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        pixels = np.asarray(Image.open(io.BytesIO(image.content)))
        assert np.array_equal(pixels, codec[0].reconstruct(sent))
