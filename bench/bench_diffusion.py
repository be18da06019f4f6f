"""Φgen speed: time per UNet evaluation and per 16-frame clip, torch eager vs ONNX Runtime, on the CPU
(and CUDA when available), and the FLOPs of one UNet evaluation against the machine's matmul FLOP/s.

    python bench/bench_diffusion.py [--weights-root DIR | --random] [--threads 2] [--repeats 5]
        [--sampler ddim --steps 1] [--devices cpu cuda] [--json outputs/bench/diffusion.json]

FLOPs come from torch.utils.flop_counter (a multiply-add counts 2) for one UNet evaluation of one
16-frame clip; the practical peak is the best of a few float32 2048x2048 matmuls timed in the same
run on the same threads; the fraction is (FLOPs / UNet seconds) / peak. --random benchmarks freshly
initialised models of the shipped configuration (same speed, meaningless frames).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from egoexo_models.diffusion.generator import (  # noqa: E402
    RuntimeGraphCaller,
    VideoGenerator,
    build_graphs,
    latent_shape,
    open_graph_runtime,
    torch_generator,
)
from egoexo_models.diffusion.model import VideoDiffusionConfig, VideoDiffusionModel, load_video_diffusion  # noqa: E402
from egoexo_models.diffusion.sampling import DEFAULT_SAMPLER, DEFAULT_STEPS, SamplerSettings  # noqa: E402
from egoexo_models.diffusion.text_encoder import load_text_encoder  # noqa: E402
from egoexo_models.diffusion.vae import FrameVAE, VAEConfig, load_vae  # noqa: E402


def matmul_peak_flops(device: str, size: int = 2048, repeats: int = 5) -> float:
    """Best float32 matmul FLOP/s of `repeats` timed products on `device`."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def unet_flops(model: VideoDiffusionModel, graphs: dict) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    inputs = graphs["unet"].example_inputs()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        graphs["unet"](*(inputs[name] for name in graphs["unet"].input_names))
    return counter.get_total_flops()


def time_calls(call, repeats: int, device: str) -> list[float]:
    call()  # warm-up (allocator, oneDNN primitives, CUDA graph capture)
    seconds = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        call()
        _sync(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def load_models(args: argparse.Namespace) -> tuple[VideoDiffusionModel, FrameVAE, dict[str, str]]:
    if args.random:
        torch.manual_seed(0)
        return (
            VideoDiffusionModel(VideoDiffusionConfig()).eval(),
            FrameVAE(VAEConfig()).eval(),
            {"vae": "vae:random", "video_unet": "video_unet:random"},
        )
    from egoexo_models.weights import SHIPPED_WEIGHTS_ROOT, weights_id

    root = args.weights_root or SHIPPED_WEIGHTS_ROOT
    ids = {"vae": weights_id(root / "vae"), "video_unet": weights_id(root / "video_unet")}
    return load_video_diffusion(root / "video_unet"), load_vae(root / "vae"), ids


def bench_generator(
    name: str, generator: VideoGenerator, graphs: dict, settings: SamplerSettings, args, device: str
) -> dict:
    unet = generator.graphs["unet"]
    inputs = {
        key: value.to(device) if device != "cpu" else value
        for key, value in graphs["unet"].example_inputs().items()
    }
    unet_seconds = time_calls(lambda: unet(inputs), args.repeats, device)
    rng = np.random.default_rng(0)
    config = generator.config
    frame = rng.integers(0, 256, (config.height, config.width, 3), dtype=np.uint8)
    masks = rng.integers(0, 3, (config.num_frames, config.height, config.width), dtype=np.uint8)
    clip_seconds = time_calls(
        lambda: generator.generate(
            frame, "pick up the red cup with the right hand", masks, settings=settings, seed=0
        ),
        max(1, args.repeats // 2),
        device,
    )
    return {
        "name": name,
        "unet_eval_s_median": statistics.median(unet_seconds),
        "unet_eval_s_min": min(unet_seconds),
        "clip_s_median": statistics.median(clip_seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights-root", type=Path, default=None, help="root with vae/ and video_unet/ (default: shipped)"
    )
    parser.add_argument("--random", action="store_true", help="fresh models of the shipped configuration")
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime CPU threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--sampler", default=DEFAULT_SAMPLER, help=f"(default: {DEFAULT_SAMPLER}, the shipped default)"
    )
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"(default: {DEFAULT_STEPS})")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = SamplerSettings(sampler=args.sampler, steps=args.steps)

    model, vae, ids = load_models(args)
    text_encoder = load_text_encoder(model.config.text)
    graphs = build_graphs(model, vae, text_encoder)
    flops = unet_flops(model, graphs)
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "models": ids,
        "unet_parameters": sum(p.numel() for p in model.unet.parameters()),
        "unet_gflop_per_eval": flops / 1e9,
        "sampler": f"{settings.sampler} {settings.steps} steps",
        "runs": [],
    }
    for device in args.devices:
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"{device}: no CUDA GPU here; skipped")
            continue
        peak = matmul_peak_flops(device)
        report[f"matmul_peak_gflops_{device}"] = peak / 1e9
        variants = [("torch eager", dict(device=device))]
        if device.startswith("cuda"):
            variants += [
                ("torch fp16 + CUDA graph", dict(device=device, half_dtype=torch.float16, cuda_graph=True)),
            ]
        for name, options in variants:
            generator = torch_generator(model, vae, text_encoder, **options)
            row = bench_generator(f"{name} ({device})", generator, graphs, settings, args, device)
            row["fraction_of_matmul_peak"] = flops / row["unet_eval_s_min"] / peak
            report["runs"].append(row)
            generator.close()
        for module in (model, vae, text_encoder):  # the torch runs moved them; ONNX export traces on CPU
            module.to("cpu")
        try:
            with tempfile.TemporaryDirectory() as cache:
                runtimes = {
                    name: open_graph_runtime(
                        graph,
                        name,
                        ids,
                        backend="onnxruntime",
                        device=device,
                        cache_dir=cache,
                        fp16=False,
                        threads=args.threads,
                    )
                    for name, graph in graphs.items()
                }
                onnx = VideoGenerator(
                    model.config,
                    tokenizer=text_encoder,
                    graphs={name: RuntimeGraphCaller(runtime) for name, runtime in runtimes.items()},
                    latent_shape=latent_shape(model.config, vae.config),
                    device="cpu",
                )
                row = bench_generator(
                    f"onnxruntime ({runtimes['unet'].provider})", onnx, graphs, settings, args, "cpu"
                )
                row["fraction_of_matmul_peak"] = flops / row["unet_eval_s_min"] / peak
                report["runs"].append(row)
                onnx.close()
        except Exception as error:  # report and go on: the other rows are still worth having
            report["runs"].append({"name": f"onnxruntime ({device})", "error": str(error)})

    print(
        f"UNet: {report['unet_parameters'] / 1e6:.2f} M parameters, {report['unet_gflop_per_eval']:.2f} GFLOP per evaluation (16 frames)"
    )
    for device in args.devices:
        if f"matmul_peak_gflops_{device}" in report:
            print(
                f"matmul peak on {device}: {report[f'matmul_peak_gflops_{device}']:.1f} GFLOP/s ({args.threads} threads)"
            )
    for row in report["runs"]:
        if "error" in row:
            print(f"{row['name']:<38} error: {row['error']}")
            continue
        print(
            f"{row['name']:<38} UNet eval {1000 * row['unet_eval_s_median']:8.1f} ms   clip ({report['sampler']}) "
            f"{row['clip_s_median']:7.2f} s   {100 * row['fraction_of_matmul_peak']:5.1f} % of matmul peak"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
