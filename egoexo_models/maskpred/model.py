"""Φseg, the cross-view HOI mask predictor (paper §2.2), as a stateless nn.Module.

Notation follows the paper: x̄ / ḡ are exo / ego image features from the shared ResNet Φenc,
m̄ˣ / m̄̂ᵍ exo / predicted-ego mask features CBAM(feature, Φmask([frame, mask])), and the memory
holds keys Wk·feature and values Wv·m̄ of past frames. The model keeps no state: the memory is
passed in and out as tensors, by `forward` (training, whole clips) and by the exported step
graph (egoexo_models.maskpred.step) that the streaming runner drives frame by frame.

Deliberate choices where the paper is silent:
- The current exo frame's own entry (x̄ₙ, m̄ˣₙ) is in the memory read at step n, so the exo mask
  given with frame n is used for frame n, and the first step (empty history) has a memory.
- The exo-query read-out 𝒵 lies on the exo image grid, while the decoder works on the ego grid; a
  second attention (ViewTransfer), from the first ego frame's positions to the current exo frame's,
  carries 𝒵 onto the ego grid. The first frame's keys are always in the memory (slot 0), so this
  needs no extra state.
- The predicted ego mask enters the memory as softmax probabilities (hand, object), identically in
  training and inference.
- The decoder also receives the first ego frame's memory entry (slot 0: key and mask feature, on
  the ego grid). Once the ego frames are zero images nothing else tells the decoder where things
  are in the ego view; without it a first training run predicted background for every unobserved
  frame (val IoU 0.00 after 300 steps).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from egoexo_models.clip import LABEL_HAND, LABEL_OBJECT, NUM_LABELS
from egoexo_models.maskpred.config import MaskPredictorConfig
from egoexo_models.maskpred.memory import memory_slot
from egoexo_models.nn import CBAM, ConvNormAct, ResNetEncoder, UpBlock

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INVALID_SLOT_BIAS = -1.0e4  # added to attention logits of empty memory slots (finite, so fp16-safe)


class ImageNormalizer(nn.Module):
    """Images in [0, 1] (B,3,H,W) -> ImageNet-normalised."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


def hand_object_channels(labels: torch.Tensor) -> torch.Tensor:
    """Label maps (..., H, W) int -> float one-hot of hand and object (..., 2, H, W)."""
    return torch.stack([labels == LABEL_HAND, labels == LABEL_OBJECT], dim=-3).float()


