"""Exponential moving average of a model's weights, kept as a module of its own.

The average lives in `ema.module` (a frozen copy), so checkpoints save it like any model
(`models={"model": model, "ema": ema.module}`) and export uses it directly. Seeding it as an
exact copy and updating every step follows DiT.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from training.common.distributed import unwrap_model


class EMA:
    """ema = decay * ema + (1 - decay) * model, for parameters; buffers (BatchNorm stats) are copied."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be within [0, 1], got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(unwrap_model(model)).eval()
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards `model`'s current weights (call after each optimizer step)."""
        source = unwrap_model(model)
        for average, current in zip(self.module.parameters(), source.parameters(), strict=True):
            average.lerp_(current.detach(), 1.0 - self.decay)
        for average, current in zip(self.module.buffers(), source.buffers(), strict=True):
            average.copy_(current)
