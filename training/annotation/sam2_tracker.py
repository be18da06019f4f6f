"""SAM-2 propagation of per-frame prompts through a clip (paper §2.4, Fig. 3), with the `sam2` package.

    tracker = build_sam2_tracker("sam2.1_hiera_t", checkpoint=Path("sam2.1_hiera_tiny.pt"))
    result = tracker.track(frames, prompts, KeyframePolicy())   # labels (N,H,W) uint8 + keyframes

Hand and object are separate SAM-2 objects, prompted with masks (label-map prompters) or boxes
(detectors) on the keyframes chosen by training.annotation.keyframes. Where both objects claim a
pixel, the one with the larger mask logit gets it. Weights come only from a user-given checkpoint
(the official `.pt`, read with torch.load(weights_only=True), or a `.safetensors` of the same
state dict) and must match the config exactly; `allow_random_init` (tests and benchmarks only)
builds the network from its config without weights, which exercises the plumbing but gives
meaningless masks.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from egoexo_models.weights import WeightsError, load_state_strict
from training.annotation.keyframes import KeyframePolicy, prompt_for, should_reprompt
from training.annotation.prompts import TRACKED_LABELS, Box, FramePrompt

DEFAULT_CONFIG = "sam2.1_hiera_t"
INSTALL_HINT = (
    "install it without replacing the CPU torch: SAM2_BUILD_CUDA=0 pip install --no-build-isolation --no-deps "
    "sam2==1.1.0 && pip install hydra-core==1.3.8 iopath==0.1.10"
)


class Sam2Error(ValueError):
    """SAM-2 cannot be built: package missing, unknown config, no checkpoint, or one that does not fit."""


@dataclass(frozen=True)
class TrackResult:
    """labels: uint8 (N,H,W) in {0,1,2}; keyframes: object name -> prompted frames (absent objects: [])."""

    labels: np.ndarray
    keyframes: dict[str, list[int]]


def available_configs() -> dict[str, str]:
    """Short name ("sam2.1_hiera_t") -> config path inside the sam2 package."""
    root = _sam2_package_dir() / "configs"
    paths = [*root.glob("sam2/*.yaml"), *root.glob("sam2.1/*.yaml")]  # not the training configs
    return {p.name.removesuffix(".yaml"): str(p.relative_to(root.parent)) for p in sorted(paths)}


def _sam2_package_dir() -> Path:
    try:
        import sam2
    except ImportError:
        raise Sam2Error(f"the `sam2` package is not installed; {INSTALL_HINT}") from None
    return Path(sam2.__file__).parent


def resolve_config(name: str) -> str:
    """Accept "sam2.1_hiera_t", "sam2.1_hiera_t.yaml" or "configs/sam2.1/sam2.1_hiera_t.yaml"."""
    configs = available_configs()
    short = name.rsplit("/", 1)[-1].removesuffix(".yaml")
    if short not in configs:
        raise Sam2Error(f"unknown SAM-2 config {name!r}; available: {sorted(configs)}")
    return configs[short]


def build_sam2_tracker(
    config: str = DEFAULT_CONFIG,
    checkpoint: Path | None = None,
    *,
    device: str = "cpu",
    image_size: int | None = None,
    allow_random_init: bool = False,
) -> Sam2Tracker:
    """Build the SAM-2 video predictor of `config` with the weights of `checkpoint`.

    Args:
        config: a SAM-2 config name (see available_configs); it must match the checkpoint.
        checkpoint: the user's SAM-2 weights. Required unless allow_random_init.
        image_size: SAM-2's internal resolution; None keeps the config's (1024). Smaller is faster
            and only sensible with weights trained at that size, or for plumbing tests.
        allow_random_init: build without weights (tests and benchmarks only: masks are meaningless).
    """
    if checkpoint is None and not allow_random_init:
        raise Sam2Error(
            "SAM-2 needs weights and none ship with egoexo: pass --sam2-checkpoint PATH (for example "
            "sam2.1_hiera_tiny.pt with --sam2-config sam2.1_hiera_t), or --per-frame-only to use the prompter alone"
        )
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise Sam2Error(f"{checkpoint}: SAM-2 checkpoint not found")
    config_path = resolve_config(config)
    from sam2.build_sam import build_sam2_video_predictor

    overrides = [
        # keyframes added after tracking started become conditioning frames, like the first one
        "++model.add_all_frames_to_correct_as_cond=true",
    ]
    if image_size is not None:
        if image_size <= 0 or image_size % 32:
            raise Sam2Error(f"SAM-2 image_size must be a positive multiple of 32, got {image_size}")
        overrides.append(f"++model.image_size={image_size}")
    predictor = build_sam2_video_predictor(config_path, None, device=device, hydra_overrides_extra=overrides)
    if checkpoint is None:
        weights = "random-init"
    else:
        state_dict = _read_checkpoint(Path(checkpoint))
        try:
            load_state_strict(predictor, state_dict, source=f"SAM-2 checkpoint {checkpoint}")
        except WeightsError as error:
            raise Sam2Error(f"{error} Does the checkpoint match --sam2-config {config!r}?") from None
        weights = hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()[:8]
    if not _has_sam2_extension():
        predictor.fill_hole_area = (
            0  # hole filling needs sam2's compiled extension, not built on CPU installs
        )
    predictor.eval()
    return Sam2Tracker(predictor, name=f"sam2:{Path(config_path).stem}:{weights}")


def _has_sam2_extension() -> bool:
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        return False
    return True


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(path)
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load and safetensors raise many types for a bad file
        raise Sam2Error(f"{path}: unreadable SAM-2 checkpoint ({type(error).__name__}: {error})") from None
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise Sam2Error(f"{path}: expected a SAM-2 checkpoint ({{'model': state_dict}} or a state dict)")
    return state


class Sam2Tracker:
    """A SAM-2 video predictor that tracks the hand and the object through one clip at a time."""

    def __init__(self, predictor: torch.nn.Module, name: str) -> None:
        self.predictor = predictor
        self.name = name

    def track(self, frames: np.ndarray, prompts: list[FramePrompt], policy: KeyframePolicy) -> TrackResult:
        """Propagate `prompts` (one per frame) through `frames` uint8 (N,H,W,3)."""
        count, height, width = frames.shape[:3]
        if len(prompts) != count:
            raise ValueError(f"{len(prompts)} prompts for {count} frames; give one prompt per frame")
        per_object = {
            name: [prompt_for(p, label, policy.min_area) for p in prompts]
            for name, label in TRACKED_LABELS.items()
        }
        keyframes: dict[str, list[int]] = {name: [] for name in TRACKED_LABELS}
        obj_ids = {}
        for name, object_prompts in per_object.items():
            first = next((i for i, p in enumerate(object_prompts) if p is not None), None)
            if first is not None:
                keyframes[name].append(first)
                obj_ids[name] = TRACKED_LABELS[name]
        logits = np.full((len(TRACKED_LABELS), count, height, width), -np.inf, np.float32)
        if obj_ids:
            self._propagate(frames, per_object, obj_ids, keyframes, logits, policy)
        return TrackResult(labels=resolve_overlaps(logits), keyframes=keyframes)

    def _propagate(
        self,
        frames: np.ndarray,
        per_object: dict[str, list[np.ndarray | Box | None]],
        obj_ids: dict[str, int],
        keyframes: dict[str, list[int]],
        logits: np.ndarray,
        policy: KeyframePolicy,
    ) -> None:
        slots = {name: index for index, name in enumerate(TRACKED_LABELS)}
        names = {obj_id: name for name, obj_id in obj_ids.items()}
        # An object joins the tracking at its first keyframe: SAM-2 is never asked about an object
        # on frames before any prompt of it (on CPU that path even fails on a bfloat16 memory).
        entering = {name: keyframes[name][0] for name in obj_ids}
        # sam2 prints its own progress bars to stderr; the caller has one per clip.
        with (
            tempfile.TemporaryDirectory(prefix="egoexo-sam2-") as folder,
            contextlib.redirect_stderr(io.StringIO()),
        ):
            for index, frame in enumerate(frames):  # sam2 reads a video as a folder of <index>.jpg
                Image.fromarray(frame).save(Path(folder) / f"{index}.jpg", quality=95)
            state = self.predictor.init_state(video_path=folder)
            start: int | None = min(entering.values())
            prompted_now = [name for name, first in entering.items() if first == start]
            while start is not None:
                for name in prompted_now:
                    self._add_prompt(state, start, obj_ids[name], per_object[name][start])
                restart = None
                for frame_index, ids, masks in self.predictor.propagate_in_video(
                    state, start_frame_idx=start
                ):
                    frame_logits = masks[:, 0].float().cpu().numpy()
                    prompted_now = [
                        name
                        for name, first in entering.items()
                        if first == frame_index and frame_index > start
                    ]
                    for obj_id, object_logits in zip(ids, frame_logits, strict=True):
                        name = names[obj_id]
                        logits[slots[name], frame_index] = object_logits
                        prompted = per_object[name][frame_index]
                        if should_reprompt(frame_index, object_logits > 0, prompted, keyframes[name], policy):
                            keyframes[name].append(frame_index)
                            prompted_now.append(name)
                    if prompted_now:
                        restart = frame_index
                        break
                start = restart
            self.predictor.reset_state(state)

    def _add_prompt(self, state: dict, frame_index: int, obj_id: int, prompted: np.ndarray | Box) -> None:
        if isinstance(prompted, Box):
            self.predictor.add_new_points_or_box(
                state, frame_idx=frame_index, obj_id=obj_id, box=prompted.xyxy
            )
        else:
            self.predictor.add_new_mask(state, frame_idx=frame_index, obj_id=obj_id, mask=prompted)


def resolve_overlaps(logits: np.ndarray) -> np.ndarray:
    """Per-object logits (objects in TRACKED_LABELS order, N, H, W) -> label map; larger logit wins."""
    labels = np.zeros(logits.shape[1:], np.uint8)
    winner = logits.argmax(axis=0)
    positive = logits.max(axis=0) > 0
    for slot, label in enumerate(TRACKED_LABELS.values()):
        labels[positive & (winner == slot)] = label
    return labels
