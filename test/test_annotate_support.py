"""Shared material for the annotation tests: synthetic clips and tiny real models exported by the tests.

A "colour world": grey background, a red square (the hand) and a blue square (the object) that
move from frame to frame. ColourSegmenter is a real torch network (a 1x1 convolution with set
weights) that segments it, exported to ONNX and TorchScript for the generic prompter.
"""

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from egoexo_models.clip import Clip, ClipMeta, write_clip

BACKGROUND = (128, 128, 128)
RED, BLUE = (230, 20, 20), (20, 20, 230)


def colour_frames(
    num_frames: int = 6, size: int = 32, *, object_from: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 (N,H,W,3) and their true label maps (N,H,W): a moving hand and object."""
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    frames[:] = BACKGROUND
    labels = np.zeros((num_frames, size, size), np.uint8)
    side = size // 4
    for index in range(num_frames):
        hx, hy = 2 + index, 4
        frames[index, hy : hy + side, hx : hx + side] = RED
        labels[index, hy : hy + side, hx : hx + side] = 1
        if index >= object_from:
            ox, oy = size - side - 2 - index, size - side - 3
            frames[index, oy : oy + side, ox : ox + side] = BLUE
            labels[index, oy : oy + side, ox : ox + side] = 2
    return frames, labels


class ColourSegmenter(nn.Module):
    """Image (1,3,H,W) in [0,1] -> class scores (1,C,H,W): red -> hand, blue -> object.

    With C classes, red is class 1, blue class C-1 and the classes between never win, like a model
    whose class ids differ from our labels (mapped through a spec's `classes`).
    """

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, 1)
        weight = torch.zeros(num_classes, 3)
        bias = torch.full((num_classes,), -10.0)
        bias[0] = 0.3
        weight[1] = torch.tensor([1.0, -1.0, -1.0])
        bias[1] = 0.0
        weight[num_classes - 1] = torch.tensor([-1.0, -1.0, 1.0])
        bias[num_classes - 1] = 0.0
        with torch.no_grad():
            self.conv.weight.copy_(weight[:, :, None, None])
            self.conv.bias.copy_(bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.conv(image)


class RedDetector(nn.Module):
    """Image (1,3,H,W) -> (boxes (1,4), scores (1,), classes (1,)): the box of the red pixels as class 7."""

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        red = (image[0, 0] > 0.8) & (image[0, 1] < 0.2) & (image[0, 2] < 0.2)
        points = torch.nonzero(red)  # (K, 2) rows y, x
        ys, xs = points[:, 0], points[:, 1]
        box = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
        return box[None], torch.tensor([0.9]), torch.tensor([7])


def export_onnx(module: nn.Module, path: Path, size: int = 32) -> Path:
    with warnings.catch_warnings():
        # the legacy exporter (deprecated, but fast): these test graphs have static shapes
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (torch.zeros(1, 3, size, size),),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
        )
    return path


def export_torchscript(module: nn.Module, path: Path, *, trace_size: int | None = None) -> Path:
    """Script `module`, or trace it on a (1,3,S,S) input when trace_size is given (for unscriptable code)."""
    module = module.eval()
    with warnings.catch_warnings():
        # torch.jit's deprecation notice: TorchScript files are still what users have
        warnings.simplefilter("ignore")
        if trace_size is None:
            scripted = torch.jit.script(module)
        else:
            scripted = torch.jit.trace(module, torch.zeros(1, 3, trace_size, trace_size))
        torch.jit.save(scripted, str(path))
    return path


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch with `count` intra-op threads; one avoids OpenMP spin-waits on shared, busy cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def write_spec(path: Path, **spec) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def write_colour_clip(
    root: Path, name: str, num_frames: int = 6, size: int = 32, *, masks: bool = False
) -> Path:
    frames, labels = colour_frames(num_frames, size)
    meta = ClipMeta(
        instruction="C moves the blue box",
        fps=8.0,
        num_frames=num_frames,
        height=size,
        width=size,
        source="test",
    )
    clip = Clip(
        meta=meta,
        exo=frames,
        ego=frames[:, ::-1].copy(),
        exo_masks=labels if masks else None,
        ego_masks=labels[:, ::-1].copy() if masks else None,
    )
    return write_clip(root / name, clip)


def test_the_colour_segmenter_recovers_the_true_labels_of_the_colour_world():
    frames, labels = colour_frames(4, 32)
    images = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    predicted = ColourSegmenter()(images).argmax(1).numpy()
    assert np.array_equal(predicted, labels)
