"""Ego mask predictions for a directory of clips, written as prediction directories (masks only).

    python -m egoexo_models.maskpred.predict_masks --clips outputs/data/sim/val --out outputs/pred/maskpred_val \
        [--weights DIR] [--exo-masks given|segmenter] [--backend torch|onnxruntime]
    egoexo evaluate --pred outputs/pred/maskpred_val --clips outputs/data/sim/val --json report.json

Only the mask stage runs (no video), so `egoexo evaluate` scores Φseg alone, beside the copy-first
baseline. With --exo-masks segmenter the clip's exo masks are ignored and the exo segmenter supplies
them, as on a live robot.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from egoexo_models.clip import list_clips, read_clip
from egoexo_models.prediction_dir import Prediction, write_prediction


def predict_mask_dirs(
    clip_root: Path,
    out_root: Path,
    *,
    weights_dir: Path | None = None,
    exo_masks: str = "given",
    segmenter_weights: Path | None = None,
    backend: str = "torch",
) -> list[Path]:
    """Write OUT_ROOT/<clip name>/ for every clip under clip_root; returns the directories written."""
    from egoexo_models.maskpred.loading import load_exo_segmenter, load_mask_predictor

    if exo_masks not in ("given", "segmenter"):
        raise ValueError(f"exo_masks must be 'given' or 'segmenter', got {exo_masks!r}")
    predictor = load_mask_predictor(weights_dir, backend)
    segmenter = load_exo_segmenter(segmenter_weights, backend) if exo_masks == "segmenter" else None
    written = []
    for clip_dir in list_clips(clip_root):
        clip = read_clip(clip_dir)
        if segmenter is not None:
            masks = np.stack([segmenter.segment(frame) for frame in clip.exo])
        elif clip.exo_masks is None:
            raise ValueError(f"{clip_dir}: no exo_masks/; use --exo-masks segmenter")
        else:
            masks = clip.exo_masks
        started = time.perf_counter()
        ego_masks = predictor.predict_clip(clip.ego[0], clip.exo, masks)
        info = {
            "model": predictor.model_id,
            "exo_masks": exo_masks,
            "backend": predictor.backend,
            "timings_s": {"masks": round(time.perf_counter() - started, 4)},
        }
        if segmenter is not None:
            info["exo_segmenter"] = segmenter.model_id
        prediction = Prediction(ego_masks=ego_masks, frames=None, info=info)
        written.append(write_prediction(out_root / clip_dir.name, prediction, clip, overwrite=True))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, required=True, help="a clip directory or a directory of them")
    parser.add_argument("--out", type=Path, required=True, help="root of the prediction directories")
    parser.add_argument("--weights", type=Path, help="mask predictor weights (default: shipped)")
    parser.add_argument("--exo-masks", choices=("given", "segmenter"), default="given")
    parser.add_argument("--segmenter-weights", type=Path, help="exo segmenter weights (default: shipped)")
    parser.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch")
    args = parser.parse_args(argv)
    written = predict_mask_dirs(
        args.clips,
        args.out,
        weights_dir=args.weights,
        exo_masks=args.exo_masks,
        segmenter_weights=args.segmenter_weights,
        backend=args.backend,
    )
    print(f"wrote {len(written)} prediction directories under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
