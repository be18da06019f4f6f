"""Mask predictor step latency and peak memory: torch eager vs ONNX Runtime (CPU; CUDA when available).

    python bench/bench_maskpred.py [--weights DIR] [--clips samples/val] [--steps 64] [--threads 2]
        [--devices cpu cuda] [--json outputs/bench/maskpred.json]

Each (backend, device) runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its
own; on CUDA the peak of torch's allocator is reported too (ONNX Runtime's CUDA arena is not visible
to torch, so for it only host memory is shown). A run streams the sim clips frame by frame through
StreamingMaskPredictor.step, as the ROS node does: the latency includes input checks, conversion
and the memory write, after --warmup steps. Also the exo segmenter's per-frame latency.
This is a benchmark, not a test: the target (ONNX Runtime at least 2x faster than eager on CPU)
is printed, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def measure(backend: str, device: str, args: argparse.Namespace) -> dict:
    """Run in the subprocess: load, warm up, time `args.steps` streaming steps and segmenter calls."""
    import numpy as np
    import torch

    from egoexo_models.clip import list_clips, read_clip
    from egoexo_models.maskpred.loading import build_mask_predictor, build_segmenter, open_runtime
    from egoexo_models.maskpred.segmenting import ExoSegmenter
    from egoexo_models.maskpred.step import MaskPredictorStep
    from egoexo_models.maskpred.streaming import StreamingMaskPredictor

    torch.set_num_threads(args.threads)
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clips = [read_clip(path) for path in list_clips(args.clips)]
    model, model_id = build_mask_predictor(args.weights)
    runtime = open_runtime(
        MaskPredictorStep(model),
        "maskpred_step",
        model.config,
        model_id,
        backend=backend,
        device=device,
        onnx_path=None,
        engine_cache_dir=args.cache,
        fp16=False,
        threads=args.threads,
    )
    predictor = StreamingMaskPredictor(runtime, model.config, model_id)
    segmenter_model, segmenter_id = build_segmenter("exo", args.exo_segmenter)
    segmenter = ExoSegmenter(
        open_runtime(
            segmenter_model,
            "exo_segmenter",
            segmenter_model.config,
            segmenter_id,
            backend=backend,
            device=device,
            onnx_path=None,
            engine_cache_dir=args.cache,
            fp16=False,
            threads=args.threads,
        ),
        segmenter_model.config,
        segmenter_id,
    )
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    def clip_frames():
        """(clip, frame index) over the clips, round and round."""
        while True:
            for clip in clips:
                yield from ((clip, n) for n in range(clip.num_frames))

    step_times, segment_times = [], []
    for count, (clip, n) in enumerate(clip_frames()):
        if len(step_times) == args.steps:
            break
        if n == 0:
            state = predictor.init_state(clip.ego[0])
        started = time.perf_counter()
        _, state = predictor.step(state, clip.exo[n], clip.exo_masks[n])
        stepped = time.perf_counter()
        segmenter.segment(clip.exo[n])
        segmented = time.perf_counter()
        if count >= args.warmup:
            step_times.append(stepped - started)
            segment_times.append(segmented - stepped)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "backend": backend,
        "device": device,
        "provider": runtime.provider,
        "threads": args.threads,
        "steps": len(step_times),
        "step_ms_median": 1000 * float(np.median(step_times)),
        "step_ms_p90": 1000 * float(np.percentile(step_times, 90)),
        "segment_ms_median": 1000 * float(np.median(segment_times)),
        "peak_rss_mb": peak_rss / 1024,
        "rss_growth_mb": (peak_rss - baseline_rss) / 1024,
        "model_id": model_id,
    }
    if device.startswith("cuda") and backend == "torch":
        result["cuda_peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def interleaved(device: str, args: argparse.Namespace) -> dict:
    """Run in the subprocess: both backends step the same frames alternately, so both see the same load.

    On a machine shared with other jobs this ratio is the fair one; each backend streams with its
    own memory state, and the backend that goes first alternates from frame to frame.
    """
    import numpy as np
    import torch

    from egoexo_models.clip import list_clips, read_clip
    from egoexo_models.maskpred.loading import load_mask_predictor

    torch.set_num_threads(args.threads)
    clips = [read_clip(path) for path in list_clips(args.clips)]
    predictors = {
        backend: load_mask_predictor(
            args.weights, backend, device, engine_cache_dir=args.cache, threads=args.threads
        )
        for backend in ("torch", "onnxruntime")
    }
    times: dict[str, list[float]] = {backend: [] for backend in predictors}
    count = 0
    while len(times["torch"]) < args.steps:
        for clip in clips:
            states = {backend: p.init_state(clip.ego[0]) for backend, p in predictors.items()}
            for n in range(clip.num_frames):
                order = list(predictors) if count % 2 == 0 else list(reversed(predictors))
                for backend in order:
                    started = time.perf_counter()
                    _, states[backend] = predictors[backend].step(
                        states[backend], clip.exo[n], clip.exo_masks[n]
                    )
                    if count >= args.warmup and len(times[backend]) < args.steps:
                        times[backend].append(time.perf_counter() - started)
                count += 1
    return {
        "device": device,
        "threads": args.threads,
        "steps": args.steps,
        **{f"{backend}_step_ms_median": 1000 * float(np.median(t)) for backend, t in times.items()},
    }


def _cuda_available() -> bool:
    """Asked in a subprocess, so that this process does not import torch (see --prepare)."""
    check = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", check], cwd=REPO_ROOT).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="mask predictor weights (default: shipped)")
    parser.add_argument("--exo-segmenter", type=Path, help="exo segmenter weights (default: shipped)")
    parser.add_argument("--clips", type=Path, default=REPO_ROOT / "samples" / "val")
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch and ONNX Runtime")
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "outputs" / "bench" / "cache")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--one", nargs=2, metavar=("BACKEND", "DEVICE"), help=argparse.SUPPRESS)
    parser.add_argument("--interleaved", metavar="DEVICE", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:  # inside a subprocess
        print(json.dumps(measure(args.one[0], args.one[1], args)))
        return 0
    if args.prepare:
        from egoexo_models.maskpred.loading import load_exo_segmenter, load_mask_predictor

        load_mask_predictor(args.weights, "onnxruntime", engine_cache_dir=args.cache).close()
        load_exo_segmenter(args.exo_segmenter, "onnxruntime", engine_cache_dir=args.cache).close()
        return 0
    if args.interleaved:
        print(json.dumps(interleaved(args.interleaved, args)))
        return 0

    devices = args.devices or (["cpu", "cuda"] if _cuda_available() else ["cpu"])
    # Export the ONNX files first, in a subprocess of its own, so that no measured process pays for an
    # export and this process stays small (a child's ru_maxrss starts at its parent's size at fork).
    subprocess.run([sys.executable, __file__, "--prepare", *sys.argv[1:]], check=True, cwd=REPO_ROOT)
    results = []
    onnxruntime_devices = []
    for device in devices:
        for backend in ("torch", "onnxruntime"):
            command = [sys.executable, __file__, "--one", backend, device, *sys.argv[1:]]
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
            if done.returncode != 0:
                print(f"{backend} on {device} failed:\n{done.stderr[-2000:]}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            if backend == "onnxruntime":
                onnxruntime_devices.append(device)
            print(
                f"{backend:12s} {device:5s} ({result['provider']}, {result['threads']} threads): step "
                f"{result['step_ms_median']:.2f} ms median, {result['step_ms_p90']:.2f} ms p90; exo segmenter "
                f"{result['segment_ms_median']:.2f} ms; peak RSS {result['peak_rss_mb']:.0f} MB"
                + (
                    f", CUDA peak {result['cuda_peak_allocated_mb']:.1f} MB"
                    if "cuda_peak_allocated_mb" in result
                    else ""
                )
            )
    for device in onnxruntime_devices:  # the interleaved comparison needs both backends on the device
        command = [sys.executable, __file__, "--interleaved", device, *sys.argv[1:]]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        if done.returncode != 0:
            print(f"interleaved run on {device} failed:\n{done.stderr[-2000:]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append({"interleaved": True, **result})
        speedup = result["torch_step_ms_median"] / result["onnxruntime_step_ms_median"]
        print(
            f"{device} interleaved (same load for both): eager {result['torch_step_ms_median']:.2f} ms, "
            f"ONNX Runtime {result['onnxruntime_step_ms_median']:.2f} ms per step: {speedup:.2f}x "
            "(target on CPU: >= 2x)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
