"""Running a trained codec on whole frames with torch (evaluation, cloud reconstruction).

The vehicle runs net_C through ONNX Runtime instead (:mod:`latentlink.codec.onnx_compressor`);
both produce the same containers (parity is tested).
"""

from __future__ import annotations

import numpy as np
import torch

from latentlink.codec import container
from latentlink.codec.frames import frame_to_input, output_to_image
from latentlink.codec.quantize import int2float
from latentlink.models.compressor import Codec
from latentlink.models.weights import codec_id


class TorchCodec:
    """A loaded :class:`Codec` with frame-level ``compress`` / ``encode`` / ``reconstruct``."""

    def __init__(self, codec: Codec, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.codec = codec.to(self.device).eval()
        self.config = codec.config
        self.codec_id = codec_id(codec)

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
    def reconstruct(self, frame: container.Frame) -> np.ndarray:
        """net_D(int2float(latent)) cropped to the original size, as uint8 H×W×3 (Eq. 3)."""
        if frame.header.codec != self.codec_id:
            raise ValueError(
                f"frame was made by codec {frame.header.codec}, this is {self.codec_id}"
            )
        latent = torch.from_numpy(int2float(frame.quantized))[None].to(self.device)
        output = self.codec.decompressor(latent).float().cpu().numpy()
        return output_to_image(output, *frame.header.size)
