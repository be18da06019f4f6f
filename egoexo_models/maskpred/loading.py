"""Builders: weights directory -> torch module -> runtime -> runner, for Φseg and the HOI segmenters.

    load_mask_predictor()                                   # shipped weights, torch eager on CPU
    load_mask_predictor(path, "onnxruntime", "cpu")        # exports the ONNX step graph once, cached
    load_exo_segmenter(config=SegmenterConfig())            # random initialisation (tests)

For the onnxruntime and tensorrt backends the ONNX file is `onnx_path` when given, else it is
exported once into the cache directory (engine_cache_dir, $EGOEXO_CACHE_DIR or ~/.cache/egoexo)
under the weights id. Every ONNX file carries its model kind, config hash and weights id in its
metadata, checked at load so that a file of another model version is refused.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from egoexo_models.maskpred.config import MaskPredictorConfig, SegmenterConfig, config_hash
from egoexo_models.maskpred.model import MaskPredictor
from egoexo_models.maskpred.segmenter import HOISegmenter
from egoexo_models.maskpred.segmenting import EgoSegmenter, ExoSegmenter, FrameSegmenter
from egoexo_models.maskpred.step import MaskPredictorStep
from egoexo_models.maskpred.streaming import StreamingMaskPredictor
from egoexo_models.runtime import Runtime, create_runtime

MASKPRED_KIND = "maskpred"
SEGMENTER_KINDS = {"exo": "exo_segmenter", "ego": "ego_segmenter"}
SHIPPED_NAMES = {
    MASKPRED_KIND: "maskpred",
    "exo_segmenter": "exo_segmenter",
    "ego_segmenter": "ego_segmenter",
}


def default_cache_dir() -> Path:
    return Path(os.environ.get("EGOEXO_CACHE_DIR", Path.home() / ".cache" / "egoexo"))


def onnx_metadata(kind: str, config, model_id: str) -> dict[str, str]:
    """What an exported ONNX file records about its model (and what loading checks)."""
    return {"egoexo.kind": kind, "egoexo.config_hash": config_hash(config), "egoexo.weights_id": model_id}


def _load_module(kind: str, weights_dir, config, config_cls, module_cls) -> tuple[torch.nn.Module, str]:
    """(module in eval mode, model id) from a weights directory, the shipped weights, or a config (random)."""
    from egoexo_models.weights import load_state_strict, load_weights, shipped_weights_dir, weights_id

    if config is not None:
        if weights_dir is not None:
            raise ValueError(
                "give either weights_dir (trained weights) or config (random initialisation), not both"
            )
        if not isinstance(config, config_cls):
            raise TypeError(f"config must be a {config_cls.__name__}, got {type(config).__name__}")
        module = module_cls(config).eval()
        return module, f"{kind}:random-{_state_digest(module)}"
    directory = Path(weights_dir) if weights_dir is not None else shipped_weights_dir(SHIPPED_NAMES[kind])
    config, state_dict = load_weights(directory, kind=kind, config_cls=config_cls)
    module = module_cls(config)
    load_state_strict(module, state_dict, source=str(directory))
    return module.eval(), weights_id(directory)


def _state_digest(module: torch.nn.Module) -> str:
    """8 hex digits of the SHA-256 of a module's tensors: tells two random initialisations apart."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:8]


def build_mask_predictor(
    weights_dir: str | os.PathLike | None = None, *, config: MaskPredictorConfig | None = None
) -> tuple[MaskPredictor, str]:
    """The torch MaskPredictor (eval mode) and its model id; weights_dir None = shipped (unless `config`)."""
    return _load_module(MASKPRED_KIND, weights_dir, config, MaskPredictorConfig, MaskPredictor)


def build_segmenter(
    view: str, weights_dir: str | os.PathLike | None = None, *, config: SegmenterConfig | None = None
) -> tuple[HOISegmenter, str]:
    """The torch HOISegmenter for `view` ("exo" | "ego") and its model id."""
    if view not in SEGMENTER_KINDS:
        raise ValueError(f"view must be one of {sorted(SEGMENTER_KINDS)}, got {view!r}")
    return _load_module(SEGMENTER_KINDS[view], weights_dir, config, SegmenterConfig, HOISegmenter)


