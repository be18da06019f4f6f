"""Validation and conversion of the runner inputs: uint8 frames (H,W,3) and label maps (H,W)."""

from __future__ import annotations

import numpy as np

from egoexo_models.clip import NUM_LABELS


class MaskInputError(ValueError):
    """A frame or label map given to a mask model has the wrong type, dtype, size or values."""


def _describe(array: object) -> str:
    if isinstance(array, np.ndarray):
        return f"{array.dtype} array of shape {array.shape}"
    return type(array).__name__


def check_frame(name: str, frame: object, size: tuple[int, int]) -> np.ndarray:
    """Return `frame` if it is a uint8 (H,W,3) RGB image of `size` (H, W); else raise MaskInputError."""
    if not isinstance(frame, np.ndarray):
        raise MaskInputError(f"{name} must be a numpy uint8 array (H,W,3), got {_describe(frame)}")
    if np.issubdtype(frame.dtype, np.floating) and not np.isfinite(frame).all():
        raise MaskInputError(f"{name} contains NaN or infinite values; give a uint8 RGB image (H,W,3)")
    if frame.dtype != np.uint8:
        raise MaskInputError(f"{name} must be uint8 RGB (H,W,3) with values 0..255, got {_describe(frame)}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise MaskInputError(f"{name} must have shape (H,W,3), got {frame.shape}")
    if frame.shape[:2] != tuple(size):
        raise MaskInputError(
            f"{name} is {frame.shape[1]}x{frame.shape[0]} (WxH); the model takes {size[1]}x{size[0]}: resize it first"
        )
    return frame


def check_label_map(name: str, labels: object, size: tuple[int, int]) -> np.ndarray:
    """Return `labels` if it is a uint8 (H,W) map of `size` with values in {0,1,2}; else raise MaskInputError."""
    if not isinstance(labels, np.ndarray):
        raise MaskInputError(f"{name} must be a numpy uint8 label map (H,W), got {_describe(labels)}")
    if np.issubdtype(labels.dtype, np.floating) and not np.isfinite(labels).all():
        raise MaskInputError(
            f"{name} contains NaN or infinite values; give a uint8 label map with values 0, 1, 2"
        )
    if labels.dtype != np.uint8:
        raise MaskInputError(f"{name} must be a uint8 label map (H,W), got {_describe(labels)}")
    if labels.shape != tuple(size):
        raise MaskInputError(
            f"{name} has shape {labels.shape}; the model takes {tuple(size)}: resize it (nearest) first"
        )
    if labels.size and labels.max() >= NUM_LABELS:
        values = np.unique(labels[labels >= NUM_LABELS]).tolist()
        raise MaskInputError(f"{name} holds labels {values} outside {{0 background, 1 hand, 2 object}}")
    return labels


def frame_input(frame: np.ndarray) -> np.ndarray:
    """uint8 (H,W,3) -> float32 (1,3,H,W) in [0,1]."""
    return (frame.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None].copy()


def hand_object_input(labels: np.ndarray) -> np.ndarray:
    """uint8 label map (H,W) -> float32 hand/object one-hot (1,2,H,W)."""
    return np.stack([labels == 1, labels == 2]).astype(np.float32)[None]


def labels_from_logits(logits: np.ndarray, what: str) -> np.ndarray:
    """Logits (3,H,W) -> uint8 label map (H,W); non-finite logits raise FloatingPointError instead of passing on."""
    if not np.isfinite(logits).all():
        raise FloatingPointError(
            f"{what} produced NaN or infinite logits; the weights or the inputs are corrupt (reload the weights)"
        )
    return logits.argmax(axis=0).astype(np.uint8)
