#!/usr/bin/env python3
"""Sim world throughput: clips per second at 16 frames of 128x128, ego + exo, RGB + labels, written to disk.

    MUJOCO_GL=egl .venv/bin/python bench/bench_sim.py [--clips 24] [--workers 2] [--depth]

Runs the same batch once in this process (1 worker) and once with --workers spawned processes,
each into a fresh temporary directory, and prints clips/s (wall clock) and clips per CPU-second
(this process and its workers, rendering threads included). The issue's target is at least 2 clips/s
per core: clips per CPU-second is that figure even on a machine shared with other jobs, where the
wall-clock rate drops. The first clip of each run pays for the OpenGL context (about 0.1 s) and,
with workers, process start-up; a warm-up clip in this process is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MUJOCO_GL", "egl")

from training.sim.generate import SimJob, generate_clip, run_job

TARGET_PER_CORE = 2.0


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children, user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_run(clips: int, workers: int, args: argparse.Namespace) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of writing `clips` clips with `workers` processes."""
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as out:
        job = SimJob(
            out=Path(out),
            clips=clips,
            seed=args.seed,
            frames=args.frames,
            size=args.size,
            workers=workers,
            depth=args.depth,
        )
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        run_job(job, log=lambda _: None)
        return time.perf_counter() - start, _cpu_seconds() - cpu_start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--depth", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    # Warm-up: the OpenGL context and imports of this process.
    generate_clip("train", args.seed + 1, 0, frames=args.frames, size=args.size)
    results = {"clips": args.clips, "frames": args.frames, "size": args.size, "depth": args.depth}
    results["mujoco_gl"] = os.environ["MUJOCO_GL"]
    results["cpu_count"] = os.cpu_count()
    for workers in sorted({1, args.workers}):
        seconds, cpu = timed_run(args.clips, workers, args)
        rate, per_cpu = args.clips / seconds, args.clips / cpu
        results[f"workers_{workers}"] = {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "clips_per_s": round(rate, 2),
            "clips_per_cpu_s": round(per_cpu, 2),
        }
        verdict = "meets" if per_cpu >= TARGET_PER_CORE else "misses"
        print(
            f"workers={workers}: {args.clips} clips in {seconds:.2f} s = {rate:.2f} clips/s; "
            f"{cpu:.2f} CPU-s = {per_cpu:.2f} clips per CPU-second ({verdict} the {TARGET_PER_CORE:g}/core target)"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
