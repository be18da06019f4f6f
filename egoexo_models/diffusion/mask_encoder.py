"""ψmask: a light encoder of the ego HOI label maps into multi-scale spatio-temporal features.

Paper §2.3, Eq. 3: several downsampling blocks, each a ResNet block followed by temporal attention,
give one feature map per UNet decoder resolution. The label maps enter at pixel resolution as two
binary channels (hand, object), are folded to the latent resolution by pixel-unshuffle (factor =
the VAE's downscale factor), and every level ends in a zero-initialised 1x1 convolution to the
decoder's channel count, so a fresh ψ leaves the phase-1 UNet's output unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

from egoexo_models.clip import LABEL_HAND, LABEL_OBJECT
from egoexo_models.diffusion.temporal import TemporalAttention

MASK_CHANNELS = 2  # hand, interacting object


@dataclass(frozen=True)
class MaskEncoderConfig:
    """Architecture of ψmask.

    downscale: pixel-unshuffle factor from label-map pixels to the latent grid (the VAE's factor).
    block_channels: channels of ψ's own blocks, one per UNet level (level 0 at the latent resolution).
    output_channels: the UNet decoder's channels per level (VideoUNetConfig.block_channels).
    """

    downscale: int = 8
    block_channels: tuple[int, ...] = (16, 32, 64)
    output_channels: tuple[int, ...] = (32, 64, 128)
    attention_head_dim: int = 16
    norm_num_groups: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_channels", tuple(self.block_channels))
        object.__setattr__(self, "output_channels", tuple(self.output_channels))
        if len(self.block_channels) != len(self.output_channels) or not self.block_channels:
            raise ValueError(
                f"MaskEncoderConfig: block_channels {self.block_channels} and output_channels "
                f"{self.output_channels} need one entry per UNet level"
            )
        for channels in self.block_channels:
            if channels % self.norm_num_groups or channels % self.attention_head_dim:
                raise ValueError(
                    f"MaskEncoderConfig: block channel count {channels} must be divisible by norm_num_groups "
                    f"{self.norm_num_groups} and attention_head_dim {self.attention_head_dim}"
                )
        if self.downscale < 1:
            raise ValueError(f"MaskEncoderConfig: downscale must be at least 1, got {self.downscale}")


def label_maps_to_channels(labels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Ego label maps (..., H, W) with {0 background, 1 hand, 2 object} -> float (..., 2, H, W) binary channels."""
    labels = torch.as_tensor(labels)
    return torch.stack([labels == LABEL_HAND, labels == LABEL_OBJECT], dim=-3).float()


class MaskEncoderLevel(nn.Module):
    """One downsampling block of ψ: (stride-2 conv), ResNet block, temporal attention, zero 1x1 output conv."""

    def __init__(
        self, in_channels: int, channels: int, out_channels: int, downsample: bool, config: MaskEncoderConfig
    ):
        super().__init__()
        self.downsample = nn.Conv2d(in_channels, in_channels, 3, stride=2, padding=1) if downsample else None
        self.resnet = ResnetBlock2D(
            in_channels=in_channels,
            out_channels=channels,
            temb_channels=None,
            groups=config.norm_num_groups,
            eps=1e-5,
        )
        self.temporal = TemporalAttention(
            channels, head_dim=config.attention_head_dim, norm_groups=config.norm_num_groups
        )
        self.out = nn.Conv2d(channels, out_channels, kernel_size=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, hidden: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.downsample is not None:
            hidden = self.downsample(hidden)
        hidden = self.temporal(self.resnet(hidden, None), num_frames)
        return hidden, self.out(hidden)


class MaskEncoder(nn.Module):
    """ψmask: (B, F, 2, H, W) binary hand/object masks -> per-level features, level 0 first."""

    def __init__(self, config: MaskEncoderConfig) -> None:
        super().__init__()
        self.config = config
        unshuffled = MASK_CHANNELS * config.downscale**2
        self.conv_in = nn.Conv2d(unshuffled, config.block_channels[0], kernel_size=3, padding=1)
        self.levels = nn.ModuleList()
        previous = config.block_channels[0]
        for level, (channels, out_channels) in enumerate(
            zip(config.block_channels, config.output_channels, strict=True)
        ):
            self.levels.append(MaskEncoderLevel(previous, channels, out_channels, level > 0, config))
            previous = channels

    def forward(self, masks: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """masks: (B, F, 2, H, W) float in {0, 1}. Returns one (B*F, C_level, h_level, w_level) map per level."""
        num_frames = masks.shape[1]
        hidden = F.pixel_unshuffle(masks.flatten(0, 1), self.config.downscale)
        hidden = self.conv_in(hidden)
        features = []
        for level in self.levels:
            hidden, feature = level(hidden, num_frames)
            features.append(feature)
        return tuple(features)
