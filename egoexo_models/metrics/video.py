"""Frame metrics of predicted ego videos: SSIM and PSNR, over the whole frame and over the HOI region.

SSIM follows `skimage.metrics.structural_similarity` with its defaults for uint8 RGB images
(data range 255, a uniform 7x7 window, sample covariance, K1 = 0.01, K2 = 0.03, per-channel maps
averaged over the three channels, the 3-pixel border where the window leaves the image excluded
from the mean). PSNR is 10 log10(255² / MSE) over all pixels and channels, as
`skimage.metrics.peak_signal_noise_ratio`; identical frames give +inf.

The region variants score only the hand-object region of the ground truth: the union over all
frames of the ego HOI masks (label 1 or 2), dilated by a disk of radius
ceil(REGION_DILATION * frame diagonal) px (4 px at 128x128, 14 px at 480x480), because most of an
ego frame is static and the paper's gains are in the hands. Region PSNR is the PSNR of the MSE over
region pixels; region SSIM is the mean of the SSIM map over region pixels (the excluded border
again left out). A region SSIM over the whole frame equals SSIM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

DATA_RANGE = 255.0
SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03
REGION_DILATION = 0.02  # HOI region dilation radius, as a fraction of the frame diagonal


def _check_frame_pair(reference: np.ndarray, predicted: np.ndarray) -> None:
    if reference.shape != predicted.shape or reference.ndim != 3 or reference.shape[2] != 3:
        raise ValueError(
            f"frames must be RGB arrays (H,W,3) of one shape; got {reference.shape} and {predicted.shape}"
        )
    if min(reference.shape[:2]) < SSIM_WINDOW:
        raise ValueError(
            f"frames must be at least {SSIM_WINDOW}x{SSIM_WINDOW} for SSIM, got {reference.shape[:2]}"
        )


def ssim_map(reference: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (H,W) of two uint8 RGB frames (H,W,3), averaged over the channels."""
    _check_frame_pair(reference, predicted)
    x = reference.astype(np.float64)
    y = predicted.astype(np.float64)
    window = (SSIM_WINDOW, SSIM_WINDOW, 1)  # spatial window, each channel on its own

    def local_mean(image: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(image, size=window)

    n = SSIM_WINDOW * SSIM_WINDOW
    sample = n / (n - 1)  # unbiased (sample) covariance
    mean_x, mean_y = local_mean(x), local_mean(y)
    var_x = sample * (local_mean(x * x) - mean_x * mean_x)
    var_y = sample * (local_mean(y * y) - mean_y * mean_y)
    cov_xy = sample * (local_mean(x * y) - mean_x * mean_y)
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    numerator = (2 * mean_x * mean_y + c1) * (2 * cov_xy + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    return (numerator / denominator).mean(axis=2)


def _valid_window_area(height: int, width: int) -> np.ndarray:
    """Pixels whose SSIM window lies inside the frame (skimage crops the others before averaging)."""
    pad = (SSIM_WINDOW - 1) // 2
    valid = np.zeros((height, width), dtype=bool)
    valid[pad : height - pad, pad : width - pad] = True
    return valid


def ssim(reference: np.ndarray, predicted: np.ndarray) -> float:
    """Mean SSIM of two uint8 RGB frames (H,W,3), as skimage's structural_similarity."""
    return float(ssim_map(reference, predicted)[_valid_window_area(*reference.shape[:2])].mean())


def psnr_from_mse(mse: float) -> float:
    """10 log10(255² / mse) in dB; +inf when mse is 0."""
    return math.inf if mse == 0 else 10.0 * math.log10(DATA_RANGE**2 / mse)


def psnr(reference: np.ndarray, predicted: np.ndarray) -> float:
    """PSNR in dB of two uint8 RGB frames (H,W,3), as skimage's peak_signal_noise_ratio."""
    _check_frame_pair(reference, predicted)
    error = reference.astype(np.float64) - predicted.astype(np.float64)
    return psnr_from_mse(float(np.mean(error * error)))


def region_dilation_px(height: int, width: int) -> int:
    """Radius of the disk the HOI region is dilated by: ceil(REGION_DILATION * diagonal) px."""
    return math.ceil(REGION_DILATION * math.hypot(height, width))


def hoi_region(gt_labels: np.ndarray) -> np.ndarray:
    """Boolean (H,W): pixels within region_dilation_px of a hand or object in any ground-truth frame.

    Args:
        gt_labels: ground-truth ego label maps, uint8 (N,H,W), 0 background, 1 hand, 2 object.
    """
    union = (gt_labels > 0).any(axis=0)
    if not union.any():
        return union
    radius = region_dilation_px(*union.shape)
    return ndimage.distance_transform_edt(~union) <= radius


def region_psnr(reference: np.ndarray, predicted: np.ndarray, region: np.ndarray) -> float:
    """PSNR in dB of the MSE over the pixels (all channels) where `region` (H,W) is True; NaN if empty."""
    _check_frame_pair(reference, predicted)
    _check_region(region, reference.shape[:2])
    if not region.any():
        return math.nan
    error = reference[region].astype(np.float64) - predicted[region].astype(np.float64)
    return psnr_from_mse(float(np.mean(error * error)))


def region_ssim(reference: np.ndarray, predicted: np.ndarray, region: np.ndarray) -> float:
    """Mean of the SSIM map over `region` (H,W) minus the frame border skimage excludes; NaN if empty."""
    _check_frame_pair(reference, predicted)
    _check_region(region, reference.shape[:2])
    pixels = region & _valid_window_area(*reference.shape[:2])
    if not pixels.any():
        return math.nan
    return float(ssim_map(reference, predicted)[pixels].mean())


def _check_region(region: np.ndarray, size: tuple[int, int]) -> None:
    if region.dtype != bool or region.shape != size:
        raise ValueError(f"region must be a boolean mask of shape {size}, got {region.dtype} {region.shape}")


@dataclass(frozen=True)
class VideoScores:
    """Per-frame scores of a predicted video, arrays of shape (F,); region scores NaN without a region."""

    ssim: np.ndarray
    psnr: np.ndarray
    region_ssim: np.ndarray
    region_psnr: np.ndarray


def score_video(reference: np.ndarray, predicted: np.ndarray, region: np.ndarray) -> VideoScores:
    """SSIM, PSNR and their HOI-region variants of each frame.

    Args:
        reference, predicted: uint8 RGB videos (F,H,W,3) of one shape (the frames 1..N-1 of a clip).
        region: boolean (H,W), see `hoi_region`.
    """
    if reference.shape != predicted.shape or reference.ndim != 4:
        raise ValueError(
            f"videos must be (F,H,W,3) of one shape; got {reference.shape} and {predicted.shape}"
        )
    _check_region(region, reference.shape[1:3])
    valid = _valid_window_area(*reference.shape[1:3])
    region_pixels = region & valid
    scores: dict[str, list[float]] = {"ssim": [], "psnr": [], "region_ssim": [], "region_psnr": []}
    for ref, pred in zip(reference, predicted, strict=True):
        similarity = ssim_map(ref, pred)
        scores["ssim"].append(float(similarity[valid].mean()))
        scores["psnr"].append(psnr(ref, pred))
        scores["region_ssim"].append(
            float(similarity[region_pixels].mean()) if region_pixels.any() else math.nan
        )
        scores["region_psnr"].append(region_psnr(ref, pred, region))
    return VideoScores(**{name: np.array(values, dtype=np.float64) for name, values in scores.items()})
