"""Evaluate Φgen on sim clips: the conditioning ablations (paper Tables 3 and 5) and quality vs steps.

    python -m egoexo_models.diffusion.ablation conditions --clips outputs/data/sim/val --limit 16 \\
        --json outputs/eval/conditions_val.json --contact-sheet outputs/eval/contact_val.png
    python -m egoexo_models.diffusion.ablation steps --clips outputs/data/sim/val --limit 8 \\
        --json outputs/eval/steps_val.json --plot outputs/eval/steps_val.png
    python -m egoexo_models.diffusion.ablation vae --clips outputs/data/sim/val --limit 16 --json outputs/eval/vae_val.json

Conditions: copy_first (baseline: frame 0 repeated), no_masks, predicted_masks (Φseg from the exo
video and exo masks: the default pipeline), ground_truth_masks (the paper's "w/ future" oracle),
predicted_masks_no_text. Scores are those of `egoexo evaluate` (egoexo_models.metrics.video) on
frames 1..N-1: PSNR, SSIM, and PSNR/SSIM in the dilated ground-truth HOI region; per clip the mean
over frames, then the mean over clips. The steps sweep samples with ground-truth masks so that only
the sampler changes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from egoexo_models.clip import Clip, list_clips, read_clip
from egoexo_models.diffusion.sampling import SamplerSettings
from egoexo_models.metrics.video import hoi_region, score_video

CONDITIONS = ("copy_first", "no_masks", "predicted_masks", "ground_truth_masks", "predicted_masks_no_text")
DEFAULT_SWEEP = (
    "ddim:100",
    "ddim:50",
    "ddim:25",
    "ddim:10",
    "dpmpp:50",
    "dpmpp:25",
    "dpmpp:15",
    "dpmpp:10",
    "dpmpp:5",
)


def scores_of(clip: Clip, frames: np.ndarray) -> dict[str, float]:
    """Mean over frames 1..N-1 of PSNR, SSIM, region PSNR and region SSIM."""
    scores = score_video(clip.ego[1:], frames, hoi_region(clip.ego_masks))
    return {
        name: float(np.nanmean(getattr(scores, name)))
        for name in ("psnr", "ssim", "region_psnr", "region_ssim")
    }


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    return {name: float(np.nanmean([row[name] for row in rows])) for name in rows[0]}


def load_clips(root: Path, limit: int) -> list[Clip]:
    clips = [read_clip(path) for path in list_clips(root)[:limit]]
    missing = [clip.name for clip in clips if clip.ego_masks is None or clip.exo_masks is None]
    if missing:
        raise ValueError(f"clips {missing} lack ego_masks/ or exo_masks/; the ablations need both")
    return clips


def run_conditions(args: argparse.Namespace) -> dict:
    from egoexo_models.diffusion.generator import load_generator
    from egoexo_models.maskpred.loading import load_mask_predictor

    clips = load_clips(args.clips, args.limit)
    generator, ids = load_generator(args.video_weights, args.vae_weights)
    mask_predictor = load_mask_predictor(args.maskpred_weights)
    settings = SamplerSettings(sampler=args.sampler, steps=args.steps, guidance_scale=args.guidance_scale)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in CONDITIONS}
    samples: dict[str, list[np.ndarray]] = {name: [] for name in CONDITIONS}
    started = time.perf_counter()
    for number, clip in enumerate(clips):
        predicted = mask_predictor.predict_clip(clip.ego[0], clip.exo, clip.exo_masks)
        inputs = {
            "no_masks": (None, True),
            "predicted_masks": (predicted, True),
            "ground_truth_masks": (clip.ego_masks, True),
            "predicted_masks_no_text": (predicted, False),
        }
        for name in CONDITIONS:
            if name == "copy_first":
                frames = np.repeat(clip.ego[:1], clip.num_frames - 1, axis=0)
            else:
                masks, use_text = inputs[name]
                frames = generator.generate(
                    clip.ego[0],
                    clip.meta.instruction,
                    masks,
                    settings=settings,
                    seed=args.seed,
                    use_text=use_text,
                ).frames
            rows[name].append(scores_of(clip, frames))
            samples[name].append(frames)
        _progress(f"{number + 1}/{len(clips)} clips ({time.perf_counter() - started:.0f} s)")
    if args.contact_sheet:
        write_contact_sheet(
            args.contact_sheet,
            clips[: args.sheet_clips],
            {n: samples[n][: args.sheet_clips] for n in CONDITIONS},
        )
    return {
        "clips": str(args.clips),
        "count": len(clips),
        "models": {**ids, "maskpred": mask_predictor.model_id},
        "sampler": {
            "sampler": settings.sampler,
            "steps": settings.steps,
            "guidance_scale": settings.guidance_scale,
            "seed": args.seed,
        },
        "mean": {name: mean_scores(rows[name]) for name in CONDITIONS},
        "per_clip": {name: rows[name] for name in CONDITIONS},
        "names": [clip.name for clip in clips],
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_steps(args: argparse.Namespace) -> dict:
    from egoexo_models.diffusion.generator import load_generator

    clips = load_clips(args.clips, args.limit)
    generator, ids = load_generator(args.video_weights, args.vae_weights)
    results = []
    for entry in args.sweep:
        sampler, _, steps = entry.partition(":")
        settings = SamplerSettings(sampler=sampler, steps=int(steps), guidance_scale=args.guidance_scale)
        started = time.perf_counter()
        rows = []
        evaluations = 0
        for clip in clips:
            result = generator.generate(
                clip.ego[0], clip.meta.instruction, clip.ego_masks, settings=settings, seed=args.seed
            )
            rows.append(scores_of(clip, result.frames))
            evaluations = result.unet_evaluations
        seconds = (time.perf_counter() - started) / len(clips)
        results.append(
            {
                "sampler": sampler,
                "steps": int(steps),
                "unet_evaluations": evaluations,
                "seconds_per_clip": round(seconds, 2),
                **mean_scores(rows),
            }
        )
        _progress(
            f"{entry}: PSNR {results[-1]['psnr']:.3f} dB, region PSNR {results[-1]['region_psnr']:.3f} dB, {seconds:.1f} s/clip"
        )
    reference = next((r for r in results if (r["sampler"], r["steps"]) == ("ddim", 100)), None)
    fastest = None
    if reference is not None:
        within = [r for r in results if r["psnr"] >= reference["psnr"] - 0.2]
        fastest = min(within, key=lambda r: (r["unet_evaluations"], -r["psnr"]))
    if args.plot:
        plot_steps(args.plot, results, reference)
    return {
        "clips": str(args.clips),
        "count": len(clips),
        "models": ids,
        "masks": "ground truth",
        "guidance_scale": args.guidance_scale,
        "seed": args.seed,
        "results": results,
        "fewest_steps_within_0.2_db_of_ddim_100": fastest,
    }


def run_vae(args: argparse.Namespace) -> dict:
    """Reconstruction scores of the VAE alone (the ceiling of any Φgen sample), all N frames."""
    import torch

    from egoexo_models.diffusion.vae import frames_to_unit_range, load_vae, unit_range_to_frames
    from egoexo_models.weights import weights_id

    vae = load_vae(args.vae_weights)
    rows = []
    for clip in load_clips(args.clips, args.limit):
        with torch.no_grad():
            latents = vae.encode(frames_to_unit_range(torch.from_numpy(clip.ego)))
            frames = unit_range_to_frames(vae.decode(latents)).numpy()
        scores = score_video(clip.ego, frames, hoi_region(clip.ego_masks))
        rows.append(
            {
                name: float(np.nanmean(getattr(scores, name)))
                for name in ("psnr", "ssim", "region_psnr", "region_ssim")
            }
        )
    return {
        "clips": str(args.clips),
        "count": len(rows),
        "vae": weights_id(args.vae_weights),
        "mean": mean_scores(rows),
    }


def write_contact_sheet(
    path: Path,
    clips: list[Clip],
    samples: dict[str, list[np.ndarray]],
    frames: tuple[int, ...] = (1, 5, 10, 15),
) -> None:
    """Rows per clip: ground truth, then each condition; columns: the chosen frames (frame 0 first)."""
    size = clips[0].ego.shape[1]
    label_width = 150
    grid: list[tuple[str, np.ndarray]] = []
    for index, clip in enumerate(clips):
        grid.append((f"{clip.name[-10:]}: truth", clip.ego))
        for name, videos in samples.items():
            grid.append((name, np.concatenate([clip.ego[:1], videos[index]])))
    columns = (0, *frames)
    sheet = Image.new("RGB", (label_width + size * len(columns), size * len(grid)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (label, video) in enumerate(grid):
        draw.text((4, row * size + size // 2 - 6), label, fill="black")
        for column, frame in enumerate(columns):
            sheet.paste(
                Image.fromarray(video[min(frame, len(video) - 1)]), (label_width + column * size, row * size)
            )
    for column, frame in enumerate(columns):
        draw.text((label_width + column * size + 4, 2), f"t={frame}", fill="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def plot_steps(
    path: Path, results: list[dict], reference: dict | None, size: tuple[int, int] = (640, 400)
) -> None:
    """PSNR against UNet evaluations per sampler, with the band 0.2 dB under DDIM-100, as a PNG."""
    width, height = size
    left, right, top, bottom = 60, 20, 30, 50
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    xs = [math.log10(r["unet_evaluations"]) for r in results]
    ys = [r["psnr"] for r in results]
    low, high = min(ys) - 0.3, max(ys) + 0.3
    x_low, x_high = min(xs) - 0.1, max(xs) + 0.1

    def point(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x_low) / (x_high - x_low) * (width - left - right),
            top + (high - y) / (high - low) * (height - top - bottom),
        )

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    if reference is not None:
        y0, y1 = point(0, reference["psnr"])[1], point(0, reference["psnr"] - 0.2)[1]
        draw.rectangle([left + 1, y0, width - right - 1, y1], fill=(220, 235, 220))
    for tick in sorted({r["unet_evaluations"] for r in results}):
        x = point(math.log10(tick), low)[0]
        draw.line([x, height - bottom, x, height - bottom + 5], fill="black")
        draw.text((x - 8, height - bottom + 8), str(tick), fill="black")
    for step in range(6):
        value = low + step * (high - low) / 5
        y = point(x_low, value)[1]
        draw.line([left - 5, y, left, y], fill="black")
        draw.text((5, y - 6), f"{value:.2f}", fill="black")
    colours = {"ddim": (200, 60, 40), "dpmpp": (40, 90, 200)}
    for sampler, colour in colours.items():
        points = sorted(
            point(math.log10(r["unet_evaluations"]), r["psnr"]) for r in results if r["sampler"] == sampler
        )
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
    draw.text(
        (left, 8),
        "PSNR (dB) vs UNet evaluations (log scale); red DDIM, blue DPM-Solver++; above the green band: within 0.2 dB of DDIM-100 or better",
        fill="black",
    )
    draw.text((width // 2 - 60, height - 20), "UNet evaluations", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m egoexo_models.diffusion.ablation", description=__doc__.splitlines()[0]
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    for mode in ("conditions", "steps", "vae"):
        sub = modes.add_parser(mode)
        sub.add_argument("--clips", type=Path, required=True, help="sim clips with ego and exo masks")
        sub.add_argument("--limit", type=int, default=16, help="use the first N clips")
        sub.add_argument("--json", type=Path, required=True, help="write the results here")
        sub.add_argument(
            "--video-weights", type=Path, default=None, help="video_unet weights (default: shipped)"
        )
        sub.add_argument("--vae-weights", type=Path, default=None, help="VAE weights (default: shipped)")
        sub.add_argument("--guidance-scale", type=float, default=1.0)
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    conditions = modes.choices["conditions"]
    conditions.add_argument(
        "--maskpred-weights", type=Path, default=None, help="mask predictor weights (default: shipped)"
    )
    conditions.add_argument("--sampler", default="dpmpp")
    conditions.add_argument("--steps", type=int, default=20)
    conditions.add_argument(
        "--contact-sheet", type=Path, default=None, help="PNG of a few clips per condition"
    )
    conditions.add_argument("--sheet-clips", type=int, default=3)
    steps = modes.choices["steps"]
    steps.add_argument("--sweep", nargs="+", default=list(DEFAULT_SWEEP), help="sampler:steps entries")
    steps.add_argument("--plot", type=Path, default=None, help="PNG of PSNR vs UNet evaluations")
    return parser


def main(argv: list[str] | None = None) -> int:
    import torch

    from egoexo_models.weights import shipped_weights_dir

    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.video_weights = args.video_weights or shipped_weights_dir("video_unet")
    args.vae_weights = args.vae_weights or shipped_weights_dir("vae")
    runners = {"conditions": run_conditions, "steps": run_steps, "vae": run_vae}
    report = runners[args.mode](args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report.get("mean") or report["results"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
