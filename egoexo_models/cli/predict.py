"""Predict the ego HOI masks and the next ego frames of one clip, and write a prediction directory.

Runs the whole pipeline: the exo HOI segmenter when the clip has no exo masks, the cross-view mask
predictor, then the HOI-aware video diffusion. Writes OUT_DIR/pred_ego/, pred_ego_masks/, pred.json
and preview.gif, and prints the seconds spent per stage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BACKENDS = ("torch", "onnxruntime", "tensorrt")
SAMPLERS = ("ddim", "dpmpp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "clip_dir",
        type=Path,
        metavar="CLIP_DIR",
        help="clip directory (format v1); only ego/000000.png of the ego view is needed",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="OUT_DIR", help="prediction directory to write"
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default="torch", help="inference backend (default: torch)"
    )
    parser.add_argument(
        "--sampler", choices=SAMPLERS, default=None, help="diffusion sampler (default: the model card's)"
    )
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model card's)")
    parser.add_argument(
        "--guidance-scale", type=float, default=None, help="classifier-free guidance scale (1 = off)"
    )
    parser.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0 = deterministic; ddim only)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed in [0, 2**32-1] (default: 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--fp16", action="store_true", help="half precision on a GPU")
    parser.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="weights root with maskpred/, exo_segmenter/, vae/, video_unet/ (default: shipped)",
    )
    parser.add_argument(
        "--engine-cache-dir", type=Path, default=None, help="ONNX export and TensorRT engine cache"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")


def run(args: argparse.Namespace) -> int:
    from egoexo_models.clip import ClipFormatError, read_clip
    from egoexo_models.pipeline import EgoExoPipeline, PipelineOptions
    from egoexo_models.prediction_dir import write_prediction
    from egoexo_models.runtime import BackendUnavailableError
    from egoexo_models.weights import WeightsError

    if args.out.exists() and not args.overwrite:
        print(f"egoexo predict: {args.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    options = {
        "weights_dir": args.weights_dir,
        "backend": args.backend,
        "device": args.device,
        "engine_cache_dir": args.engine_cache_dir,
        "eta": args.eta,
        "seed": args.seed,
        "fp16": args.fp16,
    }
    for name in ("sampler", "steps", "guidance_scale"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    try:
        clip = read_clip(args.clip_dir, ego_frames="first")
        pipeline = EgoExoPipeline.load(PipelineOptions(**options))
    except (ClipFormatError, WeightsError, BackendUnavailableError, ValueError, FileNotFoundError) as error:
        print(f"egoexo predict: {error}", file=sys.stderr)
        return 2
    try:
        prediction = pipeline.predict_clip(clip)
        try:
            truth = read_clip(
                args.clip_dir
            )  # ground-truth ego frames for the preview, when the clip has them
        except ClipFormatError:
            truth = clip
        write_prediction(
            args.out,
            prediction,
            truth if truth.ego.shape[0] == clip.num_frames else clip,
            overwrite=args.overwrite,
        )
    except ValueError as error:
        print(f"egoexo predict: {error}", file=sys.stderr)
        return 2
    finally:
        pipeline.close()
    info = prediction.info
    print(
        f"{clip.name}: {info['backend']} on {info['device']}, {info['sampler']} {info['steps']} steps, seed {info['seed']}, exo masks: {info['exo_mask_source']}"
    )
    for stage, seconds in info["timings_s"].items():
        print(f"  {stage:<16} {seconds:8.3f} s")
    print(f"wrote {args.out}")
    return 0
