"""A small per-frame HOI segmenter (frame -> {0 background, 1 hand, 2 object}), for exo or ego frames.

The paper labels exo frames offline (§2.4); a live robot gets no exo masks from its camera, so this
network supplies them online. Architecture: the shared ResNet encoder (strides 4, 8, 16) and a UNet
decoder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from egoexo_models.clip import NUM_LABELS
from egoexo_models.maskpred.config import SegmenterConfig
from egoexo_models.maskpred.model import ImageNormalizer
from egoexo_models.nn import ConvNormAct, ResNetEncoder, UpBlock


class HOISegmenter(nn.Module):
    """Images (B,3,H,W) float in [0,1] -> logits (B,3,H,W). Exported as is (input "image", output "logits")."""

    input_names = ("image",)
    output_names = ("logits",)

    def __init__(self, config: SegmenterConfig) -> None:
        super().__init__()
        self.config = config
        widths, decoder = config.encoder_widths, config.decoder_widths
        self.normalize = ImageNormalizer()
        self.encoder = ResNetEncoder(3, config.stem_width, widths, config.encoder_blocks, config.stem_kernel)
        self.bottom = ConvNormAct(widths[2], decoder[0])
        self.up8 = UpBlock(decoder[0], widths[1], decoder[1])
        self.up4 = UpBlock(decoder[1], widths[0], decoder[2])
        self.head = nn.Conv2d(decoder[2], NUM_LABELS, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.encoder(self.normalize(image))
        x = self.up4(self.up8(self.bottom(features[2]), features[1]), features[0])
        return F.interpolate(self.head(x), size=image.shape[-2:], mode="bilinear", align_corners=False)

    def example_inputs(self) -> dict[str, torch.Tensor]:
        return {"image": torch.zeros(1, 3, *self.config.image_size)}
