"""A prompter that runs any user-given ONNX or TorchScript model under one documented contract.

So EgoHOS, 100DOH or Sapiens, exported by the user, plug in without code changes. The model is
described by a YAML spec (docs/annotation.md):

    model: egohos.onnx            # path, relative to the spec; .onnx runs on ONNX Runtime, .pt/.ts/.torchscript on TorchScript
    kind: labels                  # labels (segmentation) or boxes (detection)
    input_size: [448, 448]        # (H, W) fed to the model; default: the ONNX input's static size, else the frame size
    classes: {0: 0, 1: 1, 2: 1, 3: 2}   # model class -> label (0 background, 1 hand, 2 interacting object)
    default_label: null           # label of classes not listed; null makes an unlisted class an error
    score_threshold: 0.5          # boxes: keep detections scoring at least this
    box_coordinates: pixels       # boxes: pixels of the model input, or normalized to [0, 1]

Input: one float32 tensor (1, 3, H, W), RGB in [0, 1] (the model normalises itself).
Output, kind labels: class scores (1, C, h, w) (argmax over C) or class ids (1, h, w) / (h, w),
    any h, w (resized to the frame, nearest).
Output, kind boxes: boxes (K, 4) x0 y0 x1 y1, scores (K,), classes (K,), with or without a leading
    batch of 1; ONNX outputs named boxes/scores/classes, or those three in that order.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from PIL import Image

from egoexo_models.clip import NUM_LABELS
from egoexo_models.weights import ConfigError, config_from_dict
from training.annotation.prompts import Box, FramePrompt, PrompterError, checked_prompt

ONNX_SUFFIXES = (".onnx",)
TORCHSCRIPT_SUFFIXES = (".pt", ".ts", ".torchscript")
BOX_OUTPUTS = ("boxes", "scores", "classes")


@dataclass(frozen=True)
class GenericPrompterSpec:
    """The YAML spec of a generic prompter (see the module docstring)."""

    model: Path
    kind: Literal["labels", "boxes"]
    classes: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 1, 2: 2})
    input_size: tuple[int, int] | None = None
    default_label: int | None = None
    score_threshold: float = 0.5
    box_coordinates: Literal["pixels", "normalized"] = "pixels"

    def __post_init__(self) -> None:
        labels = [*self.classes.values(), *([] if self.default_label is None else [self.default_label])]
        bad = sorted({label for label in labels if not 0 <= label < NUM_LABELS})
        if bad:
            raise ConfigError(
                f"classes/default_label map to {bad}; labels are 0 background, 1 hand, 2 object"
            )
        if self.input_size is not None and min(self.input_size) <= 0:
            raise ConfigError(f"input_size must be positive (H, W), got {self.input_size}")


def load_prompter_spec(path: str | os.PathLike) -> GenericPrompterSpec:
    """Read a prompter spec YAML; the model path is taken relative to the spec file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PrompterError(f"{path}: prompter spec not found") from None
    except yaml.YAMLError as error:
        raise PrompterError(f"{path}: not valid YAML ({error})") from None
    try:
        spec = config_from_dict(GenericPrompterSpec, data if isinstance(data, dict) else {}, str(path))
    except ConfigError as error:
        raise PrompterError(str(error)) from None
    model = spec.model if spec.model.is_absolute() else path.parent / spec.model
    return GenericPrompterSpec(**{**spec.__dict__, "model": model})


