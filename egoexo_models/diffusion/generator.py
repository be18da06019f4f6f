"""Φgen inference: first ego frame + instruction + ego HOI masks -> ego frames 2..N, on any backend.

The generator calls its five graphs (graphs.py) through `GraphCaller`s: torch eager on the CPU or a
GPU (half precision by autocast, the UNet step optionally captured as a CUDA graph), or a Runtime
of egoexo_models.runtime (ONNX Runtime, TensorRT). The sampling loop is the same for all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from egoexo_models.clip import NUM_LABELS
from egoexo_models.diffusion.graphs import (
    MaskEncoderGraph,
    TextEncoderGraph,
    UNetGraph,
    VAEDecoderGraph,
    VAEEncoderGraph,
    mask_feature_names,
)
from egoexo_models.diffusion.mask_encoder import label_maps_to_channels
from egoexo_models.diffusion.model import VideoDiffusionConfig, VideoDiffusionModel
from egoexo_models.diffusion.sampling import SamplerSettings, sample_latents, validate_seed
from egoexo_models.diffusion.text_encoder import TextEncoder, validate_instruction
from egoexo_models.diffusion.vae import FrameVAE, VAEConfig, frames_to_unit_range, unit_range_to_frames

GraphCaller = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
_TEXT_CACHE_SIZE = 16


@dataclass
class VideoResult:
    """Predicted ego frames 1..N-1 as uint8 (N-1, H, W, 3) and the seconds spent per stage."""

    frames: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    unet_evaluations: int = 0


class TorchGraphCaller:
    """Runs a graph module in torch eager: tensors in (any device), float32 tensors out on `device`."""

    def __init__(self, graph: torch.nn.Module, *, device: str, half_dtype: torch.dtype | None = None) -> None:
        self.graph = graph.to(device).eval()
        self.device = device
        self.half_dtype = half_dtype if device.startswith("cuda") else None

    def __call__(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        tensors = [inputs[name].to(self.device) for name in self.graph.input_names]
        with (
            torch.inference_mode(),
            torch.autocast(
                "cuda", dtype=self.half_dtype or torch.float16, enabled=self.half_dtype is not None
            ),
        ):
            outputs = self.graph(*tensors)
        return {name: out.float() for name, out in zip(self.graph.output_names, outputs, strict=True)}

    def close(self) -> None:
        self.graph = None


class CudaGraphCaller(TorchGraphCaller):
    """TorchGraphCaller whose graph is captured once as a CUDA graph and replayed (static shapes)."""

    def __init__(self, graph: torch.nn.Module, *, device: str, half_dtype: torch.dtype | None = None) -> None:
        if not device.startswith("cuda"):
            raise ValueError(f"CUDA graphs need a CUDA device, got {device!r}")
        super().__init__(graph, device=device, half_dtype=half_dtype)
        self._static_inputs: list[torch.Tensor] | None = None
        self._static_outputs: dict[str, torch.Tensor] = {}
        self._cuda_graph: torch.cuda.CUDAGraph | None = None

    def __call__(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self._cuda_graph is None:
            self._capture(inputs)
        for static, name in zip(self._static_inputs, self.graph.input_names, strict=True):
            static.copy_(inputs[name])
        self._cuda_graph.replay()
        return {name: out.clone() for name, out in self._static_outputs.items()}

    def _capture(self, inputs: dict[str, torch.Tensor]) -> None:
        self._static_inputs = [inputs[name].to(self.device).clone() for name in self.graph.input_names]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up: cuDNN autotuning and allocator pools happen outside the capture
                super().__call__(dict(zip(self.graph.input_names, self._static_inputs, strict=True)))
        torch.cuda.current_stream().wait_stream(side)
        self._cuda_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._cuda_graph):
            self._static_outputs = super().__call__(
                dict(zip(self.graph.input_names, self._static_inputs, strict=True))
            )


class RuntimeGraphCaller:
    """Runs a graph through an egoexo_models.runtime Runtime (numpy float32 in and out)."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def __call__(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        arrays = {name: inputs[name].detach().float().cpu().numpy() for name in self.runtime.input_names}
        return {name: torch.from_numpy(value) for name, value in self.runtime.run(arrays).items()}

    def close(self) -> None:
        self.runtime.close()


