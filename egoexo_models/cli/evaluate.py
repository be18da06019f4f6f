"""Score prediction directories against the ground truth of their clips, beside the baselines.

Each prediction directory under --pred is matched by name to the clip directory of the same name
under --clips. Prints a table per clip and the mean over clips (frames pooled), with the
copy-first and all-background baselines side by side, and writes the same as JSON with --json.
LPIPS and FVD are computed only from the weight files given; otherwise they say so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pred",
        type=Path,
        required=True,
        metavar="OUT_ROOT",
        help="a prediction directory, or a directory of them (named like their clips)",
    )
    parser.add_argument(
        "--clips",
        type=Path,
        required=True,
        metavar="CLIP_ROOT",
        help="a clip directory, or a directory of them, with ground-truth ego_masks/",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON here")
    parser.add_argument(
        "--lpips-alexnet",
        type=Path,
        metavar="FILE",
        help="torchvision AlexNet state dict (.pth or .safetensors) for LPIPS",
    )
    parser.add_argument(
        "--lpips-heads",
        type=Path,
        metavar="FILE",
        help="LPIPS v0.1 linear heads (the lpips package's weights/v0.1/alex.pth)",
    )
    parser.add_argument(
        "--fvd-i3d",
        type=Path,
        metavar="FILE",
        help="I3D Kinetics-400 state dict (PyTorch port layout, e.g. rgb_imagenet.pt) for FVD",
    )
    parser.add_argument("--device", default="cpu", help="torch device for LPIPS and FVD (default: cpu)")


def run(args: argparse.Namespace) -> int:
    from egoexo_models.clip import ClipFormatError
    from egoexo_models.evaluation import PerceptualWeights, evaluate
    from egoexo_models.prediction_dir import PredictionFormatError
    from egoexo_models.weights import WeightsError

    weights = PerceptualWeights(
        lpips_alexnet=args.lpips_alexnet, lpips_heads=args.lpips_heads, fvd_i3d=args.fvd_i3d
    )
    try:
        report = evaluate(args.pred, args.clips, weights=weights, device=args.device)
    except (ClipFormatError, PredictionFormatError, WeightsError, ValueError, FileNotFoundError) as error:
        print(f"egoexo evaluate: {error}", file=sys.stderr)
        return 2
    print(report.format_table(), end="")
    if args.json is not None:
        report.write_json(args.json)
        print(f"wrote {args.json}")
    return 0
