"""Runtimes: ONNX Runtime matches PyTorch, refuses another model's ONNX, and TensorRT fails clearly."""

import importlib.util

import numpy as np
import pytest
import torch

from egoexo_models.maskpred import load_mask_predictor
from egoexo_models.maskpred.config import tiny_mask_predictor_config
from egoexo_models.maskpred.loading import build_mask_predictor, onnx_metadata
from egoexo_models.maskpred.step import MaskPredictorStep
from egoexo_models.runtime import (
    BackendUnavailableError,
    ModelMismatchError,
    RuntimeInputError,
    create_runtime,
)
from egoexo_models.runtime.onnx_files import export_onnx

TINY = tiny_mask_predictor_config()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(step module, its ONNX path, its metadata): one export for the whole module (a few seconds)."""
    torch.manual_seed(0)
    model, model_id = build_mask_predictor(config=TINY)
    step = MaskPredictorStep(model)
    metadata = onnx_metadata("maskpred_step", TINY, model_id)
    path = export_onnx(step, tmp_path_factory.mktemp("onnx") / "step.onnx", metadata=metadata)
    return step, path, metadata


def random_inputs(step, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {name: t.numpy() for name, t in step.example_inputs().items()}
    inputs["exo_image"] = rng.random(inputs["exo_image"].shape, dtype=np.float32)
    inputs["ego_image"] = rng.random(inputs["ego_image"].shape, dtype=np.float32)
    inputs["exo_mask"] = (rng.random(inputs["exo_mask"].shape) > 0.7).astype(np.float32)
    inputs["memory_keys"] = rng.standard_normal(inputs["memory_keys"].shape).astype(np.float32)
    inputs["memory_values"] = rng.standard_normal(inputs["memory_values"].shape).astype(np.float32)
    inputs["memory_valid"] = np.array([[1.0, 1.0, 0.0]], np.float32)
    return inputs


@pytest.mark.slow
def test_onnxruntime_matches_torch_on_every_output(exported):
    step, path, metadata = exported
    ort = create_runtime("onnxruntime", onnx_path=path, expected_metadata=metadata)
    eager = create_runtime("torch", torch_module=step)
    assert ort.input_names == eager.input_names and ort.output_names == eager.output_names
    assert ort.provider == "CPUExecutionProvider"
    for seed in range(3):
        inputs = random_inputs(step, seed)
        a, b = ort.run(inputs), eager.run(inputs)
        for name in step.output_names:
            np.testing.assert_allclose(a[name], b[name], atol=1e-4, rtol=1e-4)
        assert (a["logits"].argmax(1) == b["logits"].argmax(1)).mean() >= 0.999


@pytest.mark.slow
def test_an_onnx_file_of_another_model_version_is_refused(exported):
    _, path, metadata = exported
    other = dict(metadata, **{"egoexo.config_hash": "0123456789abcdef"})
    with pytest.raises(
        ModelMismatchError, match=r"egoexo.config_hash: file has '[0-9a-f]+', expected '0123456789abcdef'"
    ):
        create_runtime("onnxruntime", onnx_path=path, expected_metadata=other)
    with pytest.raises(ModelMismatchError, match="re-export it for these weights with `egoexo export`"):
        load_mask_predictor(config=TINY, backend="onnxruntime", onnx_path=path)  # another random init


def test_a_corrupt_or_missing_onnx_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ONNX file not found"):
        create_runtime("onnxruntime", onnx_path=tmp_path / "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="ONNX Runtime cannot load this file"):
        create_runtime("onnxruntime", onnx_path=tmp_path / "bad.onnx")


def test_wrong_runtime_inputs_are_named():
    torch.manual_seed(0)
    model, _ = build_mask_predictor(config=TINY)
    runtime = create_runtime("torch", torch_module=MaskPredictorStep(model))
    inputs = random_inputs(runtime.module)
    with pytest.raises(RuntimeInputError, match=r"missing \['memory_valid'\]"):
        runtime.run({k: v for k, v in inputs.items() if k != "memory_valid"})
    with pytest.raises(RuntimeInputError, match="'exo_image' must have shape"):
        runtime.run(dict(inputs, exo_image=np.zeros((1, 3, 16, 16), np.float32)))
    with pytest.raises(RuntimeInputError, match="'exo_image' must be a float32 array, got float64"):
        runtime.run(dict(inputs, exo_image=inputs["exo_image"].astype(np.float64)))


def test_unknown_backends_devices_and_missing_arguments_are_named():
    with pytest.raises(ValueError, match="unknown backend 'tflite'"):
        create_runtime("tflite")
    with pytest.raises(ValueError, match="device must be"):
        create_runtime("torch", torch_module=torch.nn.Identity(), device="gpu")
    with pytest.raises(ValueError, match="needs onnx_path"):
        create_runtime("onnxruntime")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_on_a_cpu_machine_is_a_clear_unavailability(exported):
    step, path, _ = exported
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        create_runtime("torch", torch_module=step, device="cuda")
    with pytest.raises(BackendUnavailableError, match="install onnxruntime-gpu"):
        create_runtime("onnxruntime", onnx_path=path, device="cuda")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_where_it_is_not_importable_says_so_and_what_to_use(exported):
    _, path, _ = exported
    with pytest.raises(
        BackendUnavailableError,
        match=r"TensorRT is not importable here.*use backend 'onnxruntime' or 'torch'",
    ):
        create_runtime("tensorrt", onnx_path=path, device="cuda")
