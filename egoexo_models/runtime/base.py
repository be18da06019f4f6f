"""The Runtime interface, its errors and the `create_runtime` factory."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("torch", "onnxruntime", "tensorrt")


class BackendUnavailableError(RuntimeError):
    """The backend cannot run here (library not importable, no GPU, missing provider); try another."""


class ModelMismatchError(ValueError):
    """An exported model file belongs to another model version or configuration than the one expected."""


class RuntimeInputError(ValueError):
    """The inputs given to Runtime.run do not match the model's input names, shapes or dtypes."""


class Runtime(ABC):
    """A loaded model: `run` maps named float32 arrays to named arrays, with static input shapes.

    Attributes: backend ("torch" | "onnxruntime" | "tensorrt"), device ("cpu" | "cuda" | "cuda:N"),
    input_names / output_names (graph order), input_shapes (name -> shape), provider (what actually
    executes, e.g. "CPUExecutionProvider").
    """

    backend: str
    device: str
    provider: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    input_shapes: dict[str, tuple[int, ...]]

    @abstractmethod
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model once. Raises RuntimeInputError for missing, extra or mis-shaped inputs."""

    @abstractmethod
    def close(self) -> None:
        """Free the model and its device memory. The runtime is unusable afterwards."""

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_inputs(self, inputs: dict[str, np.ndarray]) -> None:
        """Raise RuntimeInputError unless `inputs` holds exactly the input names, as float32 of the right shapes."""
        missing = [name for name in self.input_names if name not in inputs]
        extra = [name for name in inputs if name not in self.input_names]
        if missing or extra:
            raise RuntimeInputError(
                f"inputs must be {list(self.input_names)}; missing {missing}, unexpected {extra}"
            )
        for name in self.input_names:
            array, shape = inputs[name], self.input_shapes[name]
            if not isinstance(array, np.ndarray) or array.dtype != np.float32:
                got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
                raise RuntimeInputError(f"input {name!r} must be a float32 array, got {got}")
            if tuple(array.shape) != tuple(shape):
                raise RuntimeInputError(
                    f"input {name!r} must have shape {tuple(shape)}, got {tuple(array.shape)}"
                )


def create_runtime(
    backend: str,
    *,
    onnx_path: str | os.PathLike | None = None,
    torch_module: Any = None,
    device: str = "cpu",
    engine_cache_dir: str | os.PathLike | None = None,
    fp16: bool = False,
    expected_metadata: dict[str, str] | None = None,
    force_engine_rebuild: bool = False,
    threads: int | None = None,
) -> Runtime:
    """Load a model on one backend.

    Args:
        backend: "torch" (needs torch_module), "onnxruntime" or "tensorrt" (need onnx_path).
        onnx_path: the exported ONNX file.
        torch_module: an nn.Module with `input_names`, `output_names` and `example_inputs()`; its forward
            takes the inputs positionally in `input_names` order and returns a tuple in `output_names` order.
        device: "cpu", "cuda" or "cuda:N".
        engine_cache_dir: where TensorRT engines (and the ONNX Runtime TensorRT provider's engines) are cached.
        fp16: half precision where the backend supports it (TensorRT, CUDA); ignored on CPU.
        expected_metadata: key -> value that the ONNX file's metadata must hold (model kind, config hash,
            weights id); a difference raises ModelMismatchError.
        force_engine_rebuild: rebuild a cached TensorRT engine even when its key matches.
        threads: ONNX Runtime intra-op threads on CPU (None: its default, one per physical core).

    Raises:
        ValueError: unknown backend or a missing argument for it.
        BackendUnavailableError: the backend cannot run here (the message says why and what to try).
        ModelMismatchError: the ONNX file is of another model version.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if backend == "torch":
        if torch_module is None:
            raise ValueError("the torch backend needs torch_module")
        from egoexo_models.runtime.torch_backend import TorchRuntime

        return TorchRuntime(torch_module, device=device, fp16=fp16)
    if onnx_path is None:
        raise ValueError(f"the {backend} backend needs onnx_path (export one with `egoexo export`)")
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"{onnx_path}: ONNX file not found (export it with `egoexo export`)")
    if backend == "onnxruntime":
        from egoexo_models.runtime.onnxruntime_backend import OnnxRuntime

        return OnnxRuntime(
            onnx_path,
            device=device,
            fp16=fp16,
            engine_cache_dir=engine_cache_dir,
            expected_metadata=expected_metadata,
            threads=threads,
        )
    from egoexo_models.runtime.tensorrt_backend import TensorRTRuntime

    return TensorRTRuntime(
        onnx_path,
        device=device,
        fp16=fp16,
        engine_cache_dir=engine_cache_dir,
        expected_metadata=expected_metadata,
        force_rebuild=force_engine_rebuild,
    )
