"""The rate model of the factorized codec: one learned discrete distribution per latent channel.

Why per channel: the bitstream codes every channel with its own Huffman table, so the cost of a
channel depends on *its* distribution only. A pooled histogram over all channels (the paper-recipe
proxy kept in :mod:`latentlink.models.quantization`) overstates that cost and its gradient pushes
every channel towards the globally most frequent code, which killed 9 of 16 channels of the
earlier default codec (issue 10).

The density is non-parametric, as in the factorized prior of Ballé et al. (2018), but discrete:
``P_c(k)`` for every integer code ``k`` of the n-bit alphabet, a softmax over learned logits. A
continuous, noisy code value ``s̃ = s + u`` (u uniform in ±½, the training stand-in for rounding)
costs ``-log2 p_c(s̃)`` with ``p_c`` the linear interpolation of ``P_c`` between the two nearest
integers. At integer points this is exactly what an ideal order-0 coder with per-channel tables
spends, and it is differentiable in both the codes (the gradient that shapes net_C) and the
logits (fitted by the same loss, i.e. maximum likelihood).
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelDensity(nn.Module):
    """Learned P_c(k), k = 0 … 2^n − 1, for each of ``channels`` latent channels."""

    def __init__(self, channels: int, bits: int) -> None:
        super().__init__()
        self.levels = 2**bits
        self.logits = nn.Parameter(torch.zeros(channels, self.levels))

    def bits(self, codes: torch.Tensor) -> torch.Tensor:
        """−log2 p_c(s) for continuous codes ``s`` (B×C×h×w), summed per frame → shape (B,).

        Values outside [0, 2^n − 1] are charged the edge bin's cost plus one bit per level of
        overshoot: the coder clips them, so the rate model must push them back in, with a
        gradient rather than the dead zone of a clamp.
        """
        batch, channels = codes.shape[:2]
        top = self.levels - 1
        flat = codes.float().reshape(batch, channels, -1)
        inside = flat.clamp(0, top)
        overshoot = (flat - inside).abs()
        lower = inside.detach().floor().clamp(max=top - 1)
        frac = inside - lower
        log_probs = torch.log_softmax(self.logits.float(), dim=1)  # C×L
        index = lower.long().permute(1, 0, 2).reshape(channels, -1)  # C×(B·N)
        p_low = log_probs.gather(1, index).exp()
        p_high = log_probs.gather(1, index + 1).exp()
        frac_c = frac.permute(1, 0, 2).reshape(channels, -1)
        prob = (1 - frac_c) * p_low + frac_c * p_high
        bits = -torch.log2(prob.clamp_min(1e-9))
        bits = bits.reshape(channels, batch, -1).permute(1, 0, 2)
        return (bits + overshoot).sum(dim=(1, 2))

    @torch.no_grad()
    def channel_entropy(self) -> torch.Tensor:
        """Entropy of each channel's learned distribution in bits per symbol (for reports)."""
        log_probs = torch.log_softmax(self.logits.float(), dim=1)
        return -(log_probs.exp() * log_probs).sum(dim=1) / torch.log(torch.tensor(2.0))


def quantize_codes(codes: torch.Tensor, levels: int, training: bool) -> torch.Tensor:
    """Round to the integer alphabet [0, levels − 1], straight-through while training.

    net_D sees exactly the clipped integers the receiver will get, while gradients pass through
    the rounding and the clip unchanged (no dead zone, unlike the paper recipe's clamp).
    """
    hard = torch.floor(codes + 0.5).clamp(0, levels - 1)
    return codes + (hard - codes).detach() if training else hard
