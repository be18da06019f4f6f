"""EgoExoPipeline: the one object that predicts ego HOI masks and ego frames (CLI, ROS nodes, evaluation).

    pipeline = EgoExoPipeline.load(PipelineOptions())              # shipped weights, torch on CPU
    window = pipeline.start_window(ego_first_frame)                 # uint8 (H,W,3)
    for exo_frame in exo_frames:                                    # uint8 (H,W,3), as they arrive
        result = pipeline.mask_step(window, exo_frame, None)        # exo mask None: the segmenter makes one
    video = pipeline.generate(ego_first_frame, instruction, window.ego_masks())
    prediction = pipeline.predict_clip(clip)                        # all of the above for a whole clip

Stages: the exo HOI segmenter (when no exo mask is given), the cross-view mask predictor Φseg
(paper §2.2, auto-regressive with its memory), and the HOI-aware video diffusion Φgen (§2.3).
Weights come from one root holding maskpred/, exo_segmenter/, vae/ and video_unet/ (the shipped
root, egoexo_models/weights/, by default). Inputs of another size than the models' are an error:
callers resize first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egoexo_models.clip import Clip
from egoexo_models.diffusion.sampling import DEFAULT_SAMPLER, DEFAULT_STEPS, SamplerSettings, validate_seed
from egoexo_models.prediction_dir import Prediction
from egoexo_models.runtime import BACKENDS, BackendUnavailableError

log = logging.getLogger("egoexo.pipeline")
HALF_DTYPES = ("float16", "bfloat16")


@dataclass(frozen=True)
class PipelineOptions:
    """How to load and run the pipeline.

    weights_dir: root with maskpred/, exo_segmenter/, vae/, video_unet/ (None: the shipped weights).
    backend: "torch" | "onnxruntime" | "tensorrt"; when it cannot run here, the backends after it in
        `fallback` are tried in order (each failure logged).
    device: "cpu" | "cuda" | "cuda:N".
    engine_cache_dir: where ONNX exports and TensorRT engines are cached (None: $EGOEXO_CACHE_DIR or
        ~/.cache/egoexo).
    sampler, steps, guidance_scale, eta: Φgen's sampler (see diffusion/sampling.py); seed: the default
        noise seed. fp16: half precision on a GPU (half_dtype "float16" or "bfloat16").
    cuda_graph: capture the UNet step as a CUDA graph (torch backend on a GPU).
    """

    weights_dir: Path | None = None
    backend: str = "torch"
    fallback: tuple[str, ...] = ("tensorrt", "onnxruntime", "torch")
    device: str = "cpu"
    engine_cache_dir: Path | None = None
    sampler: str = DEFAULT_SAMPLER
    steps: int = DEFAULT_STEPS
    guidance_scale: float = 1.0
    eta: float = 0.0
    seed: int = 0
    fp16: bool = False
    half_dtype: str = "float16"
    cuda_graph: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "fallback", tuple(self.fallback))
        for name in (self.backend, *self.fallback):
            if name not in BACKENDS:
                raise ValueError(f"unknown backend {name!r}; choose from {BACKENDS}")
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.half_dtype not in HALF_DTYPES:
            raise ValueError(f"half_dtype must be one of {HALF_DTYPES}, got {self.half_dtype!r}")
        validate_seed(self.seed)
        self.sampler_settings()  # validates sampler, steps, guidance_scale, eta

    def sampler_settings(self) -> SamplerSettings:
        return SamplerSettings(
            sampler=self.sampler, steps=self.steps, guidance_scale=self.guidance_scale, eta=self.eta
        )

    def backend_order(self) -> list[str]:
        """The backend, then those after it in `fallback` (all of `fallback` if it is not listed there)."""
        rest = (
            self.fallback[self.fallback.index(self.backend) + 1 :]
            if self.backend in self.fallback
            else self.fallback
        )
        return [self.backend, *(name for name in rest if name != self.backend)]


@dataclass
class MaskWindow:
    """One prediction window's mask state: the mask predictor's memory and the ego masks so far."""

    memory: object
    ego_first_frame: np.ndarray
    masks: list[np.ndarray] = field(default_factory=list)

    @property
    def frames_seen(self) -> int:
        return len(self.masks)

    def ego_masks(self) -> np.ndarray:
        """uint8 (n, H, W): the ego label maps predicted so far in this window."""
        if not self.masks:
            raise ValueError("no mask was predicted in this window yet; call mask_step first")
        return np.stack(self.masks)


@dataclass(frozen=True)
class MaskStepResult:
    """The ego label map of one frame, the exo label map it came from, where that came from, seconds spent."""

    ego_mask: np.ndarray
    exo_mask: np.ndarray
    exo_mask_source: str  # "given" | "segmenter"
    latency_s: float


class EgoExoPipeline:
    """Every model loaded once, on one backend; see the module docstring for the calls."""

    def __init__(
        self,
        options: PipelineOptions,
        *,
        mask_predictor,
        exo_segmenter,
        generator,
        model_ids: dict[str, str],
        backend: str,
    ) -> None:
        self.options = options
        self.mask_predictor = mask_predictor
        self.exo_segmenter = exo_segmenter
        self.generator = generator
        self.model_ids = model_ids
        self.backend = backend
        self.device = options.device
        config = generator.config
        self.num_frames, self.height, self.width, self.fps = (
            config.num_frames,
            config.height,
            config.width,
            config.fps,
        )
        self.model_id = " ".join(model_ids.values())
        self.settings = options.sampler_settings()
        mask_size = tuple(mask_predictor.config.image_size)
        if mask_size != (self.height, self.width):
            raise ValueError(
                f"the mask predictor works on {mask_size[1]}x{mask_size[0]} frames, the video model on "
                f"{self.width}x{self.height}; the weights under one root must be trained for the same size"
            )

    @classmethod
    def load(cls, options: PipelineOptions) -> EgoExoPipeline:
        """Load every model on the first backend of options.backend_order() that works here."""
        errors = []
        for backend in options.backend_order():
            try:
                pipeline = cls._load_on(options, backend)
            except BackendUnavailableError as error:
                log.warning("backend %s unavailable (%s); trying the next one", backend, error)
                errors.append(f"{backend}: {error}")
                continue
            if backend != options.backend:
                log.warning("running on the fall-back backend %s instead of %s", backend, options.backend)
            return pipeline
        raise BackendUnavailableError("no backend could run here: " + "; ".join(errors))

    @classmethod
    def _load_on(cls, options: PipelineOptions, backend: str) -> EgoExoPipeline:
        from egoexo_models.diffusion.generator import load_generator
        from egoexo_models.maskpred.loading import load_exo_segmenter, load_mask_predictor
        from egoexo_models.weights import SHIPPED_WEIGHTS_ROOT

        root = Path(options.weights_dir) if options.weights_dir is not None else SHIPPED_WEIGHTS_ROOT
        common = {
            "backend": backend,
            "device": options.device,
            "engine_cache_dir": options.engine_cache_dir,
            "fp16": options.fp16,
        }
        mask_predictor = load_mask_predictor(root / "maskpred", **common)
        exo_segmenter = load_exo_segmenter(root / "exo_segmenter", **common)
        generator, video_ids = load_generator(
            root / "video_unet",
            root / "vae",
            **common,
            half_dtype=options.half_dtype,
            cuda_graph=options.cuda_graph,
        )
        ids = {"maskpred": mask_predictor.model_id, "exo_segmenter": exo_segmenter.model_id, **video_ids}
        return cls(
            options,
            mask_predictor=mask_predictor,
            exo_segmenter=exo_segmenter,
            generator=generator,
            model_ids=ids,
            backend=backend,
        )

    # ------------------------------------------------------------------------------------ masks

    def start_window(self, ego_first_frame: np.ndarray) -> MaskWindow:
        """A fresh mask window for the ego frame at the window's start (uint8 (H,W,3), the model's size)."""
        return MaskWindow(
            memory=self.mask_predictor.init_state(ego_first_frame), ego_first_frame=ego_first_frame
        )

    def mask_step(
        self, window: MaskWindow, exo_frame: np.ndarray, exo_mask: np.ndarray | None
    ) -> MaskStepResult:
        """Predict the ego label map for the window's next exo frame; exo_mask None runs the exo segmenter."""
        start = time.perf_counter()
        source = "given"
        if exo_mask is None:
            exo_mask = self.exo_segmenter.segment(exo_frame)
            source = "segmenter"
        ego_mask, window.memory = self.mask_predictor.step(window.memory, exo_frame, exo_mask)
        window.masks.append(ego_mask)
        return MaskStepResult(
            ego_mask=ego_mask,
            exo_mask=exo_mask,
            exo_mask_source=source,
            latency_s=time.perf_counter() - start,
        )

    # ------------------------------------------------------------------------------------ video

    def generate(
        self,
        ego_first_frame: np.ndarray,
        instruction: str,
        ego_masks: np.ndarray | None,
        *,
        seed: int | None = None,
    ):
        """Ego frames 1..N-1 from the first frame, the instruction and the N ego label maps (VideoResult).

        ego_masks None generates without HOI guidance (the "no mask" ablation).
        """
        return self.generator.generate(
            ego_first_frame,
            instruction,
            ego_masks,
            settings=self.settings,
            seed=self.options.seed if seed is None else seed,
        )

    def predict_clip(self, clip: Clip, *, seed: int | None = None) -> Prediction:
        """Masks and frames for a whole clip: exo masks from the clip or the segmenter, Φseg, then Φgen."""
        if (clip.meta.height, clip.meta.width) != (
            self.height,
            self.width,
        ) or clip.num_frames != self.num_frames:
            raise ValueError(
                f"clip {clip.name} has {clip.num_frames} frames of {clip.meta.width}x{clip.meta.height}; the "
                f"models need {self.num_frames} frames of {self.width}x{self.height} (resample the clip first)"
            )
        seed = self.options.seed if seed is None else validate_seed(seed)
        window = self.start_window(clip.ego[0])
        mask_seconds, sources = 0.0, set()
        for index in range(clip.num_frames):
            exo_mask = clip.exo_masks[index] if clip.exo_masks is not None else None
            result = self.mask_step(window, clip.exo[index], exo_mask)
            mask_seconds += result.latency_s
            sources.add(result.exo_mask_source)
        ego_masks = window.ego_masks()
        video = self.generate(clip.ego[0], clip.meta.instruction, ego_masks, seed=seed)
        timings = {"masks_s": mask_seconds, **video.timings}
        info = {
            "model_ids": dict(self.model_ids),
            "backend": self.backend,
            "device": self.device,
            "sampler": self.settings.sampler,
            "steps": self.settings.steps,
            "guidance_scale": self.settings.guidance_scale,
            "eta": self.settings.eta,
            "seed": seed,
            "exo_mask_source": "+".join(sorted(sources)),
            "unet_evaluations": video.unet_evaluations,
            "timings_s": {name: round(value, 4) for name, value in timings.items()},
        }
        return Prediction(ego_masks=ego_masks, frames=video.frames, info=info)

    def close(self) -> None:
        """Free the models (and GPU memory); the pipeline is unusable afterwards."""
        for part in (self.mask_predictor, self.exo_segmenter, self.generator):
            if part is not None:
                part.close()
        self.mask_predictor = self.exo_segmenter = self.generator = None


