"""TensorRT runtime: builds (or loads from the engine cache) an engine from the ONNX file and runs it.

TensorRT is imported only here, when a TensorRT runtime is created. Device buffers are CUDA torch
tensors, so this backend needs TensorRT >= 10 and a CUDA build of torch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from egoexo_models.runtime.base import BackendUnavailableError, Runtime
from egoexo_models.runtime.engine_cache import EngineCache, EngineKey, atomic_write_bytes
from egoexo_models.runtime.onnx_files import check_metadata, file_sha256

log = logging.getLogger(__name__)
DEFAULT_ENGINE_CACHE = Path.home() / ".cache" / "egoexo" / "tensorrt"
WORKSPACE_BYTES = 1 << 30


def import_tensorrt():
    """Import TensorRT, or raise BackendUnavailableError saying how to get it."""
    try:
        import tensorrt
    except ImportError as error:
        raise BackendUnavailableError(
            f"TensorRT is not importable here ({error}). Install TensorRT >= 10 for this GPU "
            "(JetPack on Jetson; NVIDIA's pip index or tarball on desktops), or use backend "
            "'onnxruntime' or 'torch'."
        ) from None
    if int(tensorrt.__version__.split(".")[0]) < 10:
        raise BackendUnavailableError(f"TensorRT {tensorrt.__version__} found; egoexo needs TensorRT >= 10")
    return tensorrt


class TensorRTRuntime(Runtime):
    backend = "tensorrt"

    def __init__(
        self,
        onnx_path: Path,
        *,
        device: str,
        fp16: bool,
        engine_cache_dir: str | os.PathLike | None,
        expected_metadata: dict[str, str] | None,
        force_rebuild: bool,
    ) -> None:
        trt = import_tensorrt()
        import torch

        if not device.startswith("cuda") or not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"TensorRT needs a CUDA device and a CUDA torch; got device {device!r}"
            )
        self._check_metadata(onnx_path, expected_metadata)
        self.torch = torch
        self.device = device
        self.provider = "tensorrt"
        index = torch.device(device).index or 0
        major, minor = torch.cuda.get_device_capability(index)
        key = EngineKey(
            gpu_name=torch.cuda.get_device_name(index),
            compute_capability=f"{major}.{minor}",
            tensorrt_version=trt.__version__,
            onnx_sha256=file_sha256(onnx_path),
            fp16=fp16,
        )
        self.logger = trt.Logger(trt.Logger.WARNING)
        cache = EngineCache(engine_cache_dir or DEFAULT_ENGINE_CACHE)
        serialized, self.built = cache.load_or_build(
            onnx_path.stem,
            key,
            lambda: self._build(trt, onnx_path, fp16, cache.timing_cache_path(key)),
            force_rebuild=force_rebuild,
        )
        self.engine = trt.Runtime(self.logger).deserialize_cuda_engine(serialized)
        if self.engine is None:
            raise ValueError(
                f"TensorRT could not deserialize the engine for {onnx_path}; rebuild with force_engine_rebuild"
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {name: self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT for name in names}
        self.input_names = tuple(name for name in names if is_input[name])
        self.output_names = tuple(name for name in names if not is_input[name])
        self.input_shapes = {name: tuple(self.engine.get_tensor_shape(name)) for name in self.input_names}
        self.outputs = {
            name: torch.empty(
                tuple(self.engine.get_tensor_shape(name)),
                dtype=_torch_dtype(torch, trt, self.engine.get_tensor_dtype(name)),
                device=device,
            )
            for name in self.output_names
        }

    @staticmethod
    def _check_metadata(onnx_path: Path, expected: dict[str, str] | None) -> None:
        if expected:
            import onnx

            model = onnx.load(str(onnx_path), load_external_data=False)
            check_metadata(onnx_path, {p.key: p.value for p in model.metadata_props}, expected)

    def _build(self, trt, onnx_path: Path, fp16: bool, timing_cache_path: Path) -> bytes:
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        timing_cache = config.create_timing_cache(
            timing_cache_path.read_bytes() if timing_cache_path.is_file() else b""
        )
        config.set_timing_cache(timing_cache, ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise ValueError(
                f"TensorRT failed to build an engine for {onnx_path} (see the TensorRT log above)"
            )
        atomic_write_bytes(timing_cache_path, bytes(timing_cache.serialize()))
        return bytes(serialized)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(inputs)
        torch = self.torch
        staged = {
            name: torch.from_numpy(inputs[name]).to(self.device).contiguous() for name in self.input_names
        }
        for name, tensor in (staged | self.outputs).items():
            self.context.set_tensor_address(name, tensor.data_ptr())
        stream = torch.cuda.current_stream(torch.device(self.device))
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed (see the TensorRT log)")
        stream.synchronize()
        return {name: tensor.float().cpu().numpy() for name, tensor in self.outputs.items()}

    def close(self) -> None:
        self.context = None
        self.engine = None
        self.outputs = {}
        self.torch.cuda.empty_cache()


def _torch_dtype(torch, trt, dtype):
    mapping = {
        trt.float32: torch.float32,
        trt.float16: torch.float16,
        trt.int32: torch.int32,
        trt.int64: torch.int64,
    }
    if dtype not in mapping:
        raise ValueError(f"TensorRT output dtype {dtype} is not supported by this runtime")
    return mapping[dtype]
