"""Φseg model: the whole-clip forward equals the step graph run frame by frame through the ring memory."""

import dataclasses

import numpy as np
import pytest
import torch

from egoexo_models.maskpred.config import MaskPredictorConfig, tiny_mask_predictor_config
from egoexo_models.maskpred.memory import MaskMemoryState, memory_slot
from egoexo_models.maskpred.model import MaskPredictor, hand_object_channels, write_memory
from egoexo_models.maskpred.step import MaskPredictorStep

TINY = tiny_mask_predictor_config(memory_ring=4)


def tiny_model(**overrides) -> MaskPredictor:
    torch.manual_seed(0)
    model = MaskPredictor(dataclasses.replace(TINY, **overrides))
    for module in model.modules():  # non-trivial BatchNorm statistics, so eval mode is really tested
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def random_clip(frames: int, size=(32, 32), batch: int = 1):
    generator = torch.Generator().manual_seed(1)
    exo = torch.rand(batch, frames, 3, *size, generator=generator)
    ego = torch.rand(batch, frames, 3, *size, generator=generator)
    ego[:, 1:] = 0.0  # inference: only the first ego frame is seen
    masks = torch.randint(0, 3, (batch, frames, *size), generator=generator)
    return exo, masks, ego


def test_the_ring_keeps_the_first_frame_and_cycles_through_the_last_k():
    assert [memory_slot(n, 3) for n in range(8)] == [0, 1, 2, 3, 1, 2, 3, 1]
    with pytest.raises(ValueError, match="frame_index"):
        memory_slot(-1, 3)


@pytest.mark.parametrize("query", ["both", "exo", "ego"])
def test_whole_clip_forward_equals_the_step_graph_frame_by_frame_with_ring_eviction(query):
    model = tiny_model(memory_ring=2, query=query)
    exo, masks, ego = random_clip(frames=6)
    with torch.no_grad():
        whole = model(exo, masks, ego)
        step = MaskPredictorStep(model)
        memory = model.empty_memory(1)
        stepped = []
        for n in range(6):
            logits, exo_key, exo_value, ego_key, ego_value = step(
                exo[:, n], hand_object_channels(masks[:, n]), ego[:, n], *memory
            )
            memory = write_memory(memory, memory_slot(n, 2), exo_key, exo_value, ego_key, ego_value)
            stepped.append(logits)
    assert whole.shape == (1, 6, 3, 32, 32)
    torch.testing.assert_close(torch.stack(stepped, dim=1), whole, atol=1e-5, rtol=1e-5)


def test_empty_memory_slots_are_ignored_and_filled_slots_are_read():
    model = tiny_model(memory_ring=2)
    step = MaskPredictorStep(model)
    inputs = step.example_inputs()
    inputs["exo_image"], inputs["ego_image"] = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    inputs["memory_valid"] = torch.tensor([[1.0, 1.0, 0.0]])
    inputs["memory_keys"], inputs["memory_values"] = (
        torch.randn_like(inputs["memory_keys"]),
        torch.randn_like(inputs["memory_values"]),
    )
    with torch.no_grad():
        reference = step(*inputs.values())[0]
        for slot, should_change in ((2, False), (1, True)):
            changed = dict(inputs, memory_values=inputs["memory_values"].clone())
            changed["memory_values"][:, slot] += 1.0
            assert torch.equal(step(*changed.values())[0], reference) is not should_change


def test_the_exo_mask_of_the_current_frame_changes_that_frames_prediction():
    model = tiny_model()
    exo, masks, ego = random_clip(frames=2)
    other = masks.clone()
    other[:, 1] = (other[:, 1] + 1) % 3
    with torch.no_grad():
        a, b = model(exo, masks, ego), model(exo, other, ego)
    assert torch.equal(a[:, 0], b[:, 0])
    assert not torch.equal(a[:, 1], b[:, 1])


def test_alpha_mixes_the_ego_query_branch_and_zero_ignores_it():
    model = tiny_model()
    exo, masks, ego = random_clip(frames=3)
    visible = ego.clone()
    visible[:, 1:] = torch.rand_like(visible[:, 1:])
    with torch.no_grad():
        exo_only = model(exo, masks, visible, alpha=0.0)
        mixed = model(exo, masks, visible, alpha=0.5)
    assert not torch.equal(exo_only, mixed)
    # With α = 0 the ego frame still reaches the decoder (multi-scale ego features), but not the query.
    assert model.config.inference_alpha == 0.0
    assert tiny_model(query="ego").config.inference_alpha == 1.0


def test_a_training_step_backpropagates_through_every_part():
    model = tiny_model().train()
    exo, masks, ego = random_clip(frames=3, batch=2)
    model(exo, masks, ego, alpha=0.5).logsumexp(dim=2).mean().backward()
    without_grad = [
        name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert without_grad == []


def test_the_memory_state_is_never_modified_by_writing():
    state = MaskMemoryState.empty(3, 4, 2, 5, np.zeros((32, 32, 3), np.uint8))
    entry_key, entry_value = np.ones((1, 4, 2), np.float32), np.ones((1, 4, 5), np.float32)
    after = state.written(entry_key, entry_value, entry_key, entry_value)
    assert state.valid.sum() == 0 and state.keys.sum() == 0 and state.frames_seen == 0
    assert after.valid.tolist() == [[1.0, 0.0, 0.0]] and after.frames_seen == 1


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("image_size", (30, 32), "multiple of 16"),
        ("encoder_widths", (8, 8), "encoder_widths needs 3 entries"),
        ("query", "sideways", "query must be one of"),
        ("memory_ring", 0, "memory_ring must be a positive int"),
    ],
)
def test_a_bad_config_is_rejected_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY, **{field: value})


def test_the_shipped_size_stays_small():
    parameters = sum(p.numel() for p in MaskPredictor(MaskPredictorConfig()).parameters())
    assert parameters * 4 < 5_000_000  # float32 bytes: the mask models together stay under ~10 MB
