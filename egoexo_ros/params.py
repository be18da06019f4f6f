"""The nodes' parameters: one spec each (type, description, range or choices), validated once at start-up.

Defaults live in exactly one place, config/predict.yaml; the nodes declare these specs without
values, so a parameter missing from the file is an error naming it, like a value out of range.
Plain Python (no rclpy): the nodes turn the specs into ParameterDescriptors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKENDS = ("torch", "onnxruntime", "tensorrt")
_SOURCE_PARAMS_FILE = Path(__file__).resolve().parents[1] / "config" / "predict.yaml"
RELIABILITIES = ("best_effort", "reliable")
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


class ParameterError(ValueError):
    """A node parameter is missing, of the wrong type or out of range; the message names it."""

    def __init__(self, name: str, value: Any, problem: str) -> None:
        self.name = name
        super().__init__(
            f"parameter {name!r} = {value!r} is invalid: {problem}. "
            f"Set it in the parameters file (config/predict.yaml) or with --ros-args -p {name}:=VALUE"
        )


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, Python type (bool, int, float, str, or list for a string array), meaning, bounds."""

    name: str
    kind: type
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


def _qos_specs(topic: str, what: str, *, reliability: bool = True) -> tuple[ParamSpec, ...]:
    depth = ParamSpec(f"qos.{topic}.depth", int, f"history depth (keep last N) of {what}", 1, 1000)
    if not reliability:
        return (depth,)
    return (
        ParamSpec(f"qos.{topic}.reliability", str, f"reliability of {what}", choices=RELIABILITIES),
        depth,
    )


COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("autostart", bool, "configure and activate at start (false: wait for lifecycle transitions)"),
    ParamSpec("weights_dir", str, "directory of the models' weights; empty: the shipped sim-trained models"),
    ParamSpec("backend", str, "inference backend tried first", choices=BACKENDS),
    ParamSpec(
        "fallback", list, "backends tried in this order when the first is unavailable", choices=BACKENDS
    ),
    ParamSpec("device", str, "inference device: cpu, cuda or cuda:N"),
    ParamSpec("engine_cache_dir", str, "TensorRT engine cache directory; empty: the pipeline's default"),
    ParamSpec("fp16", bool, "half precision on GPU"),
    ParamSpec("sampler", str, "diffusion sampler", choices=("ddim", "dpmpp")),
    ParamSpec("steps", int, "number of denoising steps", 1, 1000),
    ParamSpec("guidance_scale", float, "classifier-free guidance scale (1: no guidance)", 0.0, 100.0),
    ParamSpec("eta", float, "DDIM eta (0: deterministic)", 0.0, 1.0),
    ParamSpec(
        "seed", int, "random seed of every prediction (the same seed gives the same video)", 0, 2**31 - 1
    ),
    ParamSpec("num_frames", int, "frames per prediction window; 0: the model's", 0, 256),
    ParamSpec(
        "publish_resolution",
        str,
        "size of published frames and masks: the model's, or the ego camera's",
        choices=("model", "ego_camera"),
    ),
    ParamSpec(
        "max_queued_windows", int, "windows waiting for a model at most; older ones are dropped", 1, 100
    ),
    ParamSpec("diagnostics_period_s", float, "period of /diagnostics messages", 0.05, 60.0),
    ParamSpec("warning_period_s", float, "at most one warning of each kind per this period", 0.01, 3600.0),
    *_qos_specs("outputs", "the published predictions"),
)

MASK_NODE_PARAMS: tuple[ParamSpec, ...] = (
    *COMMON_PARAMS,
    ParamSpec(
        "ego_buffer_size", int, "ego frames kept to find the one nearest a window's first exo stamp", 1, 10000
    ),
    ParamSpec(
        "max_ego_offset_s",
        float,
        "largest stamp difference between a window's first exo and its ego frame",
        0.001,
        10.0,
    ),
    ParamSpec(
        "max_ego_lag_s",
        float,
        "exo stamps may run this far ahead of the ego stream before a window without an ego frame is dropped",
        0.001,
        60.0,
    ),
    *_qos_specs("ego", "the ego camera subscription"),
    ParamSpec(
        "model_fps", float, "rate the exo stream is subsampled to, by stamp; 0: the model's", 0.0, 1000.0
    ),
    ParamSpec(
        "frame_stride", int, "take every k-th exo frame instead of subsampling by stamp; 0: by stamp", 0, 1000
    ),
    ParamSpec(
        "trigger",
        str,
        "start a window on each new instruction, or continuously every window_stride frames",
        choices=("instruction", "continuous"),
    ),
    ParamSpec("window_stride", int, "continuous trigger: subsampled frames between window starts", 1, 1000),
    ParamSpec(
        "max_frame_gap_s",
        float,
        "a gap or backward jump of exo stamps larger than this restarts the stream",
        0.01,
        3600.0,
    ),
    *_qos_specs("exo", "the exo camera subscription"),
    *_qos_specs("instruction", "the instruction subscription (reliable)", reliability=False),
)

VIDEO_NODE_PARAMS: tuple[ParamSpec, ...] = (
    *COMMON_PARAMS,
    *_qos_specs(
        "hoi_masks",
        "the subscription to the mask node's HOIMasks (reliable)",
        reliability=False,
    ),
)


@dataclass(frozen=True)
class QosConfig:
    reliability: str
    depth: int


@dataclass(frozen=True)
class PipelineConfig:
    """What the nodes pass to the pipeline (egoexo_models.pipeline.PipelineOptions)."""

    weights_dir: Path | None
    backend: str
    fallback: tuple[str, ...]
    device: str
    engine_cache_dir: Path | None
    fp16: bool
    sampler: str
    steps: int
    guidance_scale: float
    eta: float
    seed: int


