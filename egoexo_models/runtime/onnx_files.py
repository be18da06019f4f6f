"""Writing ONNX files with identifying metadata, and checking that metadata when a file is loaded."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from egoexo_models.runtime.base import ModelMismatchError

ONNX_OPSET = 18


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_onnx(
    module: torch.nn.Module, path: str | os.PathLike, *, metadata: dict[str, str], opset: int = ONNX_OPSET
) -> Path:
    """Export `module` (with input_names, output_names, example_inputs()) to one self-contained ONNX file.

    Uses the dynamo exporter with static shapes (those of example_inputs) and stores `metadata` in the
    file's metadata_props. Written atomically: `path` appears complete or not at all.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    example = module.example_inputs()
    with torch.no_grad():
        program = torch.onnx.export(
            module,
            tuple(example[name] for name in module.input_names),
            input_names=list(module.input_names),
            output_names=list(module.output_names),
            opset_version=opset,
            dynamo=True,
            external_data=False,
        )
    model = program.model_proto
    for key, value in sorted(metadata.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        onnx.save_model(model, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def check_metadata(path: str | os.PathLike, found: dict[str, str], expected: dict[str, str] | None) -> None:
    """Raise ModelMismatchError naming every key whose value in the file differs from `expected`."""
    if not expected:
        return
    problems = [
        f"{key}: file has {found.get(key, '<absent>')!r}, expected {value!r}"
        for key, value in expected.items()
        if found.get(key) != str(value)
    ]
    if problems:
        raise ModelMismatchError(
            f"{path} is an export of another model version ({'; '.join(problems)}); "
            "re-export it for these weights with `egoexo export`"
        )
