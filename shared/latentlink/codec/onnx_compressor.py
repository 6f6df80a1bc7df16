"""net_C under ONNX Runtime: what runs on the vehicle (numpy + onnxruntime, no torch).

The ONNX file carries the codec's identity in its metadata (``latentlink.codec_id``, ``.depth``,
``.bits``), written by ``latentlink export-onnx``, so the agent needs no other file to produce
containers the cloud will accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentlink.codec import container
from latentlink.codec.frames import frame_to_input

METADATA_PREFIX = "latentlink."


class OnnxModelError(ValueError):
    """The ONNX file is missing, unreadable, or lacks LatentLink's metadata."""


@dataclass(frozen=True)
class CodecInfo:
    codec_id: str
    depth: int
    bits: int
    quantizer: str = "frame"
    """float2int's range rule; models exported before the factorized codec carry none: frame."""


class OnnxCompressor:
    """An onnxruntime session of net_C plus the codec metadata needed to build containers."""

    def __init__(
        self,
        path: Path | str,
        *,
        threads: int = 0,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
    ) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise OnnxModelError(f"ONNX model {path} does not exist")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # ONNX Runtime's worker threads otherwise spin after each run and steal the core that the
        # agent's quantise/Huffman/upload threads need next (measured by the edge benchmark:
        # quantise 13 ms instead of 0.8 ms with 2 threads).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=list(providers))
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise OnnxModelError(f"cannot load ONNX model {path}: {error}") from error
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.info = CodecInfo(
                meta[METADATA_PREFIX + "codec_id"],
                int(meta[METADATA_PREFIX + "depth"]),
                int(meta[METADATA_PREFIX + "bits"]),
                meta.get(METADATA_PREFIX + "quantizer", "frame"),
            )
        except (KeyError, ValueError) as error:
            raise OnnxModelError(
                f"{path} has no LatentLink codec metadata; export it with 'latentlink export-onnx'"
            ) from error
        self.input_name = self.session.get_inputs()[0].name

    def compress(self, image: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 → float32 latent 16×h×w."""
        x = frame_to_input(image, self.info.depth)
        return self.session.run(None, {self.input_name: x})[0][0]

    def encode(self, image: np.ndarray, meta: container.CaptureMeta) -> bytes:
        return container.encode_latent(
            self.compress(image),
            bits=self.info.bits,
            quantizer=self.info.quantizer,
            codec_id=self.info.codec_id,
            depth=self.info.depth,
            image_size=image.shape[:2],
            meta=meta,
        )
