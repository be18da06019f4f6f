"""Sampling and the Φgen generator on tiny random models: determinism, conditioning, bad input."""

import numpy as np
import pytest
import torch

from egoexo_models.diffusion.generator import torch_generator
from egoexo_models.diffusion.model import NoiseSchedule, VideoDiffusionModel
from egoexo_models.diffusion.sampling import SamplerSettings, make_scheduler, sample_latents, validate_seed
from egoexo_models.diffusion.text_encoder import load_text_encoder
from egoexo_models.diffusion.tiny import (
    randomize_zero_layers,
    tiny_diffusion_config,
    tiny_vae_config,
    write_tiny_text_encoder,
)
from egoexo_models.diffusion.vae import FrameVAE

FRAMES, SIZE = 4, 16
INSTRUCTION = "pick up the red cup with the right hand"


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    text_dir = write_tiny_text_encoder(tmp_path_factory.mktemp("text"))
    config = tiny_diffusion_config(text_path=str(text_dir), num_frames=FRAMES, size=SIZE)
    torch.manual_seed(0)
    model = randomize_zero_layers(VideoDiffusionModel(config)).eval()
    vae = FrameVAE(tiny_vae_config()).eval()
    return torch_generator(model, vae, load_text_encoder(config.text))


@pytest.fixture(scope="module")
def first_frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def masks(seed: int, frames: int = FRAMES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3, (frames, SIZE, SIZE), dtype=np.uint8)


def generate(generator, first_frame, *, instruction=INSTRUCTION, ego_masks=None, seed=0, **settings):
    ego_masks = masks(1) if ego_masks is None else ego_masks
    return generator.generate(
        first_frame, instruction, ego_masks, settings=SamplerSettings(**{"steps": 3, **settings}), seed=seed
    )


def test_generate_returns_the_frames_after_the_first_and_stage_timings(generator, first_frame):
    result = generate(generator, first_frame)
    assert result.frames.shape == (FRAMES - 1, SIZE, SIZE, 3) and result.frames.dtype == np.uint8
    assert {"text_s", "vae_encode_s", "mask_encoder_s", "unet_s", "vae_decode_s", "generate_s"} <= set(
        result.timings
    )
    assert result.unet_evaluations == 3


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp"])
def test_the_same_seed_gives_the_same_video_and_another_seed_another(generator, first_frame, sampler):
    a = generate(generator, first_frame, sampler=sampler, seed=7).frames
    b = generate(generator, first_frame, sampler=sampler, seed=7).frames
    c = generate(generator, first_frame, sampler=sampler, seed=8).frames
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_ddim_with_eta_is_still_reproducible_from_the_seed(generator, first_frame):
    a = generate(generator, first_frame, sampler="ddim", eta=1.0, seed=3).frames
    b = generate(generator, first_frame, sampler="ddim", eta=1.0, seed=3).frames
    np.testing.assert_array_equal(a, b)


def test_masks_and_instruction_change_the_video(generator, first_frame):
    base = generate(generator, first_frame).frames
    assert not np.array_equal(base, generate(generator, first_frame, ego_masks=masks(2)).frames)
    assert not np.array_equal(
        base, generate(generator, first_frame, instruction="push the box to the left").frames
    )


def test_classifier_free_guidance_doubles_the_unet_evaluations_and_changes_the_video(generator, first_frame):
    plain = generate(generator, first_frame)
    guided = generate(generator, first_frame, guidance_scale=3.0)
    assert guided.unet_evaluations == 2 * plain.unet_evaluations
    assert not np.array_equal(plain.frames, guided.frames)


def test_sampling_without_masks_is_allowed_for_the_no_mask_ablation(generator, first_frame):
    result = generator.generate(first_frame, INSTRUCTION, None, settings=SamplerSettings(steps=2), seed=0)
    assert result.frames.shape == (FRAMES - 1, SIZE, SIZE, 3)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"instruction": ""}, "instruction is empty"),
        ({"instruction": "   "}, "instruction is empty"),
        ({"instruction": "x" * 10_001}, "more than 10000"),
        ({"ego_masks": masks(0, frames=FRAMES - 1)}, "masks are missing for some frames"),
        ({"ego_masks": masks(0).astype(np.int64)}, "uint8"),
        ({"ego_masks": masks(0) + 2}, "labels are 0 background"),
        ({"seed": -1}, "seed must be an integer"),
        ({"seed": 2**32}, "seed must be an integer"),
    ],
)
def test_bad_input_is_a_clear_error_before_the_unet_runs(generator, first_frame, change, message):
    with pytest.raises(ValueError, match=message):
        generate(generator, first_frame, **change)


def test_a_first_frame_of_another_size_is_rejected(generator):
    wrong = np.zeros((SIZE * 2, SIZE, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"shape \(16, 16, 3\).*resize"):
        generate(generator, wrong)


def test_a_long_instruction_is_truncated_to_the_token_budget(generator, first_frame):
    long_text = INSTRUCTION + " and then " + "carefully " * 900  # 10,000 characters or fewer
    assert generate(generator, first_frame, instruction=long_text).frames.shape[0] == FRAMES - 1


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"steps": 0}, "steps must be an integer in"),
        ({"steps": 2.5}, "steps must be an integer in"),
        ({"sampler": "euler"}, "sampler must be one of"),
        ({"guidance_scale": float("nan")}, "guidance_scale"),
        ({"eta": 0.5, "sampler": "dpmpp"}, "applies to the ddim sampler only"),
        ({"eta": 2.0, "sampler": "ddim"}, "eta must be in"),
    ],
)
def test_bad_sampler_settings_are_rejected(settings, message):
    with pytest.raises(ValueError, match=message):
        SamplerSettings(**settings)


def test_seed_validation_accepts_the_full_unsigned_32_bit_range():
    assert validate_seed(0) == 0 and validate_seed(2**32 - 1) == 2**32 - 1
    with pytest.raises(ValueError):
        validate_seed(True)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp"])
def test_samplers_recover_a_known_x0_from_an_oracle_denoiser(sampler):
    """With a denoiser that knows x0, both samplers land on x0 (checks schedule and parameterisation)."""
    schedule = NoiseSchedule()
    x0 = torch.randn(1, 2, 1, 2, 2, generator=torch.Generator().manual_seed(0)) * 0.5
    alphas = make_scheduler(SamplerSettings(sampler=sampler, steps=10), schedule).alphas_cumprod

    def oracle(noisy, timesteps, text):
        alpha = alphas[timesteps.long()].view(-1, 1, 1, 1, 1)
        noise = (noisy - alpha.sqrt() * x0) / (1 - alpha).sqrt()
        return alpha.sqrt() * noise - (1 - alpha).sqrt() * x0  # v-prediction

    text = torch.zeros(1, 1, 1)
    result, evaluations = sample_latents(
        oracle,
        shape=tuple(x0.shape),
        text_states=text,
        null_text_states=text,
        settings=SamplerSettings(sampler=sampler, steps=10),
        schedule=schedule,
        seed=0,
    )
    assert evaluations == 10
    torch.testing.assert_close(result, x0, atol=1e-3, rtol=0)
