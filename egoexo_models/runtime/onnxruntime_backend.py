"""ONNX Runtime: the TensorRT, CUDA or CPU execution provider."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from egoexo_models.runtime.base import BackendUnavailableError, Runtime
from egoexo_models.runtime.onnx_files import check_metadata

log = logging.getLogger(__name__)


class OnnxRuntime(Runtime):
    backend = "onnxruntime"

    def __init__(
        self,
        onnx_path: Path,
        *,
        device: str,
        fp16: bool,
        engine_cache_dir: str | os.PathLike | None,
        expected_metadata: dict[str, str] | None,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise BackendUnavailableError(
                f"onnxruntime is not importable ({error}); pip install onnxruntime"
            ) from None
        available = ort.get_available_providers()
        providers: list = []
        if device.startswith("cuda"):
            device_id = int(device.partition(":")[2] or 0)
            if "TensorrtExecutionProvider" in available:
                options = {"device_id": device_id, "trt_fp16_enable": fp16}
                if engine_cache_dir is not None:
                    cache = Path(engine_cache_dir) / "ort_tensorrt"
                    cache.mkdir(parents=True, exist_ok=True)
                    options |= {
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": str(cache),
                        "trt_timing_cache_enable": True,
                        "trt_timing_cache_path": str(cache),
                    }
                providers.append(("TensorrtExecutionProvider", options))
            if "CUDAExecutionProvider" in available:
                providers.append(("CUDAExecutionProvider", {"device_id": device_id}))
            if not providers:
                raise BackendUnavailableError(
                    f"onnxruntime: device {device!r} requested, but this onnxruntime has only {available}; "
                    "install onnxruntime-gpu (instead of onnxruntime) or use device 'cpu'"
                )
        providers.append("CPUExecutionProvider")
        try:
            options = ort.SessionOptions()
            if threads is not None:
                options.intra_op_num_threads = threads
            self.session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types for corrupt files
            raise ValueError(
                f"{onnx_path}: ONNX Runtime cannot load this file ({error}); re-export it"
            ) from None
        check_metadata(onnx_path, self.session.get_modelmeta().custom_metadata_map, expected_metadata)
        self.device = device
        self.provider = self.session.get_providers()[0]
        if device.startswith("cuda") and self.provider == "CPUExecutionProvider":
            raise BackendUnavailableError(f"onnxruntime: no GPU provider could start for {device!r}")
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.input_shapes = {i.name: tuple(i.shape) for i in self.session.get_inputs()}
        log.info("onnxruntime: %s on %s", onnx_path.name, self.provider)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(inputs)
        outputs = self.session.run(list(self.output_names), {name: inputs[name] for name in self.input_names})
        return dict(zip(self.output_names, outputs, strict=True))

    def close(self) -> None:
        self.session = None
