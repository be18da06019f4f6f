"""StreamingMaskPredictor: drives the exported Φseg step on any runtime, one exo frame at a time.

    predictor = load_mask_predictor()                       # shipped weights, torch on CPU
    state = predictor.init_state(ego_first_frame)           # uint8 (H,W,3)
    for exo_frame, exo_mask in stream:
        ego_labels, state = predictor.step(state, exo_frame, exo_mask)   # uint8 (H,W) in {0,1,2}

The first step predicts ego frame 0 from the real first ego frame; later steps see zero ego images
(paper §2.2, inference). One predictor serves any number of streams: all per-stream data is in the
MaskMemoryState, which `step` never modifies.
"""

from __future__ import annotations

import numpy as np

from egoexo_models.maskpred.config import MaskPredictorConfig
from egoexo_models.maskpred.inputs import (
    MaskInputError,
    check_frame,
    check_label_map,
    frame_input,
    hand_object_input,
    labels_from_logits,
)
from egoexo_models.maskpred.memory import MaskMemoryState
from egoexo_models.runtime import Runtime


class StreamingMaskPredictor:
    """Per-frame ego HOI mask prediction over a Runtime running the MaskPredictorStep graph.

    Attributes: config, model_id ("maskpred:<hash>"), backend, device, runtime.
    """

    def __init__(self, runtime: Runtime, config: MaskPredictorConfig, model_id: str) -> None:
        self.runtime = runtime
        self.config = config
        self.model_id = model_id
        self._zero_ego = np.zeros((1, 3, *config.image_size), np.float32)

    @property
    def backend(self) -> str:
        return self.runtime.backend

    @property
    def device(self) -> str:
        return self.runtime.device

    def init_state(self, ego_first_frame: np.ndarray) -> MaskMemoryState:
        """A fresh memory for one stream, given its first ego frame (uint8 (H,W,3))."""
        frame = check_frame("ego_first_frame", ego_first_frame, self.config.image_size).copy()
        grid_h, grid_w = self.config.grid
        return MaskMemoryState.empty(
            self.config.memory_slots, grid_h * grid_w, self.config.key_dim, self.config.value_dim, frame
        )

    def step_logits(
        self, state: MaskMemoryState, exo_frame: np.ndarray, exo_mask: np.ndarray
    ) -> tuple[np.ndarray, MaskMemoryState]:
        """Like `step`, returning the float32 logits (3,H,W) over {background, hand, object}."""
        if not isinstance(state, MaskMemoryState):
            raise MaskInputError(f"state must come from init_state() or step(), got {type(state).__name__}")
        size = self.config.image_size
        check_frame("exo_frame", exo_frame, size)
        check_label_map("exo_mask", exo_mask, size)
        ego = frame_input(state.ego_first_frame) if state.frames_seen == 0 else self._zero_ego
        outputs = self.runtime.run(
            {
                "exo_image": frame_input(exo_frame),
                "exo_mask": hand_object_input(exo_mask),
                "ego_image": ego,
                "memory_keys": state.keys,
                "memory_values": state.values,
                "memory_valid": state.valid,
            }
        )
        new_state = state.written(
            outputs["exo_key"], outputs["exo_value"], outputs["ego_key"], outputs["ego_value"]
        )
        return outputs["logits"][0], new_state

    def step(
        self, state: MaskMemoryState, exo_frame: np.ndarray, exo_mask: np.ndarray
    ) -> tuple[np.ndarray, MaskMemoryState]:
        """Predict the ego label map (H,W) uint8 for this exo frame (uint8 (H,W,3)) and its mask (uint8 (H,W)).

        Raises:
            MaskInputError: a wrong type, dtype, size, NaN, or a label outside {0,1,2}.
            FloatingPointError: the model produced NaN (corrupt weights); never returned silently.
        """
        logits, new_state = self.step_logits(state, exo_frame, exo_mask)
        return labels_from_logits(logits, f"mask predictor {self.model_id} ({self.backend})"), new_state

    def predict_clip(
        self, ego_first_frame: np.ndarray, exo_frames: np.ndarray, exo_masks: np.ndarray
    ) -> np.ndarray:
        """Ego label maps (N,H,W) uint8 for a whole clip: exo_frames (N,H,W,3), exo_masks (N,H,W)."""
        if len(exo_frames) != len(exo_masks):
            raise MaskInputError(f"exo_frames has {len(exo_frames)} frames but exo_masks {len(exo_masks)}")
        state = self.init_state(ego_first_frame)
        labels = []
        for exo_frame, exo_mask in zip(exo_frames, exo_masks, strict=True):
            frame_labels, state = self.step(state, exo_frame, exo_mask)
            labels.append(frame_labels)
        return np.stack(labels)

    def close(self) -> None:
        self.runtime.close()
