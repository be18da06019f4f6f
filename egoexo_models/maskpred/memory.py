"""The fixed-capacity memory of the streaming mask predictor: the first frame always kept + a ring of K.

Layout (matches MaskPredictor): keys (1, S, 2, P, Dk), values (1, S, 2, P, Dv), valid (1, S), with
S = 1 + K slots, axis 2 the view (0 exo, 1 ego) and P the positions of the stride-16 grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def memory_slot(frame_index: int, ring_size: int) -> int:
    """Slot that frame `frame_index` is written to: 0 for the first frame, then 1..K in a ring."""
    if frame_index < 0 or ring_size <= 0:
        raise ValueError(f"frame_index must be >= 0 and ring_size > 0, got {frame_index} and {ring_size}")
    return 0 if frame_index == 0 else 1 + (frame_index - 1) % ring_size


@dataclass(frozen=True)
class MaskMemoryState:
    """One stream's state between steps. `step` returns a new state; a state is never modified.

    keys, values, valid: the memory tensors (float32, shapes above).
    ego_first_frame: (H,W,3) uint8, fed to the model at step 0; later ego frames are zero images.
    frames_seen: how many frames were stepped (the index of the next frame).
    """

    keys: np.ndarray
    values: np.ndarray
    valid: np.ndarray
    ego_first_frame: np.ndarray
    frames_seen: int = 0

    @classmethod
    def empty(
        cls, slots: int, positions: int, key_dim: int, value_dim: int, ego_first_frame: np.ndarray
    ) -> MaskMemoryState:
        return cls(
            keys=np.zeros((1, slots, 2, positions, key_dim), np.float32),
            values=np.zeros((1, slots, 2, positions, value_dim), np.float32),
            valid=np.zeros((1, slots), np.float32),
            ego_first_frame=ego_first_frame,
        )

    @property
    def ring_size(self) -> int:
        return self.keys.shape[1] - 1

    def written(
        self, exo_key: np.ndarray, exo_value: np.ndarray, ego_key: np.ndarray, ego_value: np.ndarray
    ) -> MaskMemoryState:
        """The state after storing the current frame's entries ((1,P,D) each) and advancing one frame."""
        slot = memory_slot(self.frames_seen, self.ring_size)
        keys, values, valid = self.keys.copy(), self.values.copy(), self.valid.copy()
        keys[0, slot, 0], keys[0, slot, 1] = exo_key[0], ego_key[0]
        values[0, slot, 0], values[0, slot, 1] = exo_value[0], ego_value[0]
        valid[0, slot] = 1.0
        return MaskMemoryState(keys, values, valid, self.ego_first_frame, self.frames_seen + 1)
