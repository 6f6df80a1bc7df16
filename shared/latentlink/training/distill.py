"""Knowledge distillation from an image segmenter that saw the original frames.

Why: a segmenter on compressed inputs (latents, JPEG) only ever sees what the codec kept, and
its labels say nothing about how sure one can be at a pixel. At training time the cloud still
has the original frames of its training set, so a model trained on them (BL 1) can say, pixel
by pixel, how the scene looks before compression. The student keeps its input and its cost;
only its loss gains a term that pulls its class probabilities towards the teacher's (Hinton et
al. 2015, applied per pixel as in Liu et al., "Structured Knowledge Distillation for Semantic
Segmentation", CVPR 2019). Every input kind can take the same teacher, so Table I's rows can
still share one recipe.

The teacher runs once per training view (plain, mirrored and every augmented view, each on the
*original* frame of that view) before training starts; its logits, at its output stride, are
kept in memory as float16 beside the view's input and cropped with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from latentlink.codec.frames import pad_to_multiple
from latentlink.models.segmenter_weights import load_segmenter
from latentlink.training.patches import to_tensor


class Teacher:
    """A frozen image segmenter whose logits on original frames are the distillation targets."""

    def __init__(self, path: Path | str, class_names: tuple[str, ...], input_stride: int,
                 device: torch.device | str = "cpu", bf16: bool = False) -> None:
        model, config, meta = load_segmenter(path, device)
        if config.input_kind != "image":
            raise ValueError(f"the teacher {path} segments {config.input_kind}s; distillation "
                             "needs a segmenter of original frames (e.g. BL 1: --input image)")
        if meta["class_names"] and meta["class_names"] != tuple(class_names):
            raise ValueError(f"the teacher {path} predicts {', '.join(meta['class_names'])}, "
                             f"not this data set's {', '.join(class_names)}")
        if config.num_classes != len(class_names):
            raise ValueError(f"the teacher {path} has {config.num_classes} classes, this data "
                             f"set {len(class_names)}")
        self.model, self.device, self.bf16 = model, torch.device(device), bf16
        self.stride = model.output_stride
        if max(self.stride, input_stride) % min(self.stride, input_stride):
            raise ValueError(f"the teacher's output stride {self.stride} and the student's input "
                             f"stride {input_stride} must divide one another")
        self.pad_multiple = max(self.stride, input_stride)
        """Frames are padded as the student's inputs are, so the teacher's grid covers them."""

    @torch.inference_mode()
    def logits(self, image: np.ndarray) -> np.ndarray:
        """float16 C×⌈H/s⌉×⌈W/s⌉ logits (s = the teacher's output stride) of a uint8 frame
        reflect-padded to the student's input grid, as net_C's input is."""
        x = to_tensor(pad_to_multiple(image, self.pad_multiple)).to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(x)["out"]
        return out[0].float().cpu().numpy().astype(np.float16)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pixel KL(teacher ‖ student) of the temperature-softened class distributions, × T².

    ``student`` is B×C×h×w at the student's output stride, ``teacher`` B×C×h′×w′ at the
    teacher's; the student's logits are resized (bilinear) to the teacher's grid, as the
    segmentation loss resizes them to the labels. T² keeps the gradient's size independent of T.
    The mean is plain, or weighted by ``weights`` (B×h′×w′, from :func:`cell_weights`).
    """
    if student.shape[:2] != teacher.shape[:2]:
        raise ValueError(f"student logits {tuple(student.shape)} and teacher logits "
                         f"{tuple(teacher.shape)} differ in batch or classes")
    student = student.float()
    if student.shape[-2:] != teacher.shape[-2:]:
        student = F.interpolate(student, size=teacher.shape[-2:], mode="bilinear",
                                align_corners=False)
    log_student = F.log_softmax(student / temperature, dim=1)
    log_teacher = F.log_softmax(teacher.float() / temperature, dim=1)
    per_pixel = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1)
    if weights is None:
        return per_pixel.mean() * temperature**2
    if weights.shape != per_pixel.shape:
        raise ValueError(f"cell weights {tuple(weights.shape)} do not match the teacher's "
                         f"grid {tuple(per_pixel.shape)}")
    total = weights.sum()
    if total <= 0:
        return per_pixel.sum() * 0.0
    return (per_pixel * weights).sum() / total * temperature**2


def cell_weights(labels: torch.Tensor, class_weights: torch.Tensor | None, ignore_index: int,
                 grid: tuple[int, int]) -> torch.Tensor:
    """B×h′×w′ weights of the teacher's cells: the mean class weight of each cell's labels.

    Why: the cross-entropy beside the distillation term weights every labelled pixel by its
    class (``--class-weights``) and skips void; a plain mean of the KL would hand the frequent
    classes back the share of the loss that weighting took from them (measured at seed 0:
    doubling the plain term cost the latent model 0.10 Dice on sign symbols). Void pixels weigh
    0, so a cell of void only is not distilled; without class weights every labelled pixel
    weighs 1.
    """
    labelled = labels != ignore_index
    if class_weights is None:
        weights = labelled.float()
    else:
        weights = class_weights[torch.where(labelled, labels, 0)] * labelled
    return F.adaptive_avg_pool2d(weights[:, None].float(), grid)[:, 0]
