"""Resizing camera images to the model's size and predictions back to the camera's (Pillow, no OpenCV)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 RGB (H,W,3) -> (height, width, 3), bilinear; returned unchanged when already that size."""
    if image.shape[:2] == size:
        return image
    return np.array(
        Image.fromarray(np.ascontiguousarray(image)).resize(size[::-1], Image.Resampling.BILINEAR)
    )


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 label map (H,W) -> (height, width), nearest (labels stay labels); unchanged when already that size."""
    if labels.shape == size:
        return labels
    return np.array(
        Image.fromarray(np.ascontiguousarray(labels)).resize(size[::-1], Image.Resampling.NEAREST)
    )
