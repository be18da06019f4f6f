"""Export Φseg's step graph and the HOI segmenters to ONNX, check ONNX Runtime against PyTorch, and
build TensorRT engines where TensorRT is importable.

Parity is measured on sim clips: the mask predictor streams every clip through both runtimes (each
carrying its own memory state, as in deployment) and the segmenters see every frame; reported are the
largest absolute logit difference and the fraction of pixels whose argmax label agrees.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from egoexo_models.clip import list_clips, read_clip
from egoexo_models.maskpred.loading import (
    SEGMENTER_KINDS,
    build_mask_predictor,
    build_segmenter,
    onnx_metadata,
)
from egoexo_models.maskpred.segmenting import EgoSegmenter, ExoSegmenter
from egoexo_models.maskpred.step import MaskPredictorStep
from egoexo_models.maskpred.streaming import StreamingMaskPredictor
from egoexo_models.runtime import create_runtime
from egoexo_models.runtime.onnx_files import ONNX_OPSET, export_onnx
from egoexo_models.weights import shipped_weights_dir
from training.export.tensorrt_engine import build_tensorrt_engine

log = logging.getLogger(__name__)
PARITY_MIN_AGREEMENT = 0.999


def _compare(reference: list[np.ndarray], candidate: list[np.ndarray]) -> dict[str, float]:
    a, b = np.stack(reference), np.stack(candidate)
    return {
        "max_abs_logit_diff": float(np.abs(a - b).max()),
        "argmax_agreement": float((a.argmax(axis=-3) == b.argmax(axis=-3)).mean()),
        "pixels": int(a.shape[0] * a.shape[-2] * a.shape[-1]),
    }


def mask_predictor_parity(
    eager: StreamingMaskPredictor, onnx: StreamingMaskPredictor, clips: list
) -> dict[str, float]:
    """Stream each clip through both predictors, each with its own state; compare the logits."""
    reference, candidate = [], []
    for clip in clips:
        states = [eager.init_state(clip.ego[0]), onnx.init_state(clip.ego[0])]
        for exo_frame, exo_mask in zip(clip.exo, clip.exo_masks, strict=True):
            logits_a, states[0] = eager.step_logits(states[0], exo_frame, exo_mask)
            logits_b, states[1] = onnx.step_logits(states[1], exo_frame, exo_mask)
            reference.append(logits_a)
            candidate.append(logits_b)
    return _compare(reference, candidate)


def segmenter_parity(eager, onnx, frames: np.ndarray) -> dict[str, float]:
    return _compare([eager.segment_logits(f) for f in frames], [onnx.segment_logits(f) for f in frames])


def _load_parity_clips(clip_root: Path, size: tuple[int, int], limit: int) -> list:
    clips = []
    for path in list_clips(clip_root):
        clip = read_clip(path)
        if clip.exo_masks is not None and (clip.meta.height, clip.meta.width) == tuple(size):
            clips.append(clip)
        if len(clips) == limit:
            break
    if not clips:
        raise ValueError(
            f"{clip_root}: no clips of size {size[1]}x{size[0]} with exo_masks/ for the parity check"
        )
    return clips


def export_mask_models(
    out_dir: str | os.PathLike,
    *,
    fp16: bool = False,
    clip_root: str | os.PathLike,
    weights: dict[str, str | os.PathLike | None] | None = None,
    parity_clips: int = 4,
) -> list[dict]:
    """Export the step model and both segmenters into out_dir; returns one report record per model.

    Args:
        out_dir: where <name>.onnx files (and tensorrt/ engines) are written.
        fp16: build TensorRT engines in half precision (ONNX files stay float32).
        clip_root: sim clips (with exo masks) for the parity check.
        weights: name ("maskpred", "exo_segmenter", "ego_segmenter") -> weights directory; a name left
            out uses the shipped weights.
        parity_clips: how many clips the parity check streams.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = weights or {}
    clips_by_size: dict[tuple[int, int], list] = {}

    def parity_clip_set(size: tuple[int, int]) -> list:
        if size not in clips_by_size:
            clips_by_size[size] = _load_parity_clips(Path(clip_root), size, parity_clips)
        return clips_by_size[size]

    records = []
    maskpred_dir = _weights_dir("maskpred", weights.get("maskpred"))
    if maskpred_dir is None:
        records.append(_skipped("maskpred_step", "maskpred", "--maskpred-weights"))
    else:
        model, model_id = build_mask_predictor(maskpred_dir)
        clips = parity_clip_set(model.config.image_size)  # before the export: fail fast without clips
        step = MaskPredictorStep(model)
        metadata = onnx_metadata("maskpred_step", model.config, model_id)
        onnx_path = export_onnx(step, out_dir / "maskpred_step.onnx", metadata=metadata)
        eager = StreamingMaskPredictor(create_runtime("torch", torch_module=step), model.config, model_id)
        onnx = StreamingMaskPredictor(
            create_runtime("onnxruntime", onnx_path=onnx_path, expected_metadata=metadata),
            model.config,
            model_id,
        )
        records.append(
            {
                "name": "maskpred_step",
                "model_id": model_id,
                "onnx": str(onnx_path),
                "bytes": onnx_path.stat().st_size,
                "opset": ONNX_OPSET,
                "parity": mask_predictor_parity(eager, onnx, clips),
                "tensorrt": build_tensorrt_engine(onnx_path, out_dir, fp16, metadata),
            }
        )

    for view, runner_cls in (("exo", ExoSegmenter), ("ego", EgoSegmenter)):
        kind = SEGMENTER_KINDS[view]
        segmenter_dir = _weights_dir(kind, weights.get(kind))
        if segmenter_dir is None:
            records.append(_skipped(kind, kind, f"--{view}-segmenter-weights"))
            continue
        segmenter, segmenter_id = build_segmenter(view, segmenter_dir)
        clips = parity_clip_set(segmenter.config.image_size)
        metadata = onnx_metadata(kind, segmenter.config, segmenter_id)
        onnx_path = export_onnx(segmenter, out_dir / f"{kind}.onnx", metadata=metadata)
        eager = runner_cls(create_runtime("torch", torch_module=segmenter), segmenter.config, segmenter_id)
        onnx = runner_cls(
            create_runtime("onnxruntime", onnx_path=onnx_path, expected_metadata=metadata),
            segmenter.config,
            segmenter_id,
        )
        frames = np.concatenate(
            [getattr(clip, view) for clip in parity_clip_set(segmenter.config.image_size)]
        )
        records.append(
            {
                "name": kind,
                "model_id": segmenter_id,
                "onnx": str(onnx_path),
                "bytes": onnx_path.stat().st_size,
                "opset": ONNX_OPSET,
                "parity": segmenter_parity(eager, onnx, frames),
                "tensorrt": build_tensorrt_engine(onnx_path, out_dir, fp16, metadata),
            }
        )
    for record in records:
        if "parity" in record:
            record["parity_ok"] = record["parity"]["argmax_agreement"] >= PARITY_MIN_AGREEMENT
    return records


def _weights_dir(name: str, given: str | os.PathLike | None) -> Path | None:
    """The weights to export: the given directory, else the shipped one; None when none is shipped yet."""
    if given is not None:
        return Path(given)  # a wrong path is an error (raised by the loader), not a skip
    shipped = shipped_weights_dir(name)
    return shipped if (shipped / "model.safetensors").is_file() else None


def _skipped(record_name: str, weights_name: str, flag: str) -> dict:
    return {
        "name": record_name,
        "skipped": f"no shipped weights in {shipped_weights_dir(weights_name)}; train them or pass {flag}",
    }
