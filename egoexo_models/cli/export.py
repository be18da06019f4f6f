"""egoexo export: ONNX graphs of every shipped model (+ TensorRT engines where TensorRT exists).

Writes OUT/<model>.onnx (opset 18, static shapes, model version in the metadata), checks ONNX
Runtime against PyTorch on sim clips (largest logit difference, argmax agreement), builds TensorRT
engines into OUT/tensorrt/ where TensorRT is importable (and says why not elsewhere), and writes
OUT/export_report.json. Exit status 1 when a parity check fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

DEFAULT_CLIPS = Path("samples/val")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/export"), help="output directory (default: outputs/export)"
    )
    parser.add_argument("--fp16", action="store_true", help="build TensorRT engines in half precision")
    parser.add_argument(
        "--clips",
        type=Path,
        default=DEFAULT_CLIPS,
        help=f"sim clips with exo masks for the ONNX Runtime parity check (default: {DEFAULT_CLIPS})",
    )
    parser.add_argument(
        "--only",
        choices=("all", "mask", "diffusion"),
        default="all",
        help="export the mask models (Φseg, segmenters), the diffusion models (Φgen), or both (default)",
    )
    parser.add_argument("--maskpred-weights", type=Path, help="mask predictor weights (default: shipped)")
    parser.add_argument("--exo-segmenter-weights", type=Path, help="exo segmenter weights (default: shipped)")
    parser.add_argument("--ego-segmenter-weights", type=Path, help="ego segmenter weights (default: shipped)")


def run(args: argparse.Namespace) -> int:
    from egoexo_models.weights import WeightsError, atomic_write_bytes
    from training.export.maskpred import export_mask_models

    records = []
    if args.only in ("all", "mask"):
        weights = {
            "maskpred": args.maskpred_weights,
            "exo_segmenter": args.exo_segmenter_weights,
            "ego_segmenter": args.ego_segmenter_weights,
        }
        records += export_mask_models(args.out, fp16=args.fp16, clip_root=args.clips, weights=weights)
    if args.only in ("all", "diffusion"):
        if importlib.util.find_spec("training.export.diffusion") is None:
            print("diffusion models: training/export/diffusion.py is not present; not exported")
        else:
            from training.export.diffusion import export_diffusion

            try:
                records += export_diffusion(args.out, fp16=args.fp16)
            except WeightsError as error:
                records.append({"name": "phi_gen", "skipped": str(error)})
    for record in records:
        if "skipped" in record:
            print(f"{record['name']}: skipped: {record['skipped']}")
            continue
        line = f"{record['name']}: {record.get('onnx', '')}"
        if "parity" in record:
            parity = record["parity"]
            line += (
                f"  max |logit diff| {parity['max_abs_logit_diff']:.2e}, argmax agreement "
                f"{100 * parity['argmax_agreement']:.3f} % of {parity['pixels']} px"
            )
        for key, value in record.items():
            if key.endswith("_parity"):
                line += f"  {key}: {json.dumps(value)}"
        print(line)
        if "tensorrt" in record:
            print(f"  TensorRT: {record['tensorrt']}")
    report = args.out / "export_report.json"
    atomic_write_bytes(report, (json.dumps(records, indent=1) + "\n").encode())
    print(f"report: {report}")
    failed = [r["name"] for r in records if r.get("parity_ok") is False]
    if failed:
        print(f"parity check FAILED for {failed} (argmax agreement below 99.9 %)")
        return 1
    return 0
