"""The mask loss of the paper (§3, training stage): binary cross-entropy plus Dice, per class.

Both terms are computed on the softmax probabilities p_c of the 3-class logits, treating each class
c in {background, hand, object} as a binary mask: BCE_c = -mean[y_c log p_c + (1 - y_c) log(1 - p_c)]
and Dice_c = 1 - (2 Σ p_c y_c + 1) / (Σ p_c + Σ y_c + 1) per image; Dice is averaged over hand and
object only (background dominates every frame).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from egoexo_models.clip import NUM_LABELS


def bce_dice_loss(
    logits: torch.Tensor, labels: torch.Tensor, dice_weight: float = 1.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """logits (N,3,H,W), labels (N,H,W) int -> (loss, {"bce": ..., "dice": ...})."""
    log_p = F.log_softmax(logits.float(), dim=1)
    log_not_p = torch.log1p(-log_p.exp().clamp(max=1.0 - 1e-6))
    target = F.one_hot(labels.long(), NUM_LABELS).permute(0, 3, 1, 2).float()
    bce = -(target * log_p + (1.0 - target) * log_not_p).mean()
    p = log_p.exp()[:, 1:]
    y = target[:, 1:]
    intersection = (p * y).sum(dim=(2, 3))
    dice = (1.0 - (2.0 * intersection + 1.0) / (p.sum(dim=(2, 3)) + y.sum(dim=(2, 3)) + 1.0)).mean()
    return bce + dice_weight * dice, {"bce": float(bce.detach()), "dice": float(dice.detach())}
