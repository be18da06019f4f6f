"""A ResNet image encoder without torchvision, with optional ImageNet weights from a user-given file.

Parameter names follow the torchvision ResNet layout (conv1, bn1, layer1.0.conv1, ...), so a
resnet18/34 state dict saved from torchvision loads directly when the widths match.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projected when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetEncoder(nn.Module):
    """ResNet stem (k x k stride 2, 7x7 as in ResNet, + max-pool) and len(widths) stages of stride 4 * 2**i.

    With three stages this is a ResNet with its last block removed (paper §2.2): it returns the
    features at strides 4, 8 and 16, finest first, each (B, widths[i], H / 4 / 2**i, W / 4 / 2**i).
    """

    def __init__(
        self,
        in_channels: int,
        stem_width: int,
        widths: tuple[int, ...],
        blocks_per_stage: tuple[int, ...],
        stem_kernel: int = 7,
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks_per_stage) or not widths:
            raise ValueError(
                f"widths {widths} and blocks_per_stage {blocks_per_stage} must be non-empty and of equal length"
            )
        self.in_channels = in_channels
        self.widths = tuple(widths)
        if stem_kernel % 2 == 0 or stem_kernel < 1:
            raise ValueError(f"stem_kernel must be an odd positive int, got {stem_kernel}")
        self.conv1 = nn.Conv2d(in_channels, stem_width, stem_kernel, 2, stem_kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        previous = stem_width
        for index, (width, blocks) in enumerate(zip(widths, blocks_per_stage, strict=True)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(previous, width, stride)] + [
                BasicBlock(width, width) for _ in range(blocks - 1)
            ]
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            previous = width

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = []
        for index in range(len(self.widths)):
            x = getattr(self, f"layer{index + 1}")(x)
            features.append(x)
        return features


def load_imagenet_resnet(encoder: ResNetEncoder, path: str | os.PathLike) -> list[str]:
    """Copy matching ImageNet ResNet weights (torchvision names, .pth or .safetensors) into `encoder`.

    Keys of deeper stages and the classifier (layer4, fc) are ignored. When the encoder takes more
    than 3 input channels, the extra stem channels start at zero. Returns the keys loaded.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is unreadable, or a key's shape differs (the widths do not match).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: ImageNet ResNet weights not found (give a torchvision resnet state dict)"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            source = load_file(str(path))
        else:
            source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: cannot read ImageNet ResNet weights ({error})") from None
    if not isinstance(source, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(source).__name__}")
    target = encoder.state_dict()
    updates: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        if key not in target:
            continue
        if key == "conv1.weight" and value.shape[1] == 3 and encoder.in_channels > 3:
            padded = torch.zeros_like(target[key])
            padded[:, :3] = value
            value = padded
        if value.shape != target[key].shape:
            raise ValueError(
                f"{path}: {key} has shape {tuple(value.shape)}, the encoder expects {tuple(target[key].shape)}; "
                "ImageNet weights need the encoder widths of that ResNet"
            )
        updates[key] = value
    if not updates:
        raise ValueError(
            f"{path}: no key matches a torchvision ResNet layout (conv1.weight, layer1.0.conv1.weight, ...)"
        )
    encoder.load_state_dict(updates, strict=False)
    return sorted(updates)
