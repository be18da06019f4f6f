"""Training data: ClipDataset over clip-format-v1 directories, augmentations, a bad-clip-tolerant loader."""

from training.data.augment import AugmentConfig, swap_left_right
from training.data.dataset import BadClipError, ClipDataset
from training.data.loader import SkipReportingLoader, make_loader

__all__ = [
    "AugmentConfig",
    "BadClipError",
    "ClipDataset",
    "SkipReportingLoader",
    "make_loader",
    "swap_left_right",
]
