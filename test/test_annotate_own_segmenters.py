"""Our own HOI segmenters as prompters, directly and exported through the generic prompter."""

import numpy as np
import pytest
import torch
from test_annotate_support import colour_frames, export_onnx, export_torchscript, torch_threads, write_spec

from egoexo_models.maskpred.config import SegmenterConfig
from egoexo_models.maskpred.segmenter import HOISegmenter
from egoexo_models.weights import save_weights
from training.annotate import build_prompter
from training.annotation.generic import GenericModelPrompter, load_prompter_spec


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    with torch_threads(1):  # several times faster than the default on the shared test machine
        yield


@pytest.fixture(scope="module")
def exo_weights(tmp_path_factory):
    """A (randomly initialised) exo segmenter saved as a weights directory, and the module itself."""
    torch.manual_seed(0)
    config = SegmenterConfig(image_size=(32, 32), view="exo")
    module = HOISegmenter(config).eval()
    directory = save_weights(
        tmp_path_factory.mktemp("exo") / "exo_segmenter",
        kind="exo_segmenter",
        config=config,
        state_dict=module.state_dict(),
    )
    return directory, module


def test_our_exo_segmenter_prompts_with_its_own_label_maps(exo_weights):
    directory, module = exo_weights
    prompter = build_prompter(f"exo-segmenter:{directory}", "cpu")
    frames, _ = colour_frames(2, 32)
    with torch.no_grad():
        expected = module(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    for frame, labels in zip(frames, expected, strict=True):
        assert np.array_equal(prompter.prompt(frame).labels, labels)
    assert prompter.name.startswith("exo-segmenter:exo_segmenter:")


def test_frames_of_another_size_are_resized_for_our_segmenter(exo_weights):
    directory, _ = exo_weights
    prompter = build_prompter(f"exo-segmenter:{directory}", "cpu")
    frames, _ = colour_frames(1, 48)
    assert prompter.prompt(frames[0]).labels.shape == (48, 48)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_our_segmenter_exported_by_a_user_plugs_into_the_generic_prompter(tmp_path, exo_weights, fmt):
    directory, module = exo_weights
    path = (
        export_onnx(module, tmp_path / "exo.onnx")
        if fmt == "onnx"
        else export_torchscript(module, tmp_path / "exo.pt", trace_size=32)
    )
    generic = GenericModelPrompter(
        load_prompter_spec(write_spec(tmp_path / "exo.yaml", model=path.name, kind="labels"))
    )
    own = build_prompter(f"exo-segmenter:{directory}", "cpu")
    for frame in colour_frames(3, 32)[0]:
        assert np.array_equal(generic.prompt(frame).labels, own.prompt(frame).labels)
