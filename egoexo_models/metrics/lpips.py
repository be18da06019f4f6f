"""LPIPS (Zhang et al., 2018) with the AlexNet trunk, from user-given weight files only.

LPIPS compares unit-normalised activations of five AlexNet ReLU layers, weighs the squared
differences per channel with learned 1x1 heads, averages over space and sums over layers. Two files
are needed, neither shipped here:

- the AlexNet backbone: a torchvision AlexNet state dict (`features.{0,3,6,8,10}.{weight,bias}`;
  the `classifier.*` keys of a full ImageNet checkpoint are ignored, LPIPS uses no classifier);
- the linear heads (v0.1): the `lpips` package's `weights/v0.1/alex.pth`
  (`lin0.model.1.weight` ... `lin4.model.1.weight`).

Both load strictly: a missing, unexpected or mis-shaped key raises WeightsError naming it.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from egoexo_models.metrics.state_files import read_state_dict
from egoexo_models.weights import WeightsError, load_state_strict

ALEXNET_CHANNELS = (64, 192, 384, 256, 256)  # channels of the five compared ReLU outputs
_TAPS = (1, 4, 7, 9, 11)  # indices in `features` of those ReLUs
# LPIPS v0.1 input scaling, applied to images in [-1, 1]
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class AlexNetFeatures(nn.Module):
    """The convolutional part of AlexNet, laid out as torchvision's `features` so its keys load."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU activations LPIPS compares, for images (B,3,H,W)."""
        taps = []
        x = images
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAPS:
                taps.append(x)
        return taps


class LpipsAlex(nn.Module):
    """LPIPS distance with the AlexNet trunk; build it with `from_files`."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = AlexNetFeatures()
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in ALEXNET_CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_files(
        cls, alexnet_path: str | os.PathLike, heads_path: str | os.PathLike, device: str = "cpu"
    ) -> LpipsAlex:
        """Load the AlexNet backbone and the LPIPS v0.1 heads strictly; returns the model in eval mode."""
        model = cls()
        backbone = read_state_dict(alexnet_path, "LPIPS AlexNet backbone")
        backbone = {k: v for k, v in backbone.items() if not k.startswith("classifier.")}
        load_state_strict(model.backbone, backbone, source=f"LPIPS AlexNet backbone {alexnet_path}")
        heads = read_state_dict(heads_path, "LPIPS heads")
        expected = {f"lin{i}.model.1.weight" for i in range(len(ALEXNET_CHANNELS))}
        if set(heads) != expected:
            raise WeightsError(
                f"LPIPS heads {heads_path}: expected exactly the keys {sorted(expected)} of the lpips "
                f"package's weights/v0.1/alex.pth; missing {sorted(expected - set(heads))}, "
                f"unexpected {sorted(set(heads) - expected)[:10]}"
            )
        renamed = {f"{i}.weight": heads[f"lin{i}.model.1.weight"] for i in range(len(ALEXNET_CHANNELS))}
        load_state_strict(model.heads, renamed, source=f"LPIPS heads {heads_path}")
        return model.to(device).eval()

    def forward(self, reference: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        """LPIPS distance (B,) of image batches (B,3,H,W) with values in [-1, 1]."""
        total = torch.zeros(reference.shape[0], device=reference.device)
        pairs = zip(
            self.backbone((reference - self.shift) / self.scale),
            self.backbone((predicted - self.shift) / self.scale),
            strict=True,
        )
        for head, (a, b) in zip(self.heads, pairs, strict=True):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + head((a - b) ** 2).mean(dim=(1, 2, 3))
        return total

    @torch.inference_mode()
    def distances(self, reference: np.ndarray, predicted: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """LPIPS (F,) between uint8 RGB frames (F,H,W,3) of one shape, at their own resolution."""
        if reference.shape != predicted.shape or reference.ndim != 4 or reference.shape[-1] != 3:
            raise ValueError(
                f"frames must be (F,H,W,3) of one shape; got {reference.shape} and {predicted.shape}"
            )
        device = self.shift.device
        values = []
        for start in range(0, len(reference), batch_size):
            a = _to_signed_unit(reference[start : start + batch_size], device)
            b = _to_signed_unit(predicted[start : start + batch_size], device)
            values.append(self(a, b).cpu().numpy())
        return np.concatenate(values).astype(np.float64)


def _to_signed_unit(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B,H,W,3) -> float (B,3,H,W) in [-1, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float()
    return tensor / 127.5 - 1.0