def write_random_weights(root: str | Path, *, size: int = 32, num_frames: int = 4) -> Path:
    """Tiny random-init weights for every stage under `root`, laid out like the shipped ones.

    For tests and smoke runs: PipelineOptions(weights_dir=root) then loads in seconds. Random models
    predict noise; shapes, plumbing, backends and timings are real.
    """
    from egoexo_models.diffusion.tiny import write_random_diffusion_weights
    from egoexo_models.maskpred.config import SegmenterConfig, tiny_mask_predictor_config
    from egoexo_models.maskpred.model import MaskPredictor
    from egoexo_models.maskpred.segmenter import HOISegmenter
    from egoexo_models.weights import save_weights

    root = Path(root)
    write_random_diffusion_weights(root, num_frames=num_frames, size=size)
    image_size = (size, size)
    mask_config = tiny_mask_predictor_config(size, memory_ring=num_frames - 1)
    save_weights(
        root / "maskpred",
        kind="maskpred",
        config=mask_config,
        state_dict=MaskPredictor(mask_config).state_dict(),
    )
    segmenter_config = SegmenterConfig(
        image_size=image_size, stem_width=8, encoder_widths=(8, 8, 16), decoder_widths=(16, 8, 8)
    )
    save_weights(
        root / "exo_segmenter",
        kind="exo_segmenter",
        config=segmenter_config,
        state_dict=HOISegmenter(segmenter_config).state_dict(),
    )
    return root
