"""egoexo sim: generate paired ego/exo clips with exact hand-object masks in the MuJoCo sim world.

Writes clip-format-v1 directories named sim_<split>_<seed>_<index> into --out. Each clip depends
only on (split, seed, index) and the frame/size options, so re-running the same command keeps the
clips already there and adds the missing ones. Needs the `mujoco` package and an offscreen OpenGL
backend (MUJOCO_GL=egl, the default here, or osmesa).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SPLIT_NAMES = ("train", "val", "test", "shift")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, required=True, help="directory to write the clip directories into"
    )
    parser.add_argument("--clips", type=int, required=True, help="number of clips")
    parser.add_argument("--seed", type=int, required=True, help="random stream of this batch (per split)")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (default 16, at 8 fps)")
    parser.add_argument("--size", type=int, default=128, help="square frame size in pixels (default 128)")
    parser.add_argument(
        "--split",
        default="train",
        help=f"scene distribution: {', '.join(SPLIT_NAMES)} (shift: shapes, textures, viewpoints unseen in train)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (default 1; use the core count)"
    )
    parser.add_argument(
        "--depth", action="store_true", help="also write ego_depth/ and exo_depth/ (uint16 mm)"
    )


def run(args: argparse.Namespace) -> int:
    from training.sim.generate import SimJob, run_job

    job = SimJob(
        out=args.out,
        clips=args.clips,
        seed=args.seed,
        frames=args.frames,
        size=args.size,
        split=args.split,
        workers=args.workers,
        depth=args.depth,
    )
    try:
        job.validate()
    except ValueError as error:
        print(f"egoexo sim: {error}", file=sys.stderr)
        return 2
    run_job(job)
    return 0
