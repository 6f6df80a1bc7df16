"""Order-0 entropy of integer symbols: the bound the Huffman coder is measured against.

numpy only (no C extension), so training code can report real rates on any machine.
"""

from __future__ import annotations

import numpy as np


def entropy_bits(symbols: np.ndarray) -> float:
    """Order-0 entropy bound of the whole array in bits: sum over symbols of -log2 p(symbol).

    This is what an ideal single-table order-0 coder would spend; Huffman pays at most one bit
    per symbol more (usually a few %), and per-channel tables can go below it.
    """
    flat = np.asarray(symbols).reshape(-1)
    if flat.size == 0:
        return 0.0
    counts = np.bincount(flat.astype(np.intp, copy=False))
    counts = counts[counts > 0].astype(np.float64)
    return max(0.0, float(-(counts * np.log2(counts / flat.size)).sum()))  # no -0.0


def channel_entropy_bits(codes: np.ndarray) -> np.ndarray:
    """Order-0 entropy of each channel (first axis) in bits per symbol: what per-channel
    Huffman tables (the coder's mode 1) approach, and the figure behind 'dead channel' reports."""
    return np.array([entropy_bits(channel) / max(channel.size, 1) for channel in codes])
