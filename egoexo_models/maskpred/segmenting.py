"""Runners of the per-frame HOI segmenters: uint8 frame (H,W,3) -> uint8 label map (H,W)."""

from __future__ import annotations

import numpy as np

from egoexo_models.maskpred.config import SegmenterConfig
from egoexo_models.maskpred.inputs import check_frame, frame_input, labels_from_logits
from egoexo_models.runtime import Runtime


class FrameSegmenter:
    """A HOISegmenter on a Runtime. Attributes: config, model_id, backend, device, runtime."""

    view = ""

    def __init__(self, runtime: Runtime, config: SegmenterConfig, model_id: str) -> None:
        if config.view != self.view:
            raise ValueError(
                f"{type(self).__name__} needs a segmenter trained on {self.view} frames; {model_id} is for {config.view}"
            )
        self.runtime = runtime
        self.config = config
        self.model_id = model_id

    @property
    def backend(self) -> str:
        return self.runtime.backend

    @property
    def device(self) -> str:
        return self.runtime.device

    def segment_logits(self, frame: np.ndarray) -> np.ndarray:
        """float32 logits (3,H,W) for one uint8 frame (H,W,3)."""
        check_frame(f"{self.view}_frame", frame, self.config.image_size)
        return self.runtime.run({"image": frame_input(frame)})["logits"][0]

    def segment(self, frame: np.ndarray) -> np.ndarray:
        """Label map (H,W) uint8: 0 background, 1 hand, 2 object.

        Raises:
            MaskInputError: wrong type, dtype, size or NaN in `frame`.
            FloatingPointError: the model produced NaN (corrupt weights).
        """
        return labels_from_logits(
            self.segment_logits(frame), f"{self.view} segmenter {self.model_id} ({self.backend})"
        )

    def close(self) -> None:
        self.runtime.close()


class ExoSegmenter(FrameSegmenter):
    """Exo HOI segmenter: gives the mask predictor its exo masks when no annotation arrives with the frame."""

    view = "exo"


class EgoSegmenter(FrameSegmenter):
    """Ego HOI segmenter (per-frame ego labels, e.g. for the annotation pipeline and the observed frame)."""

    view = "ego"
