"""Annotation pipeline quality and speed on sim clips (ground truth known): python bench/bench_annotate.py

For each clip and view (ego, exo) it runs
    - each per-frame prompter alone ("per-frame"), and
    - the same prompter followed by SAM-2 propagation ("+sam2"),
and reports against the clip's ground-truth masks: IoU (hand, object, hand-or-object; DAVIS
convention, 1 when both are empty), temporal flicker (mean 1 - IoU of the hand-or-object mask
between consecutive frames; the ground truth's own value is the motion baseline), unexplained
flicker (pixels whose label changes between consecutive frames while the true label does not, per
pixel of true hand or object in either frame; 0 for the ground truth), the number of
SAM-2 keyframes, and speed (prompter frames/s, SAM-2 propagation frames/s excluding the prompter).

Prompters: "ground-truth" (the clip's own masks, which isolates what SAM-2 propagation does), and
any annotate.py prompter (--prompter VIEW=NAME, e.g. exo=exo-segmenter) when its weights exist.
Without --sam2-checkpoint, SAM-2 is built from its config WITHOUT weights: only the plumbing is
exercised and its propagated masks are meaningless; the report says so.

    python bench/bench_annotate.py --clips samples/val samples/test samples/shift --json outputs/bench/annotate.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from egoexo_models.clip import LABEL_HAND, LABEL_OBJECT, list_clips, read_clip  # noqa: E402
from training.annotation.keyframes import KeyframePolicy, mask_iou  # noqa: E402
from training.annotation.prompts import FramePrompt  # noqa: E402


class GroundTruthPrompter:
    """The clip's own masks as per-frame prompts (bench only: isolates the propagation step)."""

    kind = "labels"
    name = "ground-truth"

    def __init__(self) -> None:
        self.masks: list[np.ndarray] = []

    def prompt(self, frame: np.ndarray) -> FramePrompt:
        return FramePrompt(labels=self.masks.pop(0))


