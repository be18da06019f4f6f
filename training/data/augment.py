"""Training augmentations shared by both stages: per-view colour jitter and a mirror of the whole scene.

A horizontal flip mirrors the world, so it is applied to both views together (their correspondence
stays valid) and the words "left" and "right" in the instruction swap ("... with the left hand").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

_LEFT_RIGHT = re.compile(r"\b(left|right|Left|Right|LEFT|RIGHT)\b")
_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left", "LEFT": "RIGHT", "RIGHT": "LEFT"}


def swap_left_right(text: str) -> str:
    """`text` with the words left and right exchanged (case kept), as seen in a mirror."""
    return _LEFT_RIGHT.sub(lambda match: _SWAP[match.group(0)], text)


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of the augmentations; each jitter factor is drawn from [1 - s, 1 + s]."""

    flip_probability: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2


def _uniform(strength: float) -> float:
    return 1.0 + strength * (2.0 * torch.rand(()).item() - 1.0)


def colour_jitter(frames: torch.Tensor, config: AugmentConfig) -> torch.Tensor:
    """One random brightness, contrast and saturation change for all frames (T,3,H,W) in [0, 1]."""
    out = frames * _uniform(config.brightness)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * _uniform(config.contrast) + mean
    grey = (0.299 * out[:, 0:1] + 0.587 * out[:, 1:2] + 0.114 * out[:, 2:3]).expand_as(out)
    out = (out - grey) * _uniform(config.saturation) + grey
    return out.clamp_(0.0, 1.0)


def augment_item(item: dict, views: tuple[str, ...], config: AugmentConfig) -> dict:
    """Jitter each view's colours; with probability flip_probability mirror all views, masks and words.

    Uses torch's global random state, which DataLoader seeds differently in every worker.
    """
    for view in views:
        item[view] = colour_jitter(item[view], config)
    if torch.rand(()).item() < config.flip_probability:
        for key in (*views, *(f"{view}_masks" for view in views)):
            if key in item:
                item[key] = item[key].flip(-1)
        item["instruction"] = swap_left_right(item["instruction"])
    return item
