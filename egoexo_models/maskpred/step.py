"""The one-frame step of Φseg as a graph with explicit tensor inputs and outputs (for export and runtimes).

Inputs (static shapes; S memory slots, P grid positions):
    exo_image (1,3,H,W) float32 in [0,1]; exo_mask (1,2,H,W) float32 hand/object one-hot;
    ego_image (1,3,H,W) float32 in [0,1] (the real first frame at step 0, zeros afterwards);
    memory_keys (1,S,2,P,Dk), memory_values (1,S,2,P,Dv), memory_valid (1,S) float32.
Outputs:
    logits (1,3,H,W); exo_key, ego_key (1,P,Dk); exo_value, ego_value (1,P,Dv): this frame's memory
    entries, which the runner writes into the slot the memory policy chooses.
"""

from __future__ import annotations

import torch
from torch import nn

from egoexo_models.maskpred.model import MaskPredictor


class MaskPredictorStep(nn.Module):
    """Wraps a MaskPredictor as one auto-regressive step at the config's inference α."""

    input_names = ("exo_image", "exo_mask", "ego_image", "memory_keys", "memory_values", "memory_valid")
    output_names = ("logits", "exo_key", "exo_value", "ego_key", "ego_value")

    def __init__(self, model: MaskPredictor) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        exo_image: torch.Tensor,
        exo_mask: torch.Tensor,
        ego_image: torch.Tensor,
        memory_keys: torch.Tensor,
        memory_values: torch.Tensor,
        memory_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        model = self.model
        features = model.encode_images(torch.cat([exo_image, ego_image]))
        exo_features8 = features[1][:1]
        ego_features = [f[1:] for f in features]
        exo_key = model.attention.keys_of(exo_features8)
        exo_value = model.encode_mask_values(exo_image, exo_features8, exo_mask)
        ego_key = model.attention.keys_of(ego_features[1])
        logits = model.predict_from_features(
            exo_features8,
            exo_key,
            exo_value,
            ego_features,
            ego_key,
            (memory_keys, memory_values, memory_valid),
            model.config.inference_alpha,
        )
        ego_value = model.encode_mask_values(ego_image, ego_features[1], torch.softmax(logits, dim=1)[:, 1:])
        return logits, exo_key, exo_value, ego_key, ego_value

    def example_inputs(self) -> dict[str, torch.Tensor]:
        """Zero inputs of the right shapes (for export and warm-up)."""
        config = self.model.config
        height, width = config.image_size
        keys, values, valid = self.model.empty_memory(1)
        return {
            "exo_image": torch.zeros(1, 3, height, width),
            "exo_mask": torch.zeros(1, 2, height, width),
            "ego_image": torch.zeros(1, 3, height, width),
            "memory_keys": keys,
            "memory_values": values,
            "memory_valid": valid,
        }
