"""One inference interface over PyTorch eager, ONNX Runtime and TensorRT (see base.Runtime).

    runtime = create_runtime("onnxruntime", onnx_path=path, device="cpu")
    outputs = runtime.run({"image": array})   # dict[str, np.ndarray] in, dict[str, np.ndarray] out

Backends import their libraries only when created, so importing this package costs nothing.
"""

from egoexo_models.runtime.base import (
    BACKENDS,
    BackendUnavailableError,
    ModelMismatchError,
    Runtime,
    RuntimeInputError,
    create_runtime,
)

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "ModelMismatchError",
    "Runtime",
    "RuntimeInputError",
    "create_runtime",
]
