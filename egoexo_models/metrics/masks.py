"""Ego HOI mask metrics of the Ego-Exo4D correspondence benchmark, used by the paper (§3).

Definitions (agreeing with `correspondence/evaluation/` of the ego-exo4d-relation repository and
the DAVIS region/boundary measures it builds on):

- Label maps are first resized with nearest-neighbour sampling so their longer side is 480 px
  (`resize_longer_side`, OpenCV's INTER_NEAREST convention: source index = floor(i * H / H')).
- IoU is the DAVIS region similarity |P ∩ G| / |P ∪ G|, and 1 when both masks are empty.
- Contour accuracy (CA) is the DAVIS boundary F-measure with a tolerance of
  ceil(0.008 * image diagonal) px, computed after translating the prediction so that its
  bounding-box centre lands on the ground truth's (the Ego-Exo4D paper's shape measure).
- Location error (LE) is the distance between the bounding-box centres of prediction and ground
  truth divided by the diagonal of a 480x480 frame (480 * sqrt 2). Centres are integer pixels,
  floor((min + max) / 2), as in the reference.

Absent classes (the reference scores only frames whose ground truth holds the object; we score
every frame so that a model predicting a hand that is not there pays for it):

    ground truth | prediction | IoU | CA | LE
    present      | present    | computed  | computed  | computed
    present      | empty      | 0         | 0         | undefined (NaN)
    empty        | present    | 0         | 0         | undefined (NaN)
    empty        | empty      | 1         | 1         | undefined (NaN)

An undefined LE is excluded from every mean, and the number of frames that did enter the mean is
reported beside it (the reference instead puts an empty prediction's centre in the image centre).

Classes are scored separately: hand (label 1), object (label 2) and hand-or-object (label 1 or 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from egoexo_models.clip import LABEL_HAND, LABEL_OBJECT

EVAL_SIZE = 480  # longer side of the frame the mask metrics are computed on, in pixels
BOUNDARY_TOLERANCE = 0.008  # DAVIS boundary tolerance, as a fraction of the image diagonal
LOCATION_NORMALISER = EVAL_SIZE * math.sqrt(2.0)  # diagonal of the 480x480 reference frame

# class name -> the labels that make up its binary mask
MASK_CLASSES: dict[str, tuple[int, ...]] = {
    "hand": (LABEL_HAND,),
    "object": (LABEL_OBJECT,),
    "hand_or_object": (LABEL_HAND, LABEL_OBJECT),
}


@dataclass(frozen=True)
class MaskScores:
    """Per-frame scores of one class over a sequence, arrays of shape (N,); NaN where undefined."""

    iou: np.ndarray
    contour_accuracy: np.ndarray
    location_error: np.ndarray


def resize_longer_side(labels: np.ndarray, size: int = EVAL_SIZE) -> np.ndarray:
    """Nearest-neighbour resize of label maps (..., H, W) so that max(H, W) becomes `size`."""
    height, width = labels.shape[-2:]
    scale = size / max(height, width)
    new_height, new_width = int(height * scale), int(width * scale)
    rows = np.minimum(np.floor(np.arange(new_height) * (height / new_height)).astype(np.int64), height - 1)
    cols = np.minimum(np.floor(np.arange(new_width) * (width / new_width)).astype(np.int64), width - 1)
    return labels[..., rows[:, None], cols[None, :]]


def region_similarity(gt: np.ndarray, pred: np.ndarray) -> float:
    """DAVIS J: intersection over union of two boolean masks (H,W); 1 when both are empty."""
    union = np.count_nonzero(gt | pred)
    if union == 0:
        return 1.0
    return np.count_nonzero(gt & pred) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a boolean mask (DAVIS convention).

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour;
    neighbours outside the image count as equal, so the image border itself is no boundary.
    """
    padded = np.pad(mask, ((0, 1), (0, 1)), mode="edge")
    here = padded[:-1, :-1]
    return (here != padded[:-1, 1:]) | (here != padded[1:, :-1]) | (here != padded[1:, 1:])


def boundary_tolerance_px(height: int, width: int) -> int:
    """DAVIS boundary tolerance: ceil(0.008 * image diagonal) pixels."""
    return math.ceil(BOUNDARY_TOLERANCE * math.hypot(height, width))


