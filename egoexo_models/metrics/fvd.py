"""FVD (Unterthiner et al., 2018): the Fréchet distance between I3D features of real and predicted videos.

The I3D network (Carreira & Zisserman, 2017; Inception-v1 inflated to 3D, Kinetics-400) is built
here and loaded strictly from a user-given state dict in the layout of the widely used PyTorch port
(`Conv3d_1a_7x7.conv3d.weight`, `Mixed_3b.b1b.bn.running_mean`, ..., `logits.conv3d.bias`, as in
its `rgb_imagenet.pt`); no weights are shipped. Videos are resized (bilinear) to 224x224, scaled to
[-1, 1], and each is summarised by its 400 Kinetics logits averaged over time, as the original FVD.

FVD is a distribution distance: with few videos its covariance estimate is poor (the original
uses hundreds to thousands); `frechet_distance` needs at least two videos per set.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from egoexo_models.metrics.state_files import read_state_dict
from egoexo_models.weights import load_state_strict

I3D_SIZE = 224  # input frame size of I3D
MIN_FVD_FRAMES = 9  # fewer frames leave less than 2 time steps for the final 2x7x7 average pool
NUM_KINETICS_CLASSES = 400

# name -> (input channels, [branch 0, branch 1 reduce, branch 1, branch 2 reduce, branch 2, branch 3])
_INCEPTION_BLOCKS = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (front, back) of one axis."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    (t0, t1), (h0, h1), (w0, w1) = (
        _same_padding(size, k, s) for size, k, s in zip(x.shape[2:], kernel, stride, strict=True)
    )
    return F.pad(x, (w0, w1, h0, h1, t0, t1))


class Unit3d(nn.Module):
    """3D convolution with 'SAME' padding, then batch norm and ReLU (or a plain biased conv for logits)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        *,
        logits: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.is_logits = kernel, stride, logits
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, bias=logits)
        self.bn = None if logits else nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same(x, self.kernel, self.stride))
        if self.bn is None:
            return x
        return F.relu(self.bn(x))


class MaxPool3dSame(nn.Module):
    """Max pooling with 'SAME' zero padding (inputs are post-ReLU, so zeros never win wrongly)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Four parallel branches (1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max pool -> 1x1), concatenated."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        self.b0 = Unit3d(in_channels, widths[0])
        self.b1a = Unit3d(in_channels, widths[1])
        self.b1b = Unit3d(widths[1], widths[2], (3, 3, 3))
        self.b2a = Unit3d(in_channels, widths[3])
        self.b2b = Unit3d(widths[3], widths[4], (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3d(in_channels, widths[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


class I3d(nn.Module):
    """Inception-v1 I3D up to its Kinetics-400 logits; `forward` gives (B,400) time-averaged logits."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3d(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3d(64, 64)
        self.Conv3d_2c_3x3 = Unit3d(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_3b"])
        self.Mixed_3c = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_4b"])
        self.Mixed_4c = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_4c"])
        self.Mixed_4d = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_4d"])
        self.Mixed_4e = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_4e"])
        self.Mixed_4f = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_4f"])
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_5b"])
        self.Mixed_5c = InceptionBlock(*_INCEPTION_BLOCKS["Mixed_5c"])
        self.logits = Unit3d(1024, NUM_KINETICS_CLASSES, logits=True)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Logits (B,400) of videos (B,3,T,224,224) in [-1, 1] with T >= MIN_FVD_FRAMES."""
        x = videos
        for name, layer in self.named_children():
            if name != "logits":
                x = layer(x)
        x = F.avg_pool3d(x, kernel_size=(2, 7, 7), stride=1)
        return self.logits(x).mean(dim=(2, 3, 4))

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "cpu") -> I3d:
        """Load I3D strictly from a state-dict file; returns the model in eval mode.

        Batch-norm `num_batches_tracked` counters (absent from checkpoints older than PyTorch 0.4.1,
        unused in eval mode) are the only keys that may be missing.
        """
        model = cls()
        state = read_state_dict(path, "FVD I3D")
        for key, value in model.state_dict().items():
            if key.endswith(".num_batches_tracked"):
                state.setdefault(key, value)
        load_state_strict(model, state, source=f"FVD I3D weights {path}")
        return model.to(device).eval()

    @torch.inference_mode()
    def video_features(self, videos: list[np.ndarray]) -> np.ndarray:
        """I3D logits (V,400) of uint8 RGB videos, each (T,H,W,3) with T >= MIN_FVD_FRAMES."""
        device = next(self.parameters()).device
        features = []
        for video in videos:
            if video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] < MIN_FVD_FRAMES:
                raise ValueError(
                    f"FVD needs uint8 RGB videos (T,H,W,3) of at least {MIN_FVD_FRAMES} frames, got {video.shape}"
                )
            frames = torch.from_numpy(np.ascontiguousarray(video)).to(device).permute(0, 3, 1, 2).float()
            frames = F.interpolate(frames, size=(I3D_SIZE, I3D_SIZE), mode="bilinear", align_corners=False)
            clip = (frames / 127.5 - 1.0).permute(1, 0, 2, 3).unsqueeze(0)  # (1,3,T,224,224)
            features.append(self(clip).double().cpu().numpy()[0])
        return np.stack(features)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets (A,D) and (B,D).

    d² = |μa − μb|² + Tr(Σa + Σb − 2 (Σa Σb)^½), with Tr((Σa Σb)^½) computed as the sum of the
    square roots of the eigenvalues of the symmetric PSD matrix Σa^½ Σb Σa^½.
    """
    if features_a.ndim != 2 or features_b.ndim != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"feature sets must be (count, dim) of one dim; got {features_a.shape} and {features_b.shape}"
        )
    if min(len(features_a), len(features_b)) < 2:
        raise ValueError(
            f"a Fréchet distance needs at least 2 samples per set, got {len(features_a)} and {len(features_b)}"
        )
    mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a = np.cov(features_a, rowvar=False)
    cov_b = np.cov(features_b, rowvar=False)
    sqrt_cov_a = _psd_sqrt(cov_a)
    product = sqrt_cov_a @ cov_b @ sqrt_cov_a
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum())
    distance = float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)
    return max(distance, 0.0)  # rounding can leave a tiny negative for identical sets


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