class GenericModelPrompter:
    """Runs the model of a GenericPrompterSpec on one frame at a time (see the module docstring)."""

    def __init__(self, spec: GenericPrompterSpec, device: str = "cpu") -> None:
        self.spec = spec
        self.kind = spec.kind
        path = spec.model
        if not path.is_file():
            raise PrompterError(f"{path}: model file not found (the prompter spec's `model:`)")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
        self.name = f"generic:{path.name}:{digest}"
        suffix = path.suffix.lower()
        if suffix in ONNX_SUFFIXES:
            self._run, static_size = _onnx_runner(path, device)
        elif suffix in TORCHSCRIPT_SUFFIXES:
            self._run, static_size = _torchscript_runner(path, device), None
        else:
            raise PrompterError(
                f"{path}: unknown model format {suffix!r}; use {ONNX_SUFFIXES + TORCHSCRIPT_SUFFIXES}"
            )
        self.input_size = spec.input_size or static_size
        self._class_table = dict(spec.classes)

    def prompt(self, frame: np.ndarray) -> FramePrompt:
        height, width = frame.shape[:2]
        size = self.input_size or (height, width)
        image = (
            frame
            if (height, width) == size
            else np.asarray(Image.fromarray(frame).resize((size[1], size[0]), Image.BILINEAR))
        )
        batch = (image.astype(np.float32) / np.float32(255.0)).transpose(2, 0, 1)[None].copy()
        outputs = self._run(batch)
        if self.kind == "labels":
            prompt = FramePrompt(labels=self._labels(outputs, (height, width)))
        else:
            prompt = FramePrompt(boxes=self._boxes(outputs, size, (height, width)))
        return checked_prompt(prompt, (height, width), self.kind, self.name)

    def _labels(self, outputs: dict[str, np.ndarray], frame_size: tuple[int, int]) -> np.ndarray:
        scores = next(iter(outputs.values()))
        if scores.ndim == 4 and scores.shape[0] == 1:
            if not np.isfinite(scores).all():
                raise PrompterError(f"{self.name} produced NaN or inf scores")
            classes = scores[0].argmax(axis=0)
        elif scores.ndim in (2, 3) and np.issubdtype(scores.dtype, np.integer):
            classes = scores.reshape(scores.shape[-2:])
        else:
            raise PrompterError(
                f"{self.name} output has shape {scores.shape} ({scores.dtype}); a segmentation model must give "
                "class scores (1, C, h, w) or integer class ids (1, h, w)"
            )
        labels = self._map_classes(classes)
        if labels.shape != frame_size:
            labels = np.asarray(Image.fromarray(labels).resize((frame_size[1], frame_size[0]), Image.NEAREST))
        return labels

    def _boxes(
        self, outputs: dict[str, np.ndarray], input_size: tuple[int, int], frame_size: tuple[int, int]
    ) -> tuple[Box, ...]:
        named = all(name in outputs for name in BOX_OUTPUTS)
        arrays = [outputs[name] for name in BOX_OUTPUTS] if named else list(outputs.values())[:3]
        if len(arrays) != 3:
            raise PrompterError(
                f"{self.name} gave {len(outputs)} output(s); a detector must give {BOX_OUTPUTS}"
            )
        boxes, scores, classes = (np.asarray(a) for a in arrays)
        if boxes.ndim == 3 and boxes.shape[0] == 1:
            boxes, scores, classes = boxes[0], scores.reshape(-1), classes.reshape(-1)
        if boxes.ndim != 2 or boxes.shape[1] != 4 or not (len(boxes) == scores.size == classes.size):
            raise PrompterError(
                f"{self.name} gave boxes {boxes.shape}, scores {scores.shape}, classes {classes.shape}; "
                "expected (K, 4), (K,), (K,)"
            )
        if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
            raise PrompterError(f"{self.name} produced NaN or inf boxes or scores")
        scale_x, scale_y = (
            (1.0, 1.0)
            if self.spec.box_coordinates == "normalized"
            else (1 / input_size[1], 1 / input_size[0])
        )
        height, width = frame_size
        labels = self._map_classes(classes.astype(np.int64))
        result = []
        for (x0, y0, x1, y1), score, label in zip(
            boxes.tolist(), scores.tolist(), labels.tolist(), strict=True
        ):
            if label == 0 or score < self.spec.score_threshold:
                continue
            xs = sorted(min(max(v * scale_x * width, 0.0), width) for v in (x0, x1))
            ys = sorted(min(max(v * scale_y * height, 0.0), height) for v in (y0, y1))
            result.append(Box(label=int(label), xyxy=(xs[0], ys[0], xs[1], ys[1]), score=float(score)))
        return tuple(result)

    def _map_classes(self, classes: np.ndarray) -> np.ndarray:
        values = np.unique(classes)
        unknown = [int(v) for v in values if int(v) not in self._class_table]
        if unknown and self.spec.default_label is None:
            raise PrompterError(
                f"{self.name} produced class(es) {unknown} that the spec's `classes` does not map; "
                "add them to `classes` or set `default_label`"
            )
        lookup = {int(v): self._class_table.get(int(v), self.spec.default_label) for v in values}
        labels = np.zeros(classes.shape, np.uint8)
        for value, label in lookup.items():
            labels[classes == value] = label
        return labels


def _onnx_runner(path: Path, device: str):
    import onnxruntime

    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types for unreadable models
        raise PrompterError(f"{path}: ONNX Runtime cannot load the model ({error})") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise PrompterError(
            f"{path}: the model takes {len(inputs)} inputs; the contract is one image (1,3,H,W)"
        )
    shape = inputs[0].shape
    static = tuple(shape[2:]) if len(shape) == 4 and all(isinstance(s, int) for s in shape[2:]) else None
    input_name = inputs[0].name
    output_names = [o.name for o in session.get_outputs()]

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(output_names, session.run(None, {input_name: batch}), strict=True))

    return run, static


def _torchscript_runner(path: Path, device: str):
    import torch

    try:
        with warnings.catch_warnings():
            # torch.jit is deprecated, but TorchScript files are what many users have
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, ValueError) as error:
        raise PrompterError(f"{path}: not a loadable TorchScript model ({error})") from None

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            output = module(torch.from_numpy(batch).to(device))
        if isinstance(output, dict):
            return {name: value.cpu().numpy() for name, value in output.items()}
        if isinstance(output, tuple | list):
            names = BOX_OUTPUTS if len(output) == 3 else [f"output{i}" for i in range(len(output))]
            return {name: value.cpu().numpy() for name, value in zip(names, output, strict=True)}
        return {"output": output.cpu().numpy()}

    return run