@dataclass(frozen=True)
class CommonConfig:
    autostart: bool
    pipeline: PipelineConfig
    num_frames: int
    publish_resolution: str
    max_queued_windows: int
    diagnostics_period_s: float
    warning_period_s: float
    output_qos: QosConfig


@dataclass(frozen=True)
class MaskNodeConfig:
    common: CommonConfig
    model_fps: float
    frame_stride: int
    trigger: str
    window_stride: int
    max_frame_gap_s: float
    ego_buffer_size: int
    max_ego_offset_s: float
    max_ego_lag_s: float
    exo_qos: QosConfig
    ego_qos: QosConfig
    instruction_depth: int


@dataclass(frozen=True)
class VideoNodeConfig:
    common: CommonConfig
    hoi_masks_depth: int


def parse_mask_node_config(values: Mapping[str, Any]) -> MaskNodeConfig:
    """Validate the mask node's parameter values (name -> value; None when unset)."""
    v = _validated(MASK_NODE_PARAMS, values)
    if v["max_ego_lag_s"] < v["max_ego_offset_s"]:
        raise ParameterError(
            "max_ego_lag_s",
            v["max_ego_lag_s"],
            f"it must be at least max_ego_offset_s ({v['max_ego_offset_s']}): a window waits for an ego frame that close",
        )
    return MaskNodeConfig(
        common=_common(v),
        model_fps=v["model_fps"],
        frame_stride=v["frame_stride"],
        trigger=v["trigger"],
        window_stride=v["window_stride"],
        max_frame_gap_s=v["max_frame_gap_s"],
        ego_buffer_size=v["ego_buffer_size"],
        max_ego_offset_s=v["max_ego_offset_s"],
        max_ego_lag_s=v["max_ego_lag_s"],
        exo_qos=QosConfig(v["qos.exo.reliability"], v["qos.exo.depth"]),
        ego_qos=QosConfig(v["qos.ego.reliability"], v["qos.ego.depth"]),
        instruction_depth=v["qos.instruction.depth"],
    )


def parse_video_node_config(values: Mapping[str, Any]) -> VideoNodeConfig:
    """Validate the video node's parameter values (name -> value; None when unset)."""
    v = _validated(VIDEO_NODE_PARAMS, values)
    return VideoNodeConfig(common=_common(v), hoi_masks_depth=v["qos.hoi_masks.depth"])


def default_params_file() -> Path:
    """config/predict.yaml of this checkout, else of the installed package (colcon's share directory)."""
    if _SOURCE_PARAMS_FILE.is_file():
        return _SOURCE_PARAMS_FILE
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("egoexo_ros")) / "config" / "predict.yaml"


def window_length(requested: int, model_frames: int) -> int:
    """Frames per window: the model's when `requested` (parameter num_frames) is 0, else `requested` if it matches."""
    if requested not in (0, model_frames):
        raise ParameterError(
            "num_frames",
            requested,
            f"the loaded model predicts windows of {model_frames} frames; set 0 to use them",
        )
    return model_frames


def _common(v: dict[str, Any]) -> CommonConfig:
    if not _DEVICE.match(v["device"]):
        raise ParameterError("device", v["device"], "expected cpu, cuda or cuda:N")
    pipeline = PipelineConfig(
        weights_dir=Path(v["weights_dir"]) if v["weights_dir"] else None,
        backend=v["backend"],
        fallback=tuple(v["fallback"]),
        device=v["device"],
        engine_cache_dir=Path(v["engine_cache_dir"]) if v["engine_cache_dir"] else None,
        fp16=v["fp16"],
        sampler=v["sampler"],
        steps=v["steps"],
        guidance_scale=v["guidance_scale"],
        eta=v["eta"],
        seed=v["seed"],
    )
    return CommonConfig(
        autostart=v["autostart"],
        pipeline=pipeline,
        num_frames=v["num_frames"],
        publish_resolution=v["publish_resolution"],
        max_queued_windows=v["max_queued_windows"],
        diagnostics_period_s=v["diagnostics_period_s"],
        warning_period_s=v["warning_period_s"],
        output_qos=QosConfig(v["qos.outputs.reliability"], v["qos.outputs.depth"]),
    )


def _validated(specs: tuple[ParamSpec, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    known = {spec.name for spec in specs}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ParameterError(
            unknown[0], values[unknown[0]], f"no such parameter; known: {', '.join(sorted(known))}"
        )
    return {spec.name: _checked(spec, values.get(spec.name)) for spec in specs}


def _checked(spec: ParamSpec, value: Any) -> Any:
    if value is None:
        raise ParameterError(spec.name, value, f"it is not set ({spec.description})")
    if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if spec.kind is list:
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
            raise ParameterError(spec.name, value, "expected a list of strings")
        for item in value:
            if item not in spec.choices:
                raise ParameterError(spec.name, value, f"{item!r} is not one of {', '.join(spec.choices)}")
        return list(value)
    if not isinstance(value, spec.kind) or (spec.kind is not bool and isinstance(value, bool)):
        raise ParameterError(spec.name, value, f"expected {spec.kind.__name__} ({spec.description})")
    if spec.choices and value not in spec.choices:
        raise ParameterError(spec.name, value, f"expected one of {', '.join(spec.choices)}")
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        raise ParameterError(
            spec.name, value, f"expected a value in [{spec.low}, {spec.high}] ({spec.description})"
        )
    return value
