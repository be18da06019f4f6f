"""CBAM (Woo et al., 2018): channel attention followed by spatial attention, as a residual refinement."""

from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """Per-channel gate from average- and max-pooled descriptors through a shared bottleneck MLP."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        average = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        maximum = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(average + maximum)


class SpatialAttention(nn.Module):
    """Per-position gate from the channel mean and max through one 7x7 convolution."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        descriptor = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(descriptor))


class CBAM(nn.Module):
    """Fuses an image feature and a mask feature: x = conv1x1([image, mask]); x + spatial(channel(x)).

    This is the fusion the paper writes as CBAM(x̄, Φmask(x, m)). Shapes: image (B, Ci, h, w),
    mask (B, Cm, h, w) -> (B, out_channels, h, w).
    """

    def __init__(self, image_channels: int, mask_channels: int, out_channels: int) -> None:
        super().__init__()
        self.fuse = nn.Conv2d(image_channels + mask_channels, out_channels, 1)
        self.channel = ChannelAttention(out_channels)
        self.spatial = SpatialAttention()

    def forward(self, image_feature: torch.Tensor, mask_feature: torch.Tensor) -> torch.Tensor:
        x = self.fuse(torch.cat([image_feature, mask_feature], dim=1))
        return x + self.spatial(self.channel(x))
