"""Frame → container: net_C under ONNX Runtime, float2int, Huffman, msgpack (the shared code).

A thin layer over :class:`latentlink.codec.onnx_compressor.OnnxCompressor` that adds what the
agent needs around it: provider checking at start-up (a misspelt provider is a configuration
error, not a silent CPU fallback), the capture metadata, and the per-frame figures it logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.sources import Capture
from latentlink.codec.container import CaptureMeta
from latentlink.codec.onnx_compressor import CodecInfo, OnnxCompressor, OnnxModelError


class EncoderError(ValueError):
    """The model or the execution providers cannot be used; the message says why."""


@dataclass(frozen=True)
class EncodedFrame:
    """A container ready to spool, with the figures logged for it."""

    frame_id: str
    data: bytes
    size: tuple[int, int]
    encode_ms: float

    @property
    def compression_factor(self) -> float:
        """3·H·W over the container's bytes, as the cloud reports it."""
        height, width = self.size
        return 3 * height * width / len(self.data)


class FrameEncoder:
    """Encodes captures of one vehicle and camera with one net_C session."""

    def __init__(
        self,
        model: Path,
        *,
        vehicle: str,
        camera: str,
        threads: int = 0,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
    ) -> None:
        import onnxruntime

        unknown = sorted(set(providers) - set(onnxruntime.get_available_providers()))
        if unknown:
            raise EncoderError(
                f"execution provider(s) {', '.join(unknown)} not available in this onnxruntime "
                f"build (available: {', '.join(onnxruntime.get_available_providers())})"
            )
        try:
            self.compressor = OnnxCompressor(model, threads=threads, providers=providers)
        except OnnxModelError as error:
            raise EncoderError(str(error)) from error
        self.vehicle, self.camera = vehicle, camera

    @property
    def info(self) -> CodecInfo:
        return self.compressor.info

    @property
    def providers(self) -> list[str]:
        """The providers the session really uses: ONNX Runtime falls back to the CPU silently
        when an accelerator's provider cannot start, so this is what start-up logs."""
        return self.compressor.session.get_providers()

    def encode(self, capture: Capture) -> EncodedFrame:
        """Raises ``ValueError`` for a frame that is not uint8 H×W×3."""
        meta = CaptureMeta(
            vehicle=self.vehicle, frame=capture.frame_id, ts=capture.ts, camera=self.camera
        )
        started = time.perf_counter()
        data = self.compressor.encode(capture.image, meta)
        elapsed_ms = 1000 * (time.perf_counter() - started)
        return EncodedFrame(capture.frame_id, data, capture.image.shape[:2], elapsed_ms)
