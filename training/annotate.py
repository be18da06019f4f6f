"""Annotate clips with HOI masks: python training/annotate.py CLIP_ROOT [options]

Fills ego_masks/ and exo_masks/ (0 background, 1 hand, 2 interacting object) of the clip-format-v1
directories under CLIP_ROOT: a per-frame prompter on every frame, then SAM-2 propagation from
keyframes (paper §2.4), or the prompter alone with --per-frame-only. Resumable per clip; a clip
is never left half-written. See docs/annotation.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.annotation.annotator import AnnotationSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = REPO_ROOT / "training"

if __name__ in ("__main__", "__mp_main__"):  # __mp_main__: the same script in a spawned worker
    # Run as a script, sys.path[0] is training/: import its modules only as training.*.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != TRAINING_DIR]
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_PROMPTERS = {"ego": "ego-segmenter", "exo": "exo-segmenter"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip_root", type=Path, help="a clip directory, or a directory of clip directories")
    parser.add_argument(
        "--views", default="ego,exo", help="comma-separated views to annotate (default: ego,exo)"
    )
    parser.add_argument(
        "--prompter",
        action="append",
        default=[],
        metavar="[VIEW=]NAME",
        help="per-frame prompter: ego-segmenter, exo-segmenter (shipped weights), NAME:WEIGHTS_DIR for "
        "our segmenters with other weights, or a generic model spec .yaml (docs/annotation.md); "
        "VIEW= sets it for one view. Default: ego=ego-segmenter, exo=exo-segmenter",
    )
    parser.add_argument(
        "--sam2-checkpoint", type=Path, help="SAM-2 weights (.pt as published, or .safetensors)"
    )
    parser.add_argument(
        "--sam2-config", default="sam2.1_hiera_t", help="SAM-2 config matching the checkpoint"
    )
    parser.add_argument("--sam2-image-size", type=int, help="SAM-2 input resolution (default: the config's)")
    parser.add_argument(
        "--per-frame-only", action="store_true", help="no SAM-2: the prompter's masks as they are"
    )
    parser.add_argument("--reprompt-iou", type=float, default=0.5, help="re-prompt SAM-2 below this IoU")
    parser.add_argument("--min-gap", type=int, default=2, help="frames between keyframes of one object")
    parser.add_argument("--max-keyframes", type=int, default=8, help="keyframes per object and view")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--workers", type=int, default=1, help="clips annotated in parallel (processes)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads per worker (default: CPU cores / workers; 1 is fastest on shared, busy cores)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="annotate clips again, replacing their masks"
    )
    return parser


@dataclass(frozen=True)
class Recipe:
    """Everything a worker process needs to build its own annotator (picklable)."""

    prompters: dict[str, str]
    sam2_checkpoint: Path | None
    sam2_config: str
    sam2_image_size: int | None
    device: str
    settings: AnnotationSettings


def parse_prompters(values: list[str], views: tuple[str, ...]) -> dict[str, str]:
    chosen = {view: DEFAULT_PROMPTERS[view] for view in views}
    for value in values:
        view, sep, name = value.partition("=")
        if sep and view in DEFAULT_PROMPTERS:
            if view in chosen:
                chosen[view] = name
        elif sep:
            raise ValueError(f"--prompter {value!r}: unknown view {view!r}; use ego=NAME or exo=NAME")
        else:
            chosen = dict.fromkeys(chosen, value)
    return chosen


def build_prompter(name: str, device: str):
    from training.annotation.generic import GenericModelPrompter, load_prompter_spec
    from training.annotation.prompts import PrompterError
    from training.annotation.segmenters import OWN_PROMPTERS, load_own_prompter

    own, _, weights_dir = name.partition(":")
    if own in OWN_PROMPTERS:
        return load_own_prompter(own, weights_dir or None, device)
    if Path(name).suffix in (".yaml", ".yml"):
        return GenericModelPrompter(load_prompter_spec(name), device)
    raise PrompterError(
        f"unknown prompter {name!r}: use {list(OWN_PROMPTERS)}, NAME:WEIGHTS_DIR, or a spec .yaml"
    )


def build_annotator(recipe: Recipe):
    from training.annotation.annotator import ClipAnnotator
    from training.annotation.sam2_tracker import build_sam2_tracker

    tracker = None
    if not recipe.settings.per_frame_only:
        tracker = build_sam2_tracker(
            recipe.sam2_config,
            recipe.sam2_checkpoint,
            device=recipe.device,
            image_size=recipe.sam2_image_size,
        )
    prompters = {view: build_prompter(name, recipe.device) for view, name in recipe.prompters.items()}
    return ClipAnnotator(prompters, tracker, recipe.settings)


_worker_annotator = None


def _init_worker(recipe: Recipe, threads: int) -> None:
    global _worker_annotator
    import torch

    torch.set_num_threads(threads)
    _worker_annotator = build_annotator(recipe)


def _annotate_in_worker(clip_dir: Path):
    return _worker_annotator.annotate(clip_dir)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from tqdm import tqdm

    from egoexo_models.clip import list_clips
    from egoexo_models.devices import torch_device_problem
    from training.annotation.annotator import AnnotationSettings, recover_interrupted
    from training.annotation.keyframes import KeyframePolicy

    try:
        views = tuple(v.strip() for v in args.views.split(",") if v.strip())
        settings = AnnotationSettings(
            views=views,
            per_frame_only=args.per_frame_only,
            policy=KeyframePolicy(args.reprompt_iou, args.min_gap, args.max_keyframes),
            overwrite=args.overwrite,
        )
        if args.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {args.workers}")
        device_problem = torch_device_problem(args.device)
        if device_problem is not None:
            raise ValueError(f"--device {device_problem}")
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        worker_threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
        if not args.per_frame_only and args.sam2_checkpoint is None:
            raise ValueError(
                "SAM-2 needs weights and none ship with egoexo: pass --sam2-checkpoint PATH (with the matching "
                "--sam2-config), or --per-frame-only to run the per-frame prompter alone (the paper's 'EgoHOS only')"
            )
        recipe = Recipe(
            parse_prompters(args.prompter, views),
            args.sam2_checkpoint,
            args.sam2_config,
            args.sam2_image_size,
            args.device,
            settings,
        )
        root = args.clip_root
        if root.is_dir() and not (root / "meta.json").is_file():
            for action in recover_interrupted(root):
                print(f"annotate: {action}", file=sys.stderr)
        clips = [c for c in list_clips(root) if not c.name.startswith(".")]
        if not clips:
            raise ValueError(f"{root}: no clip directories (with meta.json) found")
        if args.threads is not None and args.workers == 1:
            import torch

            torch.set_num_threads(args.threads)
        annotator = build_annotator(recipe)  # in this process too: bad settings fail here, once
    except (ValueError, FileNotFoundError) as error:
        print(f"annotate.py: error: {error}", file=sys.stderr)
        return 2

    counts: Counter[str] = Counter()
    outcomes = []
    start = time.perf_counter()
    with tqdm(total=len(clips), unit="clip", dynamic_ncols=True, file=sys.stderr) as bar:
        if args.workers == 1:
            results = (annotator.annotate(clip) for clip in clips)
            executor = None
        else:
            import multiprocessing

            executor = ProcessPoolExecutor(
                args.workers, multiprocessing.get_context("spawn"), _init_worker, (recipe, worker_threads)
            )
            results = executor.map(_annotate_in_worker, clips)
        try:
            for outcome in results:
                outcomes.append(outcome)
                counts[outcome.status] += 1
                bar.set_postfix(counts, refresh=False)
                bar.update()
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
    print_summary(outcomes, time.perf_counter() - start)
    return 1 if counts["failed"] else 0


def print_summary(outcomes: list, seconds: float) -> None:
    counts = Counter(o.status for o in outcomes)
    frames = sum(o.frames for o in outcomes)
    rate = f", {frames / seconds:.1f} frames/s" if frames and seconds > 0 else ""
    print(
        f"{len(outcomes)} clips in {seconds:.1f} s: {counts['done']} done, {counts['skipped']} skipped, "
        f"{counts['failed']} failed ({frames} frames annotated{rate})"
    )
    for status in ("skipped", "failed"):
        for outcome in outcomes:
            if outcome.status == status:
                print(f"  {status} {outcome.clip}: {outcome.reason}")


if __name__ == "__main__":
    sys.exit(main())
