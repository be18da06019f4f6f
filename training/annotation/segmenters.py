"""Our own per-frame HOI segmenters (egoexo_models.maskpred) as prompters: "ego-segmenter", "exo-segmenter".

They were trained on sim frames of a fixed size; frames of another size are resized for them
(bilinear) and their label maps back to the frame (nearest).
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from training.annotation.prompts import FramePrompt

OWN_PROMPTERS = ("ego-segmenter", "exo-segmenter")


class SegmenterPrompter:
    """A label-map prompter over any segmenter with `segment(frame) -> labels`, `config.image_size`, `model_id`."""

    kind = "labels"

    def __init__(self, segmenter, name: str) -> None:
        self.segmenter = segmenter
        self.name = name
        self.size = tuple(segmenter.config.image_size)

    def prompt(self, frame: np.ndarray) -> FramePrompt:
        height, width = frame.shape[:2]
        if (height, width) == self.size:
            return FramePrompt(labels=self.segmenter.segment(frame))
        resized = np.asarray(Image.fromarray(frame).resize((self.size[1], self.size[0]), Image.BILINEAR))
        labels = self.segmenter.segment(resized)
        return FramePrompt(labels=np.asarray(Image.fromarray(labels).resize((width, height), Image.NEAREST)))


def load_own_prompter(
    name: str, weights_dir: str | os.PathLike | None, device: str = "cpu"
) -> SegmenterPrompter:
    """The ego or exo segmenter from `weights_dir` (None: the shipped weights)."""
    from egoexo_models.maskpred.loading import load_ego_segmenter, load_exo_segmenter

    if name not in OWN_PROMPTERS:
        raise ValueError(f"unknown own prompter {name!r}; choose one of {OWN_PROMPTERS}")
    loader = load_ego_segmenter if name == "ego-segmenter" else load_exo_segmenter
    segmenter = loader(weights_dir, backend="torch", device=device)
    return SegmenterPrompter(segmenter, name=f"{name}:{segmenter.model_id}")