def boundary_f_measure(gt: np.ndarray, pred: np.ndarray, tolerance_px: int | None = None) -> float:
    """DAVIS F: harmonic mean of boundary precision and recall within `tolerance_px`.

    Precision is the fraction of predicted boundary pixels within the tolerance disk of a
    ground-truth boundary pixel, recall the converse. Empty boundaries: both empty gives 1, one
    empty gives 0. `tolerance_px` defaults to ceil(0.008 * diagonal of the masks).
    """
    if tolerance_px is None:
        tolerance_px = boundary_tolerance_px(*gt.shape)
    gt_boundary, pred_boundary = boundary_map(gt), boundary_map(pred)
    n_gt, n_pred = np.count_nonzero(gt_boundary), np.count_nonzero(pred_boundary)
    if n_gt == 0 or n_pred == 0:
        return 1.0 if n_gt == n_pred else 0.0
    # Only boundary pixels matter, so work inside their joint bounding box; a pixel is within the
    # tolerance disk x² + y² <= r² of a boundary pixel exactly when its Euclidean distance is <= r.
    rows = np.flatnonzero((gt_boundary | pred_boundary).any(axis=1))
    cols = np.flatnonzero((gt_boundary | pred_boundary).any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    gt_boundary, pred_boundary = gt_boundary[box], pred_boundary[box]
    near_gt = ndimage.distance_transform_edt(~gt_boundary) <= tolerance_px
    near_pred = ndimage.distance_transform_edt(~pred_boundary) <= tolerance_px
    precision = np.count_nonzero(pred_boundary & near_gt) / n_pred
    recall = np.count_nonzero(gt_boundary & near_pred) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def box_centre(mask: np.ndarray) -> tuple[int, int] | None:
    """Integer centre (row, col) of the bounding box of a boolean mask, or None when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (int(rows[0] + rows[-1]) // 2, int(cols[0] + cols[-1]) // 2)


def translate(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Shift a boolean mask by (rows, cols) pixels; what leaves the frame is lost, new pixels are False."""
    height, width = mask.shape
    shifted = np.zeros_like(mask)
    if abs(rows) >= height or abs(cols) >= width:
        return shifted
    src_r = slice(max(0, -rows), height - max(0, rows))
    dst_r = slice(max(0, rows), height - max(0, -rows))
    src_c = slice(max(0, -cols), width - max(0, cols))
    dst_c = slice(max(0, cols), width - max(0, -cols))
    shifted[dst_r, dst_c] = mask[src_r, src_c]
    return shifted


def contour_accuracy(gt: np.ndarray, pred: np.ndarray) -> float:
    """Boundary F-measure after moving the prediction's box centre onto the ground truth's."""
    gt_centre, pred_centre = box_centre(gt), box_centre(pred)
    if gt_centre is not None and pred_centre is not None:
        pred = translate(pred, gt_centre[0] - pred_centre[0], gt_centre[1] - pred_centre[1])
    return boundary_f_measure(gt, pred)


def location_error(gt: np.ndarray, pred: np.ndarray) -> float:
    """Box-centre distance / diagonal of the 480x480 frame; NaN when either mask is empty.

    The masks must already be at evaluation size (see `resize_longer_side`).
    """
    gt_centre, pred_centre = box_centre(gt), box_centre(pred)
    if gt_centre is None or pred_centre is None:
        return math.nan
    distance = math.hypot(gt_centre[0] - pred_centre[0], gt_centre[1] - pred_centre[1])
    return distance / LOCATION_NORMALISER


def score_mask_sequence(gt_labels: np.ndarray, pred_labels: np.ndarray) -> dict[str, MaskScores]:
    """Per-frame IoU, CA and LE of each class in MASK_CLASSES.

    Args:
        gt_labels, pred_labels: uint8 label maps (N,H,W) of the same shape, values in {0,1,2}, at
            any resolution; both are resized so the longer side is 480 before scoring.
    """
    if gt_labels.shape != pred_labels.shape or gt_labels.ndim != 3:
        raise ValueError(
            f"ground truth and prediction must be label maps of one shape (N,H,W); "
            f"got {gt_labels.shape} and {pred_labels.shape}"
        )
    gt_labels, pred_labels = resize_longer_side(gt_labels), resize_longer_side(pred_labels)
    scores = {}
    for name, labels in MASK_CLASSES.items():
        gt_masks, pred_masks = np.isin(gt_labels, labels), np.isin(pred_labels, labels)
        per_frame = [
            (region_similarity(g, p), contour_accuracy(g, p), location_error(g, p))
            for g, p in zip(gt_masks, pred_masks, strict=True)
        ]
        iou, ca, le = (np.array(column, dtype=np.float64) for column in zip(*per_frame, strict=True))
        scores[name] = MaskScores(iou=iou, contour_accuracy=ca, location_error=le)
    return scores
