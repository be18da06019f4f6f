"""Frozen configurations of the mask predictor Φseg and the HOI segmenters (saved as JSON beside weights)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

QUERY_MODES = ("both", "exo", "ego")
SEGMENTER_VIEWS = ("exo", "ego")


def _as_int_tuple(config: Any, name: str) -> None:
    """Normalise a list field (as JSON gives it) to a tuple of positive ints, or raise naming it."""
    value = getattr(config, name)
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(v, int) and v > 0 for v in value)
    ):
        raise ValueError(
            f"{type(config).__name__}.{name} must be a non-empty list of positive ints, got {value!r}"
        )
    object.__setattr__(config, name, tuple(value))


def _check_image_size(config: Any, stride: int) -> None:
    _as_int_tuple(config, "image_size")
    if len(config.image_size) != 2 or any(side % stride for side in config.image_size):
        raise ValueError(
            f"{type(config).__name__}.image_size must be (height, width), each a multiple of {stride}, "
            f"got {config.image_size!r}"
        )


def config_hash(config: Any) -> str:
    """16 hex digits identifying a config's content (embedded in exported ONNX files)."""
    text = json.dumps({"type": type(config).__name__, **dataclasses.asdict(config)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MaskPredictorConfig:
    """Φseg (paper §2.2) sizes.

    image_size: (H, W) of every input frame; the memory works on the stride-8 grid (H/8, W/8).
    stem_width, stem_kernel, encoder_widths, encoder_blocks: the shared image ResNet (3 stages: strides
        4, 8, 16); the mask ResNet shares the stem sizes. stem_kernel 7 is ResNet's (needed for ImageNet
        weights); 3 costs a fifth of its multiply-adds.
    mask_encoder_widths, mask_encoder_blocks: the second ResNet over [frame, hand, object] (5 channels;
        2 stages: strides 4, 8).
    key_dim (D3 in the paper), value_dim: memory attention sizes.
    decoder_widths: channels of the decoder blocks at strides 8 and 4.

    The memory grid is stride 8 (16x16 at 128x128), not the paper's stride 16 (30x30 at 480x480): at
    128x128 an 8x8 grid cannot hold the thin hand-and-arm masks (an 8x8 oracle scores about as
    well as copying the first mask on sim clips; a 16x16 one about 0.8 IoU).
    memory_ring: K, the ring of the last K frames kept besides the always-kept first frame.
    query: which memory attention is used: "both" (ego query mixed in by α during training, exo query
        at inference, as in the paper), "exo" (exo query only), "ego" (ego query only, Table 4 ablations).
    """

    image_size: tuple[int, int] = (128, 128)
    stem_width: int = 16
    stem_kernel: int = 3
    encoder_widths: tuple[int, ...] = (16, 32, 64)
    encoder_blocks: tuple[int, ...] = (1, 1, 1)
    mask_encoder_widths: tuple[int, ...] = (16, 32)
    mask_encoder_blocks: tuple[int, ...] = (1, 1)
    key_dim: int = 16
    value_dim: int = 32
    decoder_widths: tuple[int, ...] = (32, 16)
    memory_ring: int = 4
    query: str = "both"

    def __post_init__(self) -> None:
        _check_image_size(self, 16)
        stages = {
            "encoder_widths": 3,
            "encoder_blocks": 3,
            "mask_encoder_widths": 2,
            "mask_encoder_blocks": 2,
            "decoder_widths": 2,
        }
        for name, count in stages.items():
            _as_int_tuple(self, name)
            if len(getattr(self, name)) != count:
                raise ValueError(
                    f"MaskPredictorConfig.{name} needs {count} entries, got {getattr(self, name)}"
                )
        for name in ("stem_width", "stem_kernel", "key_dim", "value_dim", "memory_ring"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(
                    f"MaskPredictorConfig.{name} must be a positive int, got {getattr(self, name)!r}"
                )
        if self.query not in QUERY_MODES:
            raise ValueError(f"MaskPredictorConfig.query must be one of {QUERY_MODES}, got {self.query!r}")

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) of the stride-8 feature grid the memory attention works on."""
        return self.image_size[0] // 8, self.image_size[1] // 8

    @property
    def memory_slots(self) -> int:
        """S = 1 (first frame, always kept) + K (ring)."""
        return 1 + self.memory_ring

    @property
    def inference_alpha(self) -> float:
        """α at inference: the ego query only in the ego-only ablation, else the exo query (ego frames unseen)."""
        return 1.0 if self.query == "ego" else 0.0


@dataclass(frozen=True)
class SegmenterConfig:
    """A per-frame HOI segmenter: frame -> label map {0 background, 1 hand, 2 object}.

    view: which camera it was trained for ("exo" for the live exo masks, "ego" for ego annotation).
    The other fields size the ResNet encoder (strides 4, 8, 16) and the UNet decoder, as in
    MaskPredictorConfig.
    """

    image_size: tuple[int, int] = (128, 128)
    view: str = "exo"
    stem_width: int = 16
    stem_kernel: int = 3
    encoder_widths: tuple[int, ...] = (16, 32, 64)
    encoder_blocks: tuple[int, ...] = (1, 1, 1)
    decoder_widths: tuple[int, ...] = (64, 32, 16)

    def __post_init__(self) -> None:
        _check_image_size(self, 16)
        for name in ("encoder_widths", "encoder_blocks", "decoder_widths"):
            _as_int_tuple(self, name)
            if len(getattr(self, name)) != 3:
                raise ValueError(
                    f"SegmenterConfig.{name} needs 3 entries (strides 4, 8, 16), got {getattr(self, name)}"
                )
        for name in ("stem_width", "stem_kernel"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(
                    f"SegmenterConfig.{name} must be a positive int, got {getattr(self, name)!r}"
                )
        if self.view not in SEGMENTER_VIEWS:
            raise ValueError(f"SegmenterConfig.view must be one of {SEGMENTER_VIEWS}, got {self.view!r}")


def tiny_mask_predictor_config(size: int = 32, **overrides: Any) -> MaskPredictorConfig:
    """A mask predictor of a few thousand parameters at size x size, for tests and random-weight smoke runs."""
    tiny = dict(
        image_size=(size, size),
        stem_width=8,
        encoder_widths=(8, 8, 16),
        mask_encoder_widths=(8, 8),
        key_dim=8,
        value_dim=16,
        decoder_widths=(16, 8),
        memory_ring=2,
    )
    return MaskPredictorConfig(**(tiny | overrides))
