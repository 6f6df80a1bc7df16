"""The paper's Table I on one data set: the proposed method for d = 1, 2, 3 against BL 1–4.

Rows (Raj et al., Sec. IV-B):

- proposed d = 1, 2, 3: net_seg,D′ trained and tested on int2float of the codec's latents.
- BL 1: net_seg trained and tested on the original frames.
- BL 2: the BL 1 segmenter tested on net_D's reconstructions (no training of its own).
- BL 3: net_seg trained and tested on net_D's reconstructions.
- BL 4: net_seg trained and tested on JPEG frames at the proposed method's compression factor.

BL 2–4 use the *reference* depth (d = 2, the paper's CF 66 operating point); BL 4's JPEG CF is
the reference codec's mean CF on the test split, rounded to an integer, so a rerun on the same
data asks JPEG for the same CF and its trained segmenter stays valid.

Every step leaves its result in the output folder and a rerun picks it up: a segmenter whose
``segmenter.pt`` exists is not trained again (an interrupted one resumes from its ``last.pt``),
and evaluations are cached as JSON keyed by what they depend on (weights file, split, frame
limit), so a table over seven models can be built across sessions and redrawn in seconds.
Weights trained elsewhere (``train-seg --export``) join the table when copied to
``OUT_DIR/<row>/segmenter.pt``.

Cost columns come from :func:`latentlink.evaluation.complexity.network_costs` at the test
frames' size: net_C and net_D of the row's codec, net_seg,E (the image segmenter's stem) and
net_seg,D (the rest of it; for the proposed rows, the whole latent segmenter net_seg,D′).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from latentlink.data.datasets import list_samples, load_label, load_rgb
from latentlink.durable import write_atomically
from latentlink.evaluation import codec_eval
from latentlink.evaluation.classical import encode_at_cf
from latentlink.evaluation.complexity import network_costs
from latentlink.evaluation.metrics import psnr, ssim
from latentlink.evaluation.seg_figure import plot_masks
from latentlink.experiments.table1_config import Table1Config
from latentlink.models.inference import TorchCodec
from latentlink.models.segmenter import SegmenterConfig, predict_labels
from latentlink.models.segmenter_weights import (
    check_codec,
    load_segmenter,
    trained_class_weighting,
)
from latentlink.models.weights import load_codec, resolve_weights
from latentlink.training.seg_config import SegTrainConfig, model_input_kind
from latentlink.training.seg_data import label_spec, load_split
from latentlink.training.seg_trainer import SegTrainer, evaluate

COST_PARTS = ("net_C", "net_D", "net_seg,E", "net_seg,D")
"""The paper's cost columns, in its order."""

PAPER_TABLE1 = {
    "proposed_d1": {"cf": 16, "dice": 0.88, "ssim": 0.99, "psnr": 45.74},
    "proposed_d2": {"cf": 66, "dice": 0.84, "ssim": 0.97, "psnr": 40.09},
    "proposed_d3": {"cf": 230, "dice": 0.77, "ssim": 0.94, "psnr": 35.52},
    "bl1": {"cf": 66, "dice": 0.91},
    "bl2": {"cf": 66, "dice": 0.90},
    "bl3": {"cf": 66, "dice": 0.88},
    "bl4": {"cf": 66, "dice": 0.82, "ssim": 0.76, "psnr": 25.07},
}
"""Table I of the paper (Cityscapes, ResNet-50-wide segmenters), for the side-by-side columns."""


@dataclass(frozen=True)
class Method:
    """One row of Table I: what its segmenter was trained on and what it is tested on."""

    key: str
    label: str
    short: str
    """The label in orderings and figure titles."""
    train_input: str
    test_input: str
    depth: int | None
    """d of the codec whose latents or reconstructions the row uses (None: no codec)."""
    trained_by: str
    """Key of the row whose segmenter this row evaluates (itself, except BL 2)."""

    @property
    def parts(self) -> tuple[str, ...]:
        """The network parts its pipeline runs, by the paper's column names."""
        if self.test_input == "latent":
            return ("net_C", "net_seg,D")
        if self.test_input == "decoded":
            return COST_PARTS
        return ("net_seg,E", "net_seg,D")


