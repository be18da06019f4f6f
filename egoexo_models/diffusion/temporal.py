"""Temporal self-attention across the frames of a video, applied at every spatial location."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def frame_position_encoding(
    num_frames: int, channels: int, *, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Sinusoidal encoding of frame indices 0..num_frames-1, shape (num_frames, channels)."""
    half = channels // 2
    frequencies = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=device, dtype=torch.float32) / half
    )
    angles = torch.arange(num_frames, device=device, dtype=torch.float32)[:, None] * frequencies[None, :]
    encoding = torch.cat([angles.sin(), angles.cos()], dim=1)
    if channels % 2:
        encoding = F.pad(encoding, (0, 1))
    return encoding.to(dtype)


class TemporalAttention(nn.Module):
    """Residual self-attention over frames: every pixel attends to itself in the other frames.

    Input and output are (B*F, C, H, W) with the F frames of each video consecutive. The output
    projection starts at zero, so a freshly added layer leaves a pretrained image UNet unchanged.
    With `mask_conditioned`, a linear projection of the HOI mask feature h (paper §2.3, "fed to the
    temporal attention layer after linear projection") is added to the attention's input tokens;
    it also starts at zero and has no bias, so a zero mask feature is exactly "no mask".
    """

    def __init__(
        self, channels: int, *, head_dim: int, norm_groups: int, mask_conditioned: bool = False
    ) -> None:
        super().__init__()
        if channels % head_dim:
            raise ValueError(
                f"temporal attention: channels {channels} must be a multiple of head_dim {head_dim}"
            )
        self.num_heads = channels // head_dim
        self.norm = nn.GroupNorm(norm_groups, channels, eps=1e-6)
        self.to_qkv = nn.Linear(channels, 3 * channels, bias=False)
        self.to_out = nn.Linear(channels, channels)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)
        self.mask_proj: nn.Linear | None = None
        if mask_conditioned:
            self.mask_proj = nn.Linear(channels, channels, bias=False)
            nn.init.zeros_(self.mask_proj.weight)

    def forward(
        self, x: torch.Tensor, num_frames: int, mask_feature: torch.Tensor | None = None
    ) -> torch.Tensor:
        frames_total, channels, height, width = x.shape
        batch = frames_total // num_frames
        tokens = _to_frame_sequences(self.norm(x), batch, num_frames)
        if mask_feature is not None and self.mask_proj is not None:
            tokens = tokens + self.mask_proj(_to_frame_sequences(mask_feature, batch, num_frames))
        tokens = tokens + frame_position_encoding(num_frames, channels, device=x.device, dtype=tokens.dtype)
        query, key, value = self.to_qkv(tokens).chunk(3, dim=-1)
        heads = [t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2) for t in (query, key, value)]
        attended = F.scaled_dot_product_attention(*heads).transpose(1, 2).flatten(2)
        out = self.to_out(attended)
        out = out.reshape(batch, height, width, num_frames, channels).permute(0, 3, 4, 1, 2)
        return x + out.reshape(frames_total, channels, height, width)


def _to_frame_sequences(x: torch.Tensor, batch: int, num_frames: int) -> torch.Tensor:
    """(B*F, C, H, W) -> (B*H*W, F, C): one sequence of F tokens per video and pixel."""
    _, channels, height, width = x.shape
    x = x.reshape(batch, num_frames, channels, height * width).permute(0, 3, 1, 2)
    return x.reshape(batch * height * width, num_frames, channels)
