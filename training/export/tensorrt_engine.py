"""Build (or find cached) the TensorRT engine of an exported ONNX file, for the export reports."""

from __future__ import annotations

from pathlib import Path

from egoexo_models.runtime import BackendUnavailableError, create_runtime


def build_tensorrt_engine(onnx_path: Path, out_dir: Path, fp16: bool, metadata: dict[str, str]) -> str:
    """The engine under OUT_DIR/tensorrt; returns what happened, or why no engine was built."""
    try:
        runtime = create_runtime(
            "tensorrt",
            onnx_path=onnx_path,
            device="cuda",
            engine_cache_dir=out_dir / "tensorrt",
            fp16=fp16,
            expected_metadata=metadata,
        )
    except BackendUnavailableError as error:
        return f"not built: {error}"
    status = "built" if runtime.built else "loaded from cache"
    runtime.close()
    return f"{status} ({'fp16' if fp16 else 'fp32'}) in {out_dir / 'tensorrt'}"