def table1_methods(depths: tuple[int, ...] = (1, 2, 3), reference_depth: int = 2
                   ) -> list[Method]:
    """The rows in the paper's order: proposed for each d, then BL 1–4 at the reference d."""
    rows = [Method(f"proposed_d{d}", f"proposed, d = {d}", f"proposed d{d}", "latent", "latent",
                   d, f"proposed_d{d}")
            for d in depths]
    ref = reference_depth
    rows += [
        Method("bl1", "BL 1 (originals)", "BL 1", "image", "image", None, "bl1"),
        Method("bl2", "BL 2 (BL 1 on net_D output)", "BL 2", "image", "decoded", ref, "bl1"),
        Method("bl3", "BL 3 (net_D output)", "BL 3", "decoded", "decoded", ref, "bl3"),
        Method("bl4", "BL 4 (JPEG at the same CF)", "BL 4", "jpeg", "jpeg", None, "bl4"),
    ]
    return rows


class Table1:
    """Builds Table I step by step, reusing whatever an earlier run left in ``out_dir``."""

    def __init__(self, config: Table1Config, log: Callable[[str], None] = print,
                 show_progress: bool = True) -> None:
        if config.reference_depth not in config.depths:
            raise ValueError(f"the reference depth {config.reference_depth} (BL 2–4) must be one "
                             f"of the depths {config.depths}")
        self.config = config
        self.log = log
        self.show_progress = show_progress
        self.out_dir = Path(config.out_dir)
        self.spec = label_spec(config.dataset)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.methods = table1_methods(config.depths, config.reference_depth)
        recipe = SegTrainConfig(**config.train)
        self.input_norm = recipe.input_norm
        """Whether the recipe's latent segmenters normalise their input (checked on reuse)."""
        self.class_weights = recipe.class_weights
        """The recipe's loss weighting (checked on reuse: it changes every row's result)."""
        self.samples = list_samples(config.dataset, config.data_root, config.test_split)
        if config.test_limit:
            self.samples = self.samples[: config.test_limit]
        self.runners = {}
        for depth in config.depths:
            codec, _ = load_codec(resolve_weights(config.codec_weights, depth, 8))
            if codec.config.depth != depth:
                raise ValueError(f"{config.codec_weights} is a d={codec.config.depth} codec; a "
                                 f"table over d = {depth} needs the 'default' weights or "
                                 f"depths {codec.config.depth} only")
            self.runners[depth] = TorchCodec(codec, self.device)

    # -- steps -----------------------------------------------------------------------------
    def codec_quality(self, depth: int) -> dict:
        """CF, PSNR and SSIM of the d codec on the test frames (``eval-codec``'s numbers)."""
        runner = self.runners[depth]
        key = {"codec_id": runner.codec_id, "net_D": runner.decoder_id, **self._test_key()}
        return self._cached(self.out_dir / f"codec_d{depth}.json", key, lambda: codec_eval.evaluate(
            runner, ((s.name, load_rgb(s.image)) for s in self.samples), total=len(self.samples),
            show_progress=self.show_progress))

    @cached_property
    def jpeg_cf(self) -> float:
        """BL 4's target CF: the reference codec's mean CF, rounded (see module docstring)."""
        return float(round(self.codec_quality(self.config.reference_depth)["cf"]))

    def jpeg_quality(self) -> dict:
        """CF, PSNR and SSIM of the JPEG frames BL 4 sees."""
        def measure() -> dict:
            rows = []
            for sample in self.samples:
                image = load_rgb(sample.image)
                result = encode_at_cf(image, "jpeg", self.jpeg_cf)
                rows.append((result.cf, psnr(image, result.decoded), ssim(image, result.decoded)))
            cf, peak, structure = np.mean(rows, axis=0)
            return {"cf": float(cf), "psnr": float(peak), "ssim": float(structure),
                    "frames": len(rows)}
        key = {"jpeg_cf": self.jpeg_cf, **self._test_key()}
        return self._cached(self.out_dir / "jpeg.json", key, measure)

    def segmenter(self, method: Method) -> Path:
        """``OUT_DIR/<row>/segmenter.pt``, trained (or resumed) first if it is not there yet."""
        run_dir = self.out_dir / method.trained_by
        path = run_dir / "segmenter.pt"
        if path.is_file():
            return path
        trainer_method = next(m for m in self.methods if m.key == method.trained_by)
        config = SegTrainConfig(**{
            **self.config.train,
            "input": trainer_method.train_input, "preset": self.config.preset,
            "dataset": self.config.dataset, "data_root": self.config.data_root,
            "split": self.config.train_split, "val_split": self.config.val_split,
            "codec_weights": self.config.codec_weights,
            "depth": trainer_method.depth or self.config.reference_depth,
            "jpeg_cf": self.jpeg_cf, "out_dir": str(run_dir), "cache_dir": self.config.cache_dir,
        })
        runner = self.runners[trainer_method.depth] if trainer_method.depth else None
        self.log(f"training {trainer_method.label} ({config.iterations} iterations) in {run_dir}")
        trainer = SegTrainer(config, runner, log=self.log, show_progress=self.show_progress)
        if (run_dir / "last.pt").is_file():
            trainer.resume(run_dir / "last.pt")
        trainer.run(show_progress=self.show_progress)
        return trainer.export_best(path)

    def segmentation(self, method: Method) -> dict:
        """Dice and IoU on the test split plus the masks of the figure's frames."""
        path = self.segmenter(method)
        model, model_config, meta = load_segmenter(path, self.device)
        runner = self.runners[method.depth] if method.depth else None
        self._check_reusable(path, method, model_config, meta, runner)
        key = {"weights_sha256": _file_digest(path), "input": method.test_input,
               "codec_id": runner.codec_id if runner else None,
               "net_D": runner.decoder_id if method.test_input == "decoded" else None,
               "jpeg_cf": self.jpeg_cf if method.test_input == "jpeg" else None,
               "figure_frames": self.figure_indices(), **self._test_key()}

        def measure() -> dict:
            data = load_split(method.test_input, self.config.dataset, self.config.data_root,
                              self.config.test_split, runner=runner,
                              cache_dir=self.config.cache_dir, jpeg_cf=self.jpeg_cf,
                              limit=self.config.test_limit, show_progress=self.show_progress)
            summary = evaluate(model, data, self.spec, self.device, self.show_progress)
            masks = []
            for index in self.figure_indices():
                frame = data.frames[index]
                with torch.no_grad():
                    labels = predict_labels(model, frame.input_tensor()[None].to(self.device),
                                            frame.size)
                masks.append(labels[0].cpu().numpy().astype(np.uint8).tolist())
            return {**summary, "figure_masks": masks}

        return self._cached(self.out_dir / method.key / f"eval_{self.config.test_split}.json",
                            key, measure)

    def _check_reusable(self, path: Path, method: Method, model_config: SegmenterConfig,
                        meta: dict, runner: TorchCodec | None) -> None:
        """Refuse, with what to do about it, a segmenter this row must not be measured with.

        Files in ``OUT_DIR/<row>`` may come from an earlier run or from ``train-seg --export``,
        so they are checked against the row: input kind, codec id, the recipe's latent input
        norm and class weighting, and (BL 3) the net_D whose pictures it learned from.
        """
        if model_config.input_kind != model_input_kind(method.test_input):
            raise ValueError(f"{path} takes {model_config.input_kind}s; {method.label} tests on "
                             f"{method.test_input}")
        if method.test_input == "latent":
            check_codec(meta, runner.codec_id)
        if method.train_input == "latent" and model_config.input_norm != self.input_norm:
            trained = "with" if model_config.input_norm else "without"
            flag = "--input-norm" if self.input_norm else "--no-input-norm"
            raise ValueError(f"{path} was trained {trained} the latent input norm, the recipe "
                             f"asks for {flag}: delete {path.parent} to train {method.label} "
                             "again")
        weighting = trained_class_weighting(meta["provenance"])
        if weighting != self.class_weights:
            raise ValueError(f"{path} was trained with --class-weights {weighting}, the recipe "
                             f"asks for {self.class_weights}: delete {path.parent} to train "
                             f"{method.label} again")
        trained_on = meta["provenance"].get("net_D")
        if method.train_input == "decoded" and trained_on not in (None, runner.decoder_id):
            raise ValueError(f"{path} was trained on the pictures of another net_D ({trained_on}); "
                             f"this codec's net_D is {runner.decoder_id}: delete "
                             f"{path.parent} to train {method.label} again")

    def figure_indices(self) -> list[int]:
        """Evenly spread test frames for the Fig. 7-style panel."""
        count = min(self.config.figure_frames, len(self.samples))
        return sorted({int(i) for i in np.linspace(0, len(self.samples) - 1, count)})

    # -- the table -------------------------------------------------------------------------
    def build(self) -> dict:
        """Train what is missing, evaluate every row, and return the table as a dict."""
        quality = {d: self.codec_quality(d) for d in self.config.depths}
        jpeg = self.jpeg_quality()
        height, width = load_rgb(self.samples[0].image).shape[:2]
        classes = len(self.spec.classes)
        costs = {d: {p.part: p for p in network_costs(
                     height, width, d, self.config.preset, classes,
                     stem=self.runners[d].config.stem, arch=self.runners[d].config.arch,
                     synthesis_blocks=self.runners[d].config.synthesis_blocks)}
                 for d in self.config.depths}
        rows, masks = [], {}
        for method in self.methods:
            result = self.segmentation(method)
            masks[method.key] = [np.asarray(mask, dtype=np.uint8)
                                 for mask in result["figure_masks"]]
            if method.test_input == "jpeg":
                picture = jpeg
            elif method.depth is not None:
                picture = quality[method.depth]
            else:
                picture = {"cf": 1.0, "psnr": None, "ssim": 1.0}
            part_costs = costs[method.depth or self.config.reference_depth]
            parts = {}
            for part in method.parts:
                name = "net_seg,D'" if part == "net_seg,D" and method.test_input == "latent" \
                    else part
                parts[part] = {"params": part_costs[name].params, "macs": part_costs[name].macs}
            rows.append({
                "key": method.key, "label": method.label, "short": method.short,
                "train_input": method.train_input,
                "test_input": method.test_input, "depth": method.depth,
                "segmenter": str(self.out_dir / method.trained_by / "segmenter.pt"),
                "cf": picture["cf"], "psnr": picture["psnr"], "ssim": picture["ssim"],
                "dice": result["dice"], "miou": result["miou"], "per_class": result["per_class"],
                "parts": parts, "total_macs": sum(p["macs"] for p in parts.values()),
                "paper": PAPER_TABLE1.get(method.key),
            })
        return {
            "dataset": self.config.dataset, "test_split": self.config.test_split,
            "frames": len(self.samples), "frame_size": [height, width],
            "preset": self.config.preset, "reference_depth": self.config.reference_depth,
            "jpeg_cf": self.jpeg_cf, "classes": list(self.spec.classes),
            "config": asdict(self.config), "rows": rows,
            "figure": {"frames": [self.samples[i].name for i in self.figure_indices()],
                       "masks": masks},
        }

    def draw_figure(self, table: dict, path: Path) -> Path:
        """The Fig. 7-style panel of :meth:`build`'s figure frames (see :mod:`seg_figure`)."""
        samples = [self.samples[i] for i in self.figure_indices()]
        return plot_masks([load_rgb(s.image) for s in samples],
                          [load_label(s.label, self.config.dataset) for s in samples],
                          {row["short"]: table["figure"]["masks"][row["key"]]
                           for row in table["rows"]},
                          table["classes"], path)

    # -- helpers ---------------------------------------------------------------------------
    def _test_key(self) -> dict:
        return {"dataset": self.config.dataset, "split": self.config.test_split,
                "frames": [s.name for s in self.samples]}

    def _cached(self, path: Path, key: dict, compute: Callable[[], dict]) -> dict:
        """``compute()``'s result, stored at ``path`` with ``key``; reused while key matches."""
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored.get("key") == key:
                return stored["result"]
        result = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps({"key": key, "result": result}).encode())
        return result


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