class VideoGenerator:
    """Φgen behind five graph callers; `generate` validates its inputs and times each stage."""

    def __init__(
        self,
        config: VideoDiffusionConfig,
        *,
        tokenizer: TextEncoder,
        graphs: dict[str, GraphCaller],
        latent_shape: tuple[int, int, int],
        device: str,
    ) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.graphs = graphs
        self.latent_shape = latent_shape  # (C, h, w)
        self.device = device
        self._text_cache: dict[str, torch.Tensor] = {}

    @property
    def uses_masks(self) -> bool:
        """Whether the model has ψmask (a phase-2 model); without it ego masks are not used."""
        return "mask_encoder" in self.graphs

    def encode_text(self, text: str) -> torch.Tensor:
        """(1, L, D) token states of `text` ("" is the null text of classifier-free guidance), cached."""
        if text not in self._text_cache:
            if len(self._text_cache) >= _TEXT_CACHE_SIZE:
                self._text_cache.pop(next(iter(self._text_cache)))
            input_ids, attention_mask = self.tokenizer.tokenize([text])
            outputs = self.graphs["text_encoder"](
                {"input_ids": input_ids.float(), "attention_mask": attention_mask.float()}
            )
            self._text_cache[text] = outputs["text_states"]
        return self._text_cache[text]

    def check_inputs(self, ego_first_frame: np.ndarray, ego_masks: np.ndarray | None) -> None:
        """Raise ValueError unless the frame and masks have the model's size, frame count, dtype and labels."""
        height, width, frames = self.config.height, self.config.width, self.config.num_frames
        if (
            not isinstance(ego_first_frame, np.ndarray)
            or ego_first_frame.dtype != np.uint8
            or ego_first_frame.shape != (height, width, 3)
        ):
            got = (
                f"{ego_first_frame.dtype} {ego_first_frame.shape}"
                if isinstance(ego_first_frame, np.ndarray)
                else type(ego_first_frame).__name__
            )
            raise ValueError(
                f"ego_first_frame must be uint8 of shape ({height}, {width}, 3) (the model's size), got {got}; "
                "resize the frame before calling"
            )
        if ego_masks is None:
            return
        if not isinstance(ego_masks, np.ndarray) or ego_masks.dtype != np.uint8 or ego_masks.ndim != 3:
            got = (
                f"{ego_masks.dtype} {ego_masks.shape}"
                if isinstance(ego_masks, np.ndarray)
                else type(ego_masks).__name__
            )
            raise ValueError(f"ego_masks must be uint8 label maps (N, {height}, {width}), got {got}")
        if ego_masks.shape[0] != frames:
            raise ValueError(
                f"ego_masks holds {ego_masks.shape[0]} label maps, the model needs one for each of its {frames} "
                f"frames (0..{frames - 1}); masks are missing for some frames"
            )
        if ego_masks.shape[1:] != (height, width):
            raise ValueError(
                f"ego_masks must be {height}x{width} label maps, got {ego_masks.shape[2]}x{ego_masks.shape[1]}"
            )
        if ego_masks.size and int(ego_masks.max()) >= NUM_LABELS:
            raise ValueError(
                f"ego_masks holds label {int(ego_masks.max())}; labels are 0 background, 1 hand, 2 object"
            )

    def generate(
        self,
        ego_first_frame: np.ndarray,
        instruction: str,
        ego_masks: np.ndarray | None,
        *,
        settings: SamplerSettings,
        seed: int,
        use_text: bool = True,
    ) -> VideoResult:
        """Predict frames 1..N-1. ego_masks None (or a model without ψmask) means no HOI guidance;
        use_text False conditions on the null text instead of the instruction (the "w/o text" ablation).
        """
        instruction = validate_instruction(instruction)
        seed = validate_seed(seed)
        self.check_inputs(ego_first_frame, ego_masks)
        timings: dict[str, float] = {}
        start = time.perf_counter()

        with _timed(timings, "text_s", self.device):
            text_states = self.encode_text(instruction if use_text else "")
            null_states = self.encode_text("") if settings.uses_guidance else text_states
        with _timed(timings, "vae_encode_s", self.device):
            frame = frames_to_unit_range(torch.from_numpy(ego_first_frame))[None]
            first_latent = self.graphs["vae_encoder"]({"frames": frame})["latents"]
        with _timed(timings, "mask_encoder_s", self.device):
            features = self._mask_features(ego_masks)
        with _timed(timings, "unet_s", self.device):
            channels, height, width = self.latent_shape
            shape = (1, self.config.num_frames, channels, height, width)

            def denoise(noisy: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
                outputs = []
                for index in range(noisy.shape[0]):  # the graphs have batch 1; CFG runs two calls
                    inputs = {
                        "noisy_latents": noisy[index : index + 1],
                        "timesteps": timesteps[index : index + 1],
                        "text_states": text[index : index + 1],
                        "first_latent": first_latent,
                        **features,
                    }
                    outputs.append(self.graphs["unet"](inputs)["prediction"].to(noisy.device))
                return torch.cat(outputs)

            sample_device = first_latent.device
            latents, evaluations = sample_latents(
                denoise,
                shape=shape,
                text_states=text_states.to(sample_device),
                null_text_states=null_states.to(sample_device),
                settings=settings,
                schedule=self.config.schedule,
                seed=seed,
                device=sample_device,
            )
            if self.config.schedule.diffuse_residual:
                latents = latents + first_latent[:, None]
        with _timed(timings, "vae_decode_s", self.device):
            images = self.graphs["vae_decoder"]({"latents": latents[0, 1:]})["frames"]
            frames = unit_range_to_frames(images).cpu().numpy()
        timings["generate_s"] = time.perf_counter() - start
        return VideoResult(
            frames=frames,
            timings=timings,
            unet_evaluations=evaluations * (2 if settings.uses_guidance else 1),
        )

    def close(self) -> None:
        """Free the graphs (and GPU memory)."""
        for caller in self.graphs.values():
            caller.close()
        self.graphs = {}
        self._text_cache.clear()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _mask_features(self, ego_masks: np.ndarray | None) -> dict[str, torch.Tensor]:
        names = mask_feature_names(self.config.unet.num_levels)
        if ego_masks is not None and self.uses_masks:
            masks = label_maps_to_channels(ego_masks)[None]
            return self.graphs["mask_encoder"]({"masks": masks})
        _, height, width = self.latent_shape
        device = self.device if self.device.startswith("cuda") else "cpu"
        return {
            name: torch.zeros(
                self.config.num_frames, level_channels, height // 2**level, width // 2**level, device=device
            )
            for level, (name, level_channels) in enumerate(
                zip(names, self.config.unet.block_channels, strict=True)
            )
        }


@contextmanager
def _timed(timings: dict[str, float], name: str, device: str) -> Iterator[None]:
    """Record the wall seconds of the block as timings[name] (synchronising CUDA on both ends)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    yield
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    timings[name] = time.perf_counter() - start


def build_graphs(
    model: VideoDiffusionModel, vae: FrameVAE, text_encoder: TextEncoder
) -> dict[str, torch.nn.Module]:
    """The graph modules of a loaded Φgen (ψmask's only for a phase-2 model); checks the parts fit."""
    config = model.config
    factor = vae.config.downscale_factor
    if vae.config.latent_channels != config.unet.latent_channels:
        raise ValueError(
            f"the VAE has {vae.config.latent_channels} latent channels, the UNet expects {config.unet.latent_channels}"
        )
    if config.height % (factor * 2 ** (config.unet.num_levels - 1)) or config.width % (
        factor * 2 ** (config.unet.num_levels - 1)
    ):
        raise ValueError(
            f"frame size {config.height}x{config.width} must be divisible by the VAE factor {factor} times "
            f"2^{config.unet.num_levels - 1} (the UNet's downsamplings)"
        )
    if model.mask_encoder is not None and model.mask_encoder.config.downscale != factor:
        raise ValueError(
            f"ψmask folds masks by {model.mask_encoder.config.downscale}, the VAE by {factor}; they must match"
        )
    if text_encoder.hidden_size != config.unet.cross_attention_dim:
        raise ValueError(
            f"the text encoder gives {text_encoder.hidden_size}-dim states, the UNet cross-attends to "
            f"{config.unet.cross_attention_dim}; use the text encoder the model was trained with ({config.text})"
        )
    latent_size = (config.height // factor, config.width // factor)
    graphs: dict[str, torch.nn.Module] = {
        "text_encoder": TextEncoderGraph(text_encoder),
        "vae_encoder": VAEEncoderGraph(vae, config),
        "vae_decoder": VAEDecoderGraph(vae, config),
        "unet": UNetGraph(
            model.unet,
            config,
            latent_size=latent_size,
            text_shape=(config.text.max_tokens, text_encoder.hidden_size),
        ),
    }
    if model.mask_encoder is not None:
        graphs["mask_encoder"] = MaskEncoderGraph(model.mask_encoder, config)
    return graphs


def torch_generator(
    model: VideoDiffusionModel,
    vae: FrameVAE,
    text_encoder: TextEncoder,
    *,
    device: str = "cpu",
    half_dtype: torch.dtype | None = None,
    cuda_graph: bool = False,
) -> VideoGenerator:
    """A VideoGenerator running Φgen in torch eager (CUDA graph for the UNet step if asked, on a GPU)."""
    graphs = build_graphs(model, vae, text_encoder)
    callers: dict[str, GraphCaller] = {}
    for name, graph in graphs.items():
        caller_cls = CudaGraphCaller if (cuda_graph and name == "unet") else TorchGraphCaller
        callers[name] = caller_cls(graph, device=device, half_dtype=half_dtype)
    return VideoGenerator(
        model.config,
        tokenizer=text_encoder,
        graphs=callers,
        latent_shape=latent_shape(model.config, vae.config),
        device=device,
    )


def latent_shape(config: VideoDiffusionConfig, vae_config: VAEConfig) -> tuple[int, int, int]:
    """(C, h, w) of one frame's latent."""
    factor = vae_config.downscale_factor
    return (vae_config.latent_channels, config.height // factor, config.width // factor)


def load_generator(
    video_dir: str | Path,
    vae_dir: str | Path,
    *,
    backend: str = "torch",
    device: str = "cpu",
    engine_cache_dir: str | Path | None = None,
    fp16: bool = False,
    half_dtype: str = "float16",
    cuda_graph: bool = True,
) -> tuple[VideoGenerator, dict[str, str]]:
    """Φgen from weight directories on `backend`: (generator, {"vae": id, "video_unet": id}).

    For onnxruntime and tensorrt each graph is exported once to ONNX under the cache directory
    (engine_cache_dir, $EGOEXO_CACHE_DIR or ~/.cache/egoexo), named by the weights ids, and loaded
    through egoexo_models.runtime (which caches TensorRT engines beside it).
    """
    from egoexo_models.diffusion.model import load_video_diffusion
    from egoexo_models.diffusion.text_encoder import load_text_encoder
    from egoexo_models.diffusion.vae import load_vae
    from egoexo_models.weights import weights_id

    model = load_video_diffusion(video_dir)
    vae = load_vae(vae_dir)
    text_encoder = load_text_encoder(model.config.text)
    ids = {"vae": weights_id(vae_dir), "video_unet": weights_id(video_dir)}
    if backend == "torch":
        from egoexo_models.runtime import BackendUnavailableError

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"torch backend: device {device!r} requested but this torch has no CUDA GPU"
            )
        half = getattr(torch, half_dtype) if fp16 else None
        use_graph = cuda_graph and device.startswith("cuda")
        return torch_generator(
            model, vae, text_encoder, device=device, half_dtype=half, cuda_graph=use_graph
        ), ids
    graphs = build_graphs(model, vae, text_encoder)
    callers = {
        name: RuntimeGraphCaller(
            open_graph_runtime(
                graph, name, ids, backend=backend, device=device, cache_dir=engine_cache_dir, fp16=fp16
            )
        )
        for name, graph in graphs.items()
    }
    generator = VideoGenerator(
        model.config,
        tokenizer=text_encoder,
        graphs=callers,
        latent_shape=latent_shape(model.config, vae.config),
        device="cpu",
    )
    return generator, ids


def graph_metadata(name: str, ids: dict[str, str]) -> dict[str, str]:
    """What an exported Φgen graph records in its ONNX metadata (checked when it is loaded)."""
    return {"egoexo.kind": f"phi_gen.{name}", "egoexo.weights_id": f"{ids['video_unet']} {ids['vae']}"}


def graph_file_name(name: str, ids: dict[str, str]) -> str:
    return f"phi_gen-{ids['video_unet'].replace(':', '-')}-{ids['vae'].replace(':', '-')}-{name}.onnx"


def open_graph_runtime(
    graph: torch.nn.Module,
    name: str,
    ids: dict[str, str],
    *,
    backend: str,
    device: str,
    cache_dir: str | Path | None,
    fp16: bool,
    threads: int | None = None,
):
    """A Runtime for one Φgen graph, exporting it to the ONNX cache first if needed (threads: ONNX
    Runtime's CPU threads, None for its default)."""
    import os

    from egoexo_models.runtime import create_runtime
    from egoexo_models.runtime.onnx_files import export_onnx

    cache = (
        Path(cache_dir)
        if cache_dir is not None
        else Path(os.environ.get("EGOEXO_CACHE_DIR", Path.home() / ".cache" / "egoexo"))
    )
    path = cache / "onnx" / graph_file_name(name, ids)
    metadata = graph_metadata(name, ids)
    if not path.is_file():
        export_onnx(graph, path, metadata=metadata)
    return create_runtime(
        backend,
        onnx_path=path,
        device=device,
        engine_cache_dir=cache / "tensorrt",
        fp16=fp16,
        expected_metadata=metadata,
        threads=threads,
    )
