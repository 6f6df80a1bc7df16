"""The demo's figures, measured through the running service's HTTP API like any client would.

``scripts/demo.sh`` calls one subcommand per step; each adds its figures to one JSON file, and
``summary`` prints them with where to look:

- ``frames``: wait until the vehicle's frames are segmented; mean CF over all of them, PSNR of
  net_D's pictures (``/image``) against the source files on an evenly spread sample, and mean
  Dice / mIoU of the served masks against the CamVid labels when the frames came from CamVid.
- ``job``: follow a fine-tuning job to its end, one progress line every few seconds (a line,
  not a carriage-return bar, so that a log file or CI shows it too); its held-out before/after.
- ``summary``: the figures and the URLs to open.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from latentlink.data.datasets import CAMVID_CLASSES, CAMVID_IGNORE, load_label, load_rgb
from latentlink.evaluation.metrics import psnr
from latentlink.evaluation.seg_metrics import ConfusionMatrix, summarize

PSNR_SAMPLE = 12
"""Frames whose net_D picture is fetched for PSNR (each costs a decoder run on the server)."""
PROGRESS_EVERY_S = 15.0
SEGMENTED_WITHIN_S = 120.0


def client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def load_figures(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def save_figures(path: Path, figures: dict) -> None:
    path.write_text(json.dumps({**load_figures(path), **figures}, indent=2))


def segmented_frames(api: httpx.Client, vehicle: str) -> list[dict]:
    """The vehicle's frames once none waits for the segmenter (or after a bounded wait)."""
    deadline = time.monotonic() + SEGMENTED_WITHIN_S
    while True:
        items = api.get("/frames", params={"vehicle": vehicle, "limit": 1000}).json()["items"]
        waiting = sum(i["segmentation"]["status"] in ("pending", "running") for i in items)
        if not waiting or time.monotonic() > deadline:
            return items
        print(f"   waiting for the segmenter: {waiting} of {len(items)} frames", flush=True)
        time.sleep(2)


def source_file(folder: Path, frame: dict) -> Path:
    """The file a folder-source frame came from (its id is ``<file name>-<8 hex>``)."""
    return folder / frame["frame"].rpartition("-")[0]


def png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def measure_frames(api: httpx.Client, vehicle: str, frames_dir: Path | None,
                   labels_dir: Path | None) -> dict:
    items = segmented_frames(api, vehicle)
    done = [i for i in items if i["segmentation"]["status"] == "done"]
    figures: dict = {
        "frames": len(items), "segmented": len(done),
        "segmenter": items[0]["segmenter"] if items else None,
        "mean_cf": float(np.mean([i["compression_factor"] for i in items])) if items else None,
        "first_frame": items[0]["id"] if items else None,
    }
    if frames_dir is not None and items:
        sample = items[:: max(1, len(items) // PSNR_SAMPLE)][:PSNR_SAMPLE]
        figures["psnr_db"] = float(np.mean([
            psnr(load_rgb(source_file(frames_dir, i)), png(api.get(f"/frames/{i['id']}/image")
                                                           .content)) for i in sample]))
        figures["psnr_frames"] = len(sample)
    if labels_dir is not None and done:
        matrix = ConfusionMatrix(len(CAMVID_CLASSES), CAMVID_IGNORE)
        for item in done:
            mask = png(api.get(f"/frames/{item['id']}/segmentation",
                               params={"format": "raw"}).content)
            matrix.update(mask, load_label(source_file(labels_dir, item), "camvid"))
        scores = summarize(matrix.matrix, CAMVID_CLASSES)
        figures["dice"], figures["miou"] = scores["dice"], scores["miou"]
    return figures


def follow_job(api: httpx.Client, job_id: int) -> dict:
    last_line = 0.0
    while (job := api.get(f"/jobs/{job_id}").json())["state"] in ("queued", "running"):
        if time.monotonic() - last_line >= PROGRESS_EVERY_S:
            print(f"   job {job_id}: {job['state']}, {100 * (job.get('progress') or 0):.0f}%",
                  flush=True)
            last_line = time.monotonic()
        time.sleep(1)
    metrics = job.get("metrics") or {}
    base = metrics.get("base") or {}
    print(f"   job {job_id}: {job['state']}" + (f" ({job['error']})" if job.get("error") else ""))
    return {"job": job_id, "job_state": job["state"], "dice_before": base.get("dice"),
            "dice_after": metrics.get("dice"), "promoted": metrics.get("promoted"),
            "version": job.get("version")}


def number(value: float | None, digits: int, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def summary(url: str, figures: dict, token_file: Path | None = None) -> str:
    lines = [
        "== summary",
        f"   frames          {figures.get('frames', 0)} received, {figures.get('segmented', 0)}"
        f" segmented by {figures.get('segmenter')}",
        f"   mean CF         {number(figures.get('mean_cf'), 1)}",
        f"   PSNR (net_D)    {number(figures.get('psnr_db'), 2, ' dB')}"
        + (f" on {figures['psnr_frames']} frames" if "psnr_frames" in figures else ""),
        f"   mean Dice       {number(figures.get('dice'), 3)} (mIoU "
        f"{number(figures.get('miou'), 3)}), served masks vs CamVid labels",
    ]
    if "job" in figures:
        outcome = "promoted" if figures.get("promoted") else "not promoted"
        lines.append(f"   fine-tune       held-out mean Dice {number(figures['dice_before'], 3)}"
                     f" -> {number(figures['dice_after'], 3)}, {outcome} "
                     f"(job {figures['job']}: {figures['job_state']})")
    first = figures.get("first_frame")
    lines += [
        "== where to look",
        f"   console         {url}/ui (sign in with the admin token"
        + (f" in {token_file})" if token_file else ")"),
        f"   API docs        {url}/docs",
        f"   metrics         {url}/metrics",
    ]
    if first is not None:
        lines.append(f"   one frame       {url}/frames/{first}  (/image, /segmentation, /latent;"
                     " Authorization: Bearer <admin token>)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["frames", "job", "summary"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--token-file", type=Path, help="Where the summary says the token is.")
    parser.add_argument("--figures", type=Path, required=True, help="JSON file of the figures.")
    parser.add_argument("--vehicle", default="demo-car")
    parser.add_argument("--frames-dir", type=Path, help="Where the streamed files are (PSNR).")
    parser.add_argument("--labels-dir", type=Path, help="CamVid labels of those files (Dice).")
    parser.add_argument("--job", type=int)
    args = parser.parse_args(argv)
    with client(args.url, args.token) as api:
        if args.step == "frames":
            save_figures(args.figures, measure_frames(api, args.vehicle, args.frames_dir,
                                                      args.labels_dir))
        elif args.step == "job":
            save_figures(args.figures, follow_job(api, args.job))
        else:
            print(summary(args.url, load_figures(args.figures), args.token_file))


if __name__ == "__main__":
    sys.exit(main())
