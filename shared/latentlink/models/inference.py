"""Running a trained codec on whole frames with torch (evaluation, cloud reconstruction).

The vehicle runs net_C through ONNX Runtime instead (:mod:`latentlink.codec.onnx_compressor`);
both produce the same containers (parity is tested).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentlink.codec import container
from latentlink.codec.frames import frame_to_input, output_to_image
from latentlink.codec.quantize import int2float
from latentlink.models.compressor import Codec
from latentlink.models.weights import codec_id, decoder_id

RECONSTRUCT_TILE = 96
"""Latent pixels per side of one net_D tile (768×768 frame pixels at d = 2)."""


def receptive_radius(decompressor: torch.nn.Module, channels: int = 16) -> float:
    """How far (in latent pixels) an output pixel of net_D looks: the sum, over its convolutions
    in the order they run, of each kernel's reach scaled to the latent grid.

    Measured by tracing one small forward pass rather than written down per architecture, so a
    net_D grown by extra blocks (``--synthesis-blocks``) gets its wider halo automatically.
    """
    side = 8
    reach = 0.0

    def add(conv: torch.nn.Module, inputs: tuple[torch.Tensor, ...], _output: object) -> None:
        nonlocal reach
        scale = side / inputs[0].shape[-1]
        reach += (conv.kernel_size[-1] // 2) * conv.dilation[-1] * scale

    hooks = [m.register_forward_hook(add) for m in decompressor.modules()
             if isinstance(m, torch.nn.Conv2d)]
    try:
        device = next(decompressor.parameters()).device
        with torch.no_grad():
            decompressor(torch.full((1, channels, side, side), 0.5, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return reach


class TorchCodec:
    """A loaded :class:`Codec` with frame-level ``compress`` / ``encode`` / ``reconstruct``."""

    def __init__(self, codec: Codec, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.codec = codec.to(self.device).eval()
        self.config = codec.config
        self.codec_id = codec_id(codec)
        self.decoder_id = decoder_id(codec)
        """net_D's weights, which can change under one codec id (see
        :func:`latentlink.models.weights.decoder_id`)."""
        self.halo = math.ceil(receptive_radius(self.codec.decompressor)) + 1
        """Latent pixels of context around each net_D tile: beyond net_D's receptive field, so a
        tile's zero padding never reaches the pixels that are kept."""

    @torch.no_grad()
    def compress(self, image: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 → net_C's float32 latent, 16×h×w."""
        x = torch.from_numpy(frame_to_input(image, self.config.depth)).to(self.device)
        return self.codec.compressor(x)[0].float().cpu().numpy()

    def encode(self, image: np.ndarray, meta: container.CaptureMeta) -> bytes:
        """A full container for one frame, as the vehicle would upload it."""
        return container.encode_latent(
            self.compress(image),
            bits=self.config.bits,
            quantizer=self.config.quantizer,
            codec_id=self.codec_id,
            depth=self.config.depth,
            image_size=image.shape[:2],
            meta=meta,
        )

    @torch.no_grad()
    def reconstruct(self, frame: container.Frame, tile: int = RECONSTRUCT_TILE) -> np.ndarray:
        """net_D(int2float(latent)) cropped to the original size, as uint8 H×W×3 (Eq. 3).

        net_D runs on ``tile``×``tile`` latent tiles, each with ``self.halo`` latent pixels of
        context on every side that are cropped off afterwards, so its peak memory is
        that of one tile whatever the frame's size (a whole 2048×2048 frame at d=2 needs
        ~0.6 GB of activations at once), and the picture is the same as the untiled pass.
        """
        if frame.header.codec != self.codec_id:
            raise ValueError(
                f"frame was made by codec {frame.header.codec}, this is {self.codec_id}"
            )
        latent = torch.from_numpy(int2float(frame.quantized))[None]
        height, width = frame.header.size
        scale = self.config.downsampling
        rows, cols = latent.shape[-2:]
        image = np.empty((height, width, 3), np.uint8)
        for top in range(0, rows, tile):
            for left in range(0, cols, tile):
                y0, x0 = max(top - self.halo, 0), max(left - self.halo, 0)
                y1 = min(top + tile + self.halo, rows)
                x1 = min(left + tile + self.halo, cols)
                piece = latent[..., y0:y1, x0:x1].to(self.device)
                output = self.codec.decompressor(piece).float()
                oy, ox = top * scale, left * scale
                keep_h, keep_w = min(tile * scale, height - oy), min(tile * scale, width - ox)
                inner = output[..., (top - y0) * scale:, (left - x0) * scale:]
                image[oy:oy + keep_h, ox:ox + keep_w] = output_to_image(
                    inner.cpu().numpy(), keep_h, keep_w)
        return image