def open_runtime(
    graph: torch.nn.Module,
    kind: str,
    config,
    model_id: str,
    *,
    backend: str,
    device: str,
    onnx_path: str | os.PathLike | None,
    engine_cache_dir: str | os.PathLike | None,
    fp16: bool,
    threads: int | None = None,
) -> Runtime:
    """A runtime for `graph` (an exportable module): eager torch, or its ONNX file (exported on demand)."""
    if backend == "torch":
        return create_runtime("torch", torch_module=graph, device=device, fp16=fp16)
    metadata = onnx_metadata(kind, config, model_id)
    cache_dir = Path(engine_cache_dir) if engine_cache_dir is not None else default_cache_dir()
    if onnx_path is None:
        if ":random-" in model_id:  # random weights are not reproducible: never reuse a cached export
            onnx_path = Path(tempfile.mkdtemp(prefix="egoexo-onnx-")) / f"{kind}.onnx"
        else:
            onnx_path = cache_dir / "onnx" / f"{model_id.replace(':', '-')}.onnx"
        if not onnx_path.is_file():
            from egoexo_models.runtime.onnx_files import export_onnx

            export_onnx(graph, onnx_path, metadata=metadata)
    return create_runtime(
        backend,
        onnx_path=onnx_path,
        device=device,
        engine_cache_dir=cache_dir / "tensorrt",
        fp16=fp16,
        expected_metadata=metadata,
        threads=threads,
    )


def load_mask_predictor(
    weights_dir: str | os.PathLike | None = None,
    backend: str = "torch",
    device: str = "cpu",
    *,
    config: MaskPredictorConfig | None = None,
    onnx_path: str | os.PathLike | None = None,
    engine_cache_dir: str | os.PathLike | None = None,
    fp16: bool = False,
    threads: int | None = None,
) -> StreamingMaskPredictor:
    """The streaming mask predictor on `backend` ("torch" | "onnxruntime" | "tensorrt") and `device`.

    weights_dir None loads the shipped weights, unless `config` asks for a random initialisation.
    threads: ONNX Runtime's intra-op threads on CPU (None: its default).
    Raises WeightsError (missing or corrupt weights), ModelMismatchError (ONNX of another model),
    BackendUnavailableError (the backend cannot run here).
    """
    model, model_id = build_mask_predictor(weights_dir, config=config)
    runtime = open_runtime(
        MaskPredictorStep(model),
        "maskpred_step",
        model.config,
        model_id,
        backend=backend,
        device=device,
        onnx_path=onnx_path,
        engine_cache_dir=engine_cache_dir,
        fp16=fp16,
        threads=threads,
    )
    return StreamingMaskPredictor(runtime, model.config, model_id)


def _load_segmenter(
    runner_cls: type[FrameSegmenter],
    weights_dir,
    backend,
    device,
    config,
    onnx_path,
    engine_cache_dir,
    fp16,
    threads,
) -> FrameSegmenter:
    model, model_id = build_segmenter(runner_cls.view, weights_dir, config=config)
    runtime = open_runtime(
        model,
        SEGMENTER_KINDS[runner_cls.view],
        model.config,
        model_id,
        backend=backend,
        device=device,
        onnx_path=onnx_path,
        engine_cache_dir=engine_cache_dir,
        fp16=fp16,
        threads=threads,
    )
    return runner_cls(runtime, model.config, model_id)


def load_exo_segmenter(
    weights_dir: str | os.PathLike | None = None,
    backend: str = "torch",
    device: str = "cpu",
    *,
    config: SegmenterConfig | None = None,
    onnx_path: str | os.PathLike | None = None,
    engine_cache_dir: str | os.PathLike | None = None,
    fp16: bool = False,
    threads: int | None = None,
) -> ExoSegmenter:
    """The exo HOI segmenter (same arguments and errors as load_mask_predictor)."""
    return _load_segmenter(
        ExoSegmenter, weights_dir, backend, device, config, onnx_path, engine_cache_dir, fp16, threads
    )


def load_ego_segmenter(
    weights_dir: str | os.PathLike | None = None,
    backend: str = "torch",
    device: str = "cpu",
    *,
    config: SegmenterConfig | None = None,
    onnx_path: str | os.PathLike | None = None,
    engine_cache_dir: str | os.PathLike | None = None,
    fp16: bool = False,
    threads: int | None = None,
) -> EgoSegmenter:
    """The ego HOI segmenter (same arguments and errors as load_mask_predictor)."""
    return _load_segmenter(
        EgoSegmenter, weights_dir, backend, device, config, onnx_path, engine_cache_dir, fp16, threads
    )
