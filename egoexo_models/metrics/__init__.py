"""Evaluation metrics: ego HOI masks (masks.py), ego video frames (video.py), and the learned LPIPS
(lpips.py) and FVD (fvd.py) that need user-given weight files.

masks.py and video.py need only numpy and scipy; lpips.py and fvd.py import torch, so they are
imported from their own modules when their weights are given.
"""

from egoexo_models.metrics.masks import MASK_CLASSES, MaskScores, score_mask_sequence
from egoexo_models.metrics.video import VideoScores, hoi_region, psnr, score_video, ssim

__all__ = [
    "MASK_CLASSES",
    "MaskScores",
    "VideoScores",
    "hoi_region",
    "psnr",
    "score_mask_sequence",
    "score_video",
    "ssim",
]