class MemoryAttention(nn.Module):
    """Ego-exo memory attention (paper Eq. 2): 𝒵 = W_outᵀ(softmax(𝒬𝒦ᵀ/√D₃) 𝒱) over all memory positions."""

    def __init__(self, feature_channels: int, mask_channels: int, key_dim: int, value_dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(feature_channels, key_dim)  # W_q
        self.key = nn.Linear(feature_channels, key_dim)  # W_k
        self.value = nn.Linear(mask_channels, value_dim)  # W_v
        self.out = nn.Linear(value_dim, value_dim)  # W_out
        self.scale = 1.0 / math.sqrt(key_dim)

    def keys_of(self, features: torch.Tensor) -> torch.Tensor:
        """Image features (B,C,h,w) -> memory keys (B, h*w, key_dim)."""
        return self.key(features.flatten(2).transpose(1, 2))

    def values_of(self, mask_features: torch.Tensor) -> torch.Tensor:
        """Mask features (B,C,h,w) -> memory values (B, h*w, value_dim)."""
        return self.value(mask_features.flatten(2).transpose(1, 2))

    def read(
        self, features: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        """Query features (B,C,h,w), keys (B,M,Dk), values (B,M,Dv), bias (B,M) -> 𝒵 (B,Dv,h,w)."""
        height, width = features.shape[-2:]
        query = self.query(features.flatten(2).transpose(1, 2))  # (B, hw, Dk)
        scores = torch.matmul(query, keys.transpose(1, 2)) * self.scale + bias.unsqueeze(1)
        readout = self.out(torch.matmul(torch.softmax(scores, dim=-1), values))  # (B, hw, Dv)
        return readout.transpose(1, 2).unflatten(2, (height, width))


class ViewTransfer(nn.Module):
    """Carries a read-out from the exo grid to the ego grid, by attention from the positions of the first
    (observed) ego frame to those of the current exo frame, compared through their memory keys."""

    def __init__(self, key_dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(key_dim, key_dim)
        self.key = nn.Linear(key_dim, key_dim)
        self.scale = 1.0 / math.sqrt(key_dim)

    def forward(
        self, readout: torch.Tensor, ego_anchor_keys: torch.Tensor, exo_keys: torch.Tensor
    ) -> torch.Tensor:
        """readout (B,C,h,w) on the exo grid, keys (B,P,Dk) -> (B,C,h,w) on the ego grid."""
        scores = torch.matmul(self.query(ego_anchor_keys), self.key(exo_keys).transpose(1, 2)) * self.scale
        moved = torch.matmul(torch.softmax(scores, dim=-1), readout.flatten(2).transpose(1, 2))
        return moved.transpose(1, 2).reshape(readout.shape)


class MaskDecoder(nn.Module):
    """Φdec(𝒵'', ḡ⁴, ḡ⁸, ḡ¹⁶): UNet-like blocks fusing the stride-8 read-out with multi-scale ego features.

    Block 1 (stride 8) fuses 𝒵'', ḡ⁸ and the upsampled ḡ¹⁶; block 2 upsamples and fuses ḡ⁴; the head's
    stride-4 logits are upsampled bilinearly to the input size.
    """

    def __init__(
        self, memory_channels: int, feature_widths: tuple[int, ...], widths: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.bottom = nn.Sequential(
            ConvNormAct(memory_channels + feature_widths[1] + feature_widths[2], widths[0]),
            ConvNormAct(widths[0], widths[0]),
        )
        self.up4 = UpBlock(widths[0], feature_widths[0], widths[1])
        self.head = nn.Conv2d(widths[1], NUM_LABELS, 1)

    def forward(
        self, memory_readout: torch.Tensor, ego_features: list[torch.Tensor], size: tuple[int, int]
    ) -> torch.Tensor:
        coarse = F.interpolate(
            ego_features[2], size=memory_readout.shape[-2:], mode="bilinear", align_corners=False
        )
        x = self.bottom(torch.cat([memory_readout, ego_features[1], coarse], dim=1))
        x = self.up4(x, ego_features[0])
        return F.interpolate(self.head(x), size=size, mode="bilinear", align_corners=False)


class MaskPredictor(nn.Module):
    """Φseg: exo frames + exo masks + ego frames (first real, later zero) -> ego HOI logits, auto-regressively.

    Memory tensors (batch B, S = config.memory_slots, P = h*w grid positions):
        keys (B, S, 2, P, key_dim), values (B, S, 2, P, value_dim), valid (B, S) in {0, 1};
        axis 2 is the view (0 exo, 1 ego). Slot 0 holds the first frame, slots 1..K the ring.
    """

    def __init__(self, config: MaskPredictorConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.encoder_widths
        self.normalize = ImageNormalizer()
        self.encoder = ResNetEncoder(  # Φenc
            3, config.stem_width, widths, config.encoder_blocks, config.stem_kernel
        )
        self.mask_encoder = ResNetEncoder(  # Φmask over [frame, hand, object]
            5, config.stem_width, config.mask_encoder_widths, config.mask_encoder_blocks, config.stem_kernel
        )
        self.mask_fuser = CBAM(widths[1], config.mask_encoder_widths[1], config.value_dim)
        self.attention = MemoryAttention(widths[1], config.value_dim, config.key_dim, config.value_dim)
        # The exo-query branch (and its transfer to the ego grid) is absent in the ego-query-only ablation.
        self.view_transfer = ViewTransfer(config.key_dim) if config.query != "ego" else None
        # Decoder input on the stride-8 grid: 𝒵'' and the first ego frame's memory key and value.
        self.decoder = MaskDecoder(2 * config.value_dim + config.key_dim, widths, config.decoder_widths)

    # -- pieces shared by the whole-clip forward and the exported step graph -----------------------

    def encode_images(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Images (B,3,H,W) in [0,1] -> Φenc features at strides 4, 8, 16."""
        return self.encoder(self.normalize(images))

    def encode_mask_values(
        self, images: torch.Tensor, features8: torch.Tensor, hand_object: torch.Tensor
    ) -> torch.Tensor:
        """Memory values Wv·CBAM(feature, Φmask([frame, mask])): (B,3,H,W), (B,C,h,w), (B,2,H,W) -> (B,P,Dv)."""
        mask_features = self.mask_encoder(torch.cat([self.normalize(images), hand_object], dim=1))[-1]
        return self.attention.values_of(self.mask_fuser(features8, mask_features))

    def empty_memory(
        self, batch: int, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Zeroed memory tensors (keys, values, valid) for `batch` streams."""
        slots, positions = self.config.memory_slots, self.config.grid[0] * self.config.grid[1]
        keys = torch.zeros(batch, slots, 2, positions, self.config.key_dim, device=device)
        values = torch.zeros(batch, slots, 2, positions, self.config.value_dim, device=device)
        return keys, values, torch.zeros(batch, slots, device=device)

    def predict_from_features(
        self,
        exo_features8: torch.Tensor,
        exo_key: torch.Tensor,
        exo_value: torch.Tensor,
        ego_features: list[torch.Tensor],
        ego_key: torch.Tensor,
        memory: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        alpha: float,
    ) -> torch.Tensor:
        """One auto-regressive step: read the memory (plus the current exo entry), decode ego logits (B,3,H,W).

        𝒵'' = α𝒵' + (1-α)𝒵 with 𝒵 from the exo query x̄ₙ and 𝒵' from the ego query ḡₙ. α is a Python
        float: 𝒵' is not computed when α = 0 (inference), 𝒵 not in the ego-query-only ablation. 𝒵 lies
        on the exo grid; ViewTransfer carries it to the ego grid. The decoder also sees the first ego
        frame's memory entry (slot 0: its key and its mask feature, on the ego grid), the only
        ego-grid information once ego frames are zero images; at step 0 (slot 0 still empty) the
        current ego key and a zero mask feature stand in.
        """
        memory_keys, memory_values, memory_valid = memory
        batch, slots, views, positions = memory_keys.shape[:4]
        keys = torch.cat([memory_keys.reshape(batch, slots * views * positions, -1), exo_key], dim=1)
        values = torch.cat([memory_values.reshape(batch, slots * views * positions, -1), exo_value], dim=1)
        slot_bias = (1.0 - memory_valid) * INVALID_SLOT_BIAS  # (B, S)
        bias = torch.cat(
            [slot_bias.repeat_interleave(views * positions, dim=1), exo_key.new_zeros(batch, positions)],
            dim=1,
        )
        first_stored = memory_valid[:, :1, None] > 0.5  # (B, 1, 1)
        first_key = torch.where(first_stored, memory_keys[:, 0, 1], ego_key)  # (B, P, Dk)
        first_value = torch.where(first_stored, memory_values[:, 0, 1], torch.zeros_like(exo_value))
        readout = 0.0
        if self.view_transfer is not None:  # computed even at α = 1, so every parameter trains (DDP)
            exo_readout = self.attention.read(exo_features8, keys, values, bias)
            readout = (1.0 - alpha) * self.view_transfer(exo_readout, first_key, exo_key)
        if alpha > 0.0:
            readout = readout + alpha * self.attention.read(ego_features[1], keys, values, bias)
        grid = ego_features[1].shape[-2:]
        first_frame = torch.cat([first_key, first_value], dim=2).transpose(1, 2).unflatten(2, grid)
        return self.decoder(torch.cat([readout, first_frame], dim=1), ego_features, self.config.image_size)

    # -- whole clips (training and evaluation) ------------------------------------------------------

    def forward(
        self, exo: torch.Tensor, exo_masks: torch.Tensor, ego: torch.Tensor, alpha: float | None = None
    ) -> torch.Tensor:
        """Predict the ego logits of whole clips, frame by frame through the fixed-capacity memory.

        Args:
            exo: (B,T,3,H,W) float exo frames in [0,1].
            exo_masks: (B,T,H,W) int exo label maps {0,1,2}.
            ego: (B,T,3,H,W) float ego frames in [0,1]; unobserved frames are zero images (at inference,
                every frame after the first).
            alpha: weight of the ego-query read-out 𝒵'; None = config.inference_alpha.
        Returns:
            (B,T,3,H,W) logits over {background, hand, object}.
        """
        alpha = self.config.inference_alpha if alpha is None else float(alpha)
        batch, frames = exo.shape[:2]
        features = self.encode_images(torch.cat([exo.flatten(0, 1), ego.flatten(0, 1)]))
        exo_features = [f[: batch * frames].unflatten(0, (batch, frames)) for f in features]
        ego_features = [f[batch * frames :].unflatten(0, (batch, frames)) for f in features]
        exo_keys = self.attention.keys_of(exo_features[1].flatten(0, 1)).unflatten(0, (batch, frames))
        ego_keys = self.attention.keys_of(ego_features[1].flatten(0, 1)).unflatten(0, (batch, frames))
        exo_values = self.encode_mask_values(
            exo.flatten(0, 1), exo_features[1].flatten(0, 1), hand_object_channels(exo_masks.flatten(0, 1))
        ).unflatten(0, (batch, frames))
        memory = self.empty_memory(batch, exo.device)
        logits = []
        for n in range(frames):
            ego_n = [f[:, n] for f in ego_features]
            step_logits = self.predict_from_features(
                exo_features[1][:, n], exo_keys[:, n], exo_values[:, n], ego_n, ego_keys[:, n], memory, alpha
            )
            ego_value = self.encode_mask_values(ego[:, n], ego_n[1], torch.softmax(step_logits, dim=1)[:, 1:])
            memory = write_memory(
                memory,
                memory_slot(n, self.config.memory_ring),
                exo_keys[:, n],
                exo_values[:, n],
                ego_keys[:, n],
                ego_value,
            )
            logits.append(step_logits)
        return torch.stack(logits, dim=1)


def write_memory(
    memory: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    slot: int,
    exo_key: torch.Tensor,
    exo_value: torch.Tensor,
    ego_key: torch.Tensor,
    ego_value: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the memory with `slot` holding this frame's exo and ego entries (inputs are not modified)."""
    keys, values, valid = (t.clone() for t in memory)
    keys[:, slot] = torch.stack([exo_key, ego_key], dim=1)
    values[:, slot] = torch.stack([exo_value, ego_value], dim=1)
    valid[:, slot] = 1.0
    return keys, values, valid