def frame_ious(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Mean per-frame IoU of hand, object and hand-or-object over a clip's label maps (N,H,W)."""
    parts = {"hand": [LABEL_HAND], "object": [LABEL_OBJECT], "hand_or_object": [LABEL_HAND, LABEL_OBJECT]}
    return {
        name: float(
            np.mean(
                [
                    mask_iou(np.isin(p, labels), np.isin(t, labels))
                    for p, t in zip(predicted, truth, strict=True)
                ]
            )
        )
        for name, labels in parts.items()
    }


def unexplained_flicker(labels: np.ndarray, truth: np.ndarray) -> float:
    """Mean over consecutive frames of label changes where the truth does not change, per true foreground pixel."""
    ratios = []
    for (a, b), (ta, tb) in zip(itertools.pairwise(labels), itertools.pairwise(truth), strict=True):
        spurious = np.count_nonzero((a != b) & (ta == tb))
        ratios.append(spurious / max(1, np.count_nonzero((ta > 0) | (tb > 0))))
    return float(np.mean(ratios))


def flicker(labels: np.ndarray) -> float:
    """Mean 1 - IoU of the hand-or-object mask between consecutive frames."""
    foreground = labels > 0
    return float(np.mean([1.0 - mask_iou(a, b) for a, b in itertools.pairwise(foreground)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clips", nargs="+", type=Path, default=[REPO_ROOT / "samples" / s for s in ("val", "test", "shift")]
    )
    parser.add_argument("--prompter", action="append", default=[], metavar="VIEW=NAME")
    parser.add_argument("--sam2-checkpoint", type=Path)
    parser.add_argument("--sam2-config", default="sam2.1_hiera_t")
    parser.add_argument("--sam2-image-size", type=int, default=256)
    parser.add_argument(
        "--sam2-clips",
        type=int,
        help="run SAM-2 on the first N clips only (it is slow on CPU); the per-frame rows use all clips",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (the figures are per core with 1)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where the prompters and SAM-2 run")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    from egoexo_models.devices import torch_device_problem

    if (device_problem := torch_device_problem(args.device)) is not None:
        parser.error(f"--device {device_problem}")
    import torch

    from training.annotate import build_prompter
    from training.annotation.sam2_tracker import build_sam2_tracker

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tracker = build_sam2_tracker(
        args.sam2_config,
        args.sam2_checkpoint,
        device=args.device,
        image_size=args.sam2_image_size,
        allow_random_init=args.sam2_checkpoint is None,
    )
    prompters = {"ego": [GroundTruthPrompter()], "exo": [GroundTruthPrompter()]}
    notes = []
    if args.sam2_checkpoint is None:
        notes.append(
            "SAM-2 built from its config without weights: its propagated masks are meaningless (plumbing only)"
        )
    for value in args.prompter:
        view, _, name = value.partition("=")
        try:
            prompters[view].append(build_prompter(name, args.device))
        except (ValueError, OSError) as error:
            notes.append(f"prompter {value} not measured: {error}")
    clips = [clip for root in args.clips for clip in list_clips(root)]
    policy = KeyframePolicy()
    rows: dict[str, dict[str, list]] = {}
    sam2_clips = len(clips) if args.sam2_clips is None else args.sam2_clips
    for clip_number, clip_dir in enumerate(clips):
        clip = read_clip(clip_dir)
        for view in ("ego", "exo"):
            frames, truth = getattr(clip, view), getattr(clip, f"{view}_masks")
            if truth is None:
                continue
            for prompter in prompters[view]:
                if isinstance(prompter, GroundTruthPrompter):
                    prompter.masks = list(truth)
                start = time.perf_counter()
                prompts = [prompter.prompt(frame) for frame in frames]
                prompt_seconds = time.perf_counter() - start
                outputs = [("per-frame", np.stack([p.labels for p in prompts]))]
                if clip_number < sam2_clips:
                    start = time.perf_counter()
                    result = tracker.track(frames, prompts, policy)
                    track_seconds = time.perf_counter() - start
                    outputs.append(("+sam2", result.labels))
                for mode, labels in outputs:
                    row = rows.setdefault(
                        f"{view} {prompter.name} {mode}",
                        {"iou": [], "flicker": [], "unexplained": [], "fps": [], "keyframes": [], "clips": 0},
                    )
                    row["clips"] += 1
                    row["iou"].append(frame_ious(labels, truth))
                    row["flicker"].append(flicker(labels))
                    row["unexplained"].append(unexplained_flicker(labels, truth))
                    seconds = prompt_seconds if mode == "per-frame" else track_seconds
                    if not (mode == "per-frame" and isinstance(prompter, GroundTruthPrompter)):
                        row["fps"].append(len(frames) / seconds)
                    if mode == "+sam2":
                        row["keyframes"].append(sum(len(k) for k in result.keyframes.values()))

    summary = {}
    print(
        f"{len(clips)} clips on {args.device}; SAM-2 {tracker.name} at image_size {args.sam2_image_size}; "
        f"torch threads {args.threads}"
    )
    for note in notes:
        print(f"NOTE: {note}")
    print(
        f"{'view / prompter / mode':58s} {'clips':>5s} {'IoU hand':>8s} {'object':>7s} {'h-or-o':>7s} {'flicker':>7s} {'unexpl.':>7s} {'frames/s':>8s} {'keyfr.':>6s}"
    )
    for name, row in rows.items():
        iou = (
            {k: float(np.mean([r[k] for r in row["iou"]])) for k in ("hand", "object", "hand_or_object")}
            if row["iou"]
            else {}
        )
        entry = {
            "clips": row["clips"],
            "iou": iou,
            "flicker": float(np.mean(row["flicker"])),
            "unexplained_flicker": float(np.mean(row["unexplained"])),
            "frames_per_s": float(np.mean(row["fps"])) if row["fps"] else None,
            "keyframes_per_clip": float(np.mean(row["keyframes"])) if row["keyframes"] else None,
        }
        summary[name] = entry
        cells = [f"{iou[k]:8.3f}" if iou else f"{'-':>8s}" for k in ("hand", "object", "hand_or_object")]
        fps = f"{entry['frames_per_s']:8.1f}" if entry["frames_per_s"] else f"{'-':>8s}"
        keyframes = (
            f"{entry['keyframes_per_clip']:6.1f}" if entry["keyframes_per_clip"] is not None else f"{'-':>6s}"
        )
        print(
            f"{name:58s} {row['clips']:5d} {cells[0]} {cells[1][1:]} {cells[2][1:]} {entry['flicker']:7.3f} {entry['unexplained_flicker']:7.3f} {fps} {keyframes}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"clips": len(clips), "sam2": tracker.name, "notes": notes, "results": summary}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
