"""Export Φgen's graphs (text encoder, VAE encoder and decoder, ψmask, UNet) to ONNX, check ONNX
Runtime against PyTorch on sim inputs, and build TensorRT engines where TensorRT is importable.

Parity per graph: the largest absolute difference of the outputs on inputs made from a sim clip (its
instruction, first ego frame, ego masks, and noisy latents of its frames). End to end: the same clip
sampled by the torch and the ONNX Runtime generators from the same seed, compared by PSNR.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import torch

from egoexo_models.clip import list_clips, read_clip
from egoexo_models.diffusion.generator import (
    RuntimeGraphCaller,
    VideoGenerator,
    build_graphs,
    graph_file_name,
    graph_metadata,
    latent_shape,
    torch_generator,
)
from egoexo_models.diffusion.mask_encoder import label_maps_to_channels
from egoexo_models.diffusion.model import load_video_diffusion
from egoexo_models.diffusion.sampling import SamplerSettings, initial_noise
from egoexo_models.diffusion.text_encoder import load_text_encoder
from egoexo_models.diffusion.vae import frames_to_unit_range, load_vae
from egoexo_models.runtime import create_runtime
from egoexo_models.runtime.onnx_files import ONNX_OPSET, export_onnx
from egoexo_models.weights import SHIPPED_WEIGHTS_ROOT, weights_id
from training.export.tensorrt_engine import build_tensorrt_engine

log = logging.getLogger(__name__)
# A graph passes when its largest output difference is below this fraction of the output's range,
# and the end-to-end videos of both backends agree to at least END_TO_END_MIN_PSNR.
PARITY_MAX_RELATIVE_DIFF = 1e-3
END_TO_END_MIN_PSNR = 40.0
DEFAULT_CLIPS = Path("samples/val")


def sim_graph_inputs(
    graphs: dict[str, torch.nn.Module], clip, seed: int = 0
) -> dict[str, dict[str, torch.Tensor]]:
    """Inputs of every graph made from one sim clip (shapes as the graphs' example_inputs)."""
    text_graph, encoder, unet = graphs["text_encoder"], graphs["vae_encoder"], graphs["unet"]
    input_ids, attention_mask = text_graph.encoder.tokenize([clip.meta.instruction])
    frames = frames_to_unit_range(torch.from_numpy(clip.ego))
    with torch.no_grad():
        text_states = text_graph(input_ids.float(), attention_mask.float())[0]
        latents = encoder.vae.encode(frames)
    inputs = {
        "text_encoder": {"input_ids": input_ids.float(), "attention_mask": attention_mask.float()},
        "vae_encoder": {"frames": frames[:1]},
        "vae_decoder": {"latents": latents[1:]},
    }
    features = {}
    if "mask_encoder" in graphs:
        masks = label_maps_to_channels(clip.ego_masks)[None]
        inputs["mask_encoder"] = {"masks": masks}
        with torch.no_grad():
            features = dict(
                zip(graphs["mask_encoder"].output_names, graphs["mask_encoder"](masks), strict=True)
            )
    else:
        features = {
            name: torch.zeros_like(value)
            for name, value in unet.example_inputs().items()
            if name.startswith("mask_feature_")
        }
    noise = initial_noise(tuple(latents[None].shape), seed, "cpu")
    inputs["unet"] = {
        "noisy_latents": 0.7 * latents[None] + 0.7 * noise,
        "timesteps": torch.tensor([500.0]),
        "text_states": text_states,
        "first_latent": latents[:1],
        **features,
    }
    return inputs


def graph_parity(graph: torch.nn.Module, runtime, inputs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Largest absolute output difference torch vs runtime, and its ratio to the output's range."""
    with torch.no_grad():
        reference = graph(*(inputs[name] for name in graph.input_names))
    outputs = runtime.run({name: inputs[name].numpy().astype(np.float32) for name in graph.input_names})
    diffs, ranges = [], []
    for name, expected in zip(graph.output_names, reference, strict=True):
        expected = expected.numpy()
        diffs.append(float(np.abs(outputs[name] - expected).max()))
        ranges.append(float(expected.max() - expected.min()) or 1.0)
    worst = max(range(len(diffs)), key=lambda i: diffs[i] / ranges[i])
    return {
        "max_abs_diff": diffs[worst],
        "output_range": ranges[worst],
        "relative": diffs[worst] / ranges[worst],
    }


def video_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _parity_clip(clip_root: Path, config):
    for path in list_clips(clip_root):
        clip = read_clip(path)
        if clip.ego_masks is not None and (clip.num_frames, clip.meta.height, clip.meta.width) == (
            config.num_frames,
            config.height,
            config.width,
        ):
            return clip
    raise ValueError(
        f"{clip_root}: no clip of {config.num_frames} frames of {config.width}x{config.height} with ego_masks/ for the parity check"
    )


def export_diffusion(
    out_dir: str | os.PathLike,
    *,
    fp16: bool = False,
    weights_root: str | os.PathLike | None = None,
    clip_root: str | os.PathLike = DEFAULT_CLIPS,
    end_to_end_steps: int = 10,
) -> list[dict]:
    """Export Φgen's five graphs; one report record per graph, plus one for the end-to-end comparison.

    The files go to out_dir/onnx/ under the names the pipeline looks for, so
    PipelineOptions(engine_cache_dir=out_dir) on onnxruntime or tensorrt uses them as they are.
    Each record has parity_ok (the check `egoexo export` fails on).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(weights_root) if weights_root is not None else SHIPPED_WEIGHTS_ROOT
    video_dir, vae_dir = root / "video_unet", root / "vae"
    model, vae = load_video_diffusion(video_dir), load_vae(vae_dir)
    text_encoder = load_text_encoder(model.config.text)
    ids = {"vae": weights_id(vae_dir), "video_unet": weights_id(video_dir)}
    graphs = build_graphs(model, vae, text_encoder)
    clip = _parity_clip(Path(clip_root), model.config)
    inputs = sim_graph_inputs(graphs, clip)

    records, runtimes = [], {}
    for name, graph in graphs.items():
        metadata = graph_metadata(name, ids)
        onnx_path = export_onnx(graph, out_dir / "onnx" / graph_file_name(name, ids), metadata=metadata)
        runtimes[name] = create_runtime("onnxruntime", onnx_path=onnx_path, expected_metadata=metadata)
        parity = graph_parity(graph, runtimes[name], inputs[name])
        records.append(
            {
                "name": f"phi_gen_{name}",
                "model_id": f"{ids['video_unet']} {ids['vae']}",
                "onnx": str(onnx_path),
                "bytes": onnx_path.stat().st_size,
                "opset": ONNX_OPSET,
                "diffusion_parity": parity,
                "parity_ok": parity["relative"] < PARITY_MAX_RELATIVE_DIFF,
                "tensorrt": build_tensorrt_engine(onnx_path, out_dir, fp16, metadata),
            }
        )

    settings = SamplerSettings(sampler="dpmpp", steps=end_to_end_steps)
    eager = torch_generator(model, vae, text_encoder)
    onnx = VideoGenerator(
        model.config,
        tokenizer=text_encoder,
        graphs={name: RuntimeGraphCaller(runtime) for name, runtime in runtimes.items()},
        latent_shape=latent_shape(model.config, vae.config),
        device="cpu",
    )
    masks = clip.ego_masks if eager.uses_masks else None
    a = eager.generate(clip.ego[0], clip.meta.instruction, masks, settings=settings, seed=0)
    b = onnx.generate(clip.ego[0], clip.meta.instruction, masks, settings=settings, seed=0)
    psnr = video_psnr(a.frames, b.frames)
    records.append(
        {
            "name": "phi_gen_end_to_end",
            "clip": clip.name,
            "sampler": f"{settings.sampler} {settings.steps} steps, seed 0",
            "torch_vs_onnxruntime_psnr_db": psnr,
            "max_abs_pixel_diff": int(np.abs(a.frames.astype(int) - b.frames.astype(int)).max()),
            "seconds": {
                "torch": round(a.timings["generate_s"], 3),
                "onnxruntime": round(b.timings["generate_s"], 3),
            },
            "parity_ok": psnr >= END_TO_END_MIN_PSNR,
        }
    )
    for runtime in runtimes.values():
        runtime.close()
    return records
