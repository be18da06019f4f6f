"""Φgen's modules on tiny random configs: shapes, conditioning paths, SD-compatible names."""

import dataclasses

import pytest
import torch

from egoexo_models.diffusion.mask_encoder import label_maps_to_channels
from egoexo_models.diffusion.model import VideoDiffusionConfig, VideoDiffusionModel, zero_mask_features
from egoexo_models.diffusion.temporal import TemporalAttention
from egoexo_models.diffusion.tiny import randomize_zero_layers, tiny_diffusion_config, tiny_vae_config
from egoexo_models.diffusion.unet import VideoUNetConfig
from egoexo_models.diffusion.vae import FrameVAE, VAEConfig

FRAMES, SIZE, LATENT = 4, 16, 8  # tiny VAE folds 16x16 frames to 8x8 latents


@pytest.fixture(scope="module")
def model() -> VideoDiffusionModel:
    torch.manual_seed(0)
    return randomize_zero_layers(
        VideoDiffusionModel(tiny_diffusion_config(num_frames=FRAMES, size=SIZE))
    ).eval()


def unet_inputs(batch: int = 1, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "noisy_latents": torch.randn(batch, FRAMES, 4, LATENT, LATENT, generator=generator),
        "timesteps": torch.full((batch,), 500.0),
        "text_states": torch.randn(batch, 8, 32, generator=generator),
        "first_latent": torch.randn(batch, 4, LATENT, LATENT, generator=generator),
    }


def masks_of(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (1, FRAMES, SIZE, SIZE), generator=generator)
    return label_maps_to_channels(labels)


@torch.no_grad()
def test_unet_predicts_one_latent_per_frame(model):
    out = model.unet(**unet_inputs(batch=2))
    assert out.shape == (2, FRAMES, 4, LATENT, LATENT)
    assert torch.isfinite(out).all()


@torch.no_grad()
def test_first_frame_latent_changes_the_prediction(model):
    inputs = unet_inputs()
    other = {**inputs, "first_latent": inputs["first_latent"] + 1.0}
    assert not torch.allclose(model.unet(**inputs), model.unet(**other))


@torch.no_grad()
def test_instruction_states_change_the_prediction(model):
    inputs = unet_inputs()
    other = {**inputs, "text_states": torch.zeros_like(inputs["text_states"])}
    assert not torch.allclose(model.unet(**inputs), model.unet(**other))


@torch.no_grad()
def test_hoi_masks_change_the_prediction_through_psi(model):
    inputs = unet_inputs()
    a = model.unet(**inputs, mask_features=model.mask_encoder(masks_of(1)))
    b = model.unet(**inputs, mask_features=model.mask_encoder(masks_of(2)))
    assert not torch.allclose(a, b)


@torch.no_grad()
def test_zero_mask_features_are_exactly_no_masks(model):
    inputs = unet_inputs()
    zeros = zero_mask_features(model.config.unet, FRAMES, (LATENT, LATENT))
    torch.testing.assert_close(
        model.unet(**inputs, mask_features=zeros), model.unet(**inputs), rtol=0, atol=0
    )


@torch.no_grad()
def test_fresh_psi_leaves_the_phase1_unet_unchanged():
    torch.manual_seed(0)
    fresh = VideoDiffusionModel(tiny_diffusion_config(num_frames=FRAMES, size=SIZE)).eval()
    inputs = unet_inputs()
    with_masks = fresh.unet(**inputs, mask_features=fresh.mask_encoder(masks_of(3)))
    torch.testing.assert_close(with_masks, fresh.unet(**inputs), rtol=0, atol=0)


@torch.no_grad()
def test_psi_gives_one_feature_per_decoder_level_with_the_decoder_channels(model):
    features = model.mask_encoder(masks_of(0))
    assert [tuple(f.shape) for f in features] == [(FRAMES, 8, 8, 8), (FRAMES, 16, 4, 4)]


@torch.no_grad()
def test_temporal_attention_mixes_the_frames_of_a_video_but_not_other_videos():
    layer = randomize_zero_layers(TemporalAttention(8, head_dim=4, norm_groups=4)).eval()
    x = torch.randn(2 * 3, 8, 5, 5)  # two videos of three frames
    changed = x.clone()
    changed[1, :, 2, 2] += 1.0  # video 0, frame 1, pixel (2, 2)
    delta = (layer(changed, 3) - layer(x, 3)).abs().sum(dim=1)
    assert delta[0, 2, 2] > 0 and delta[2, 2, 2] > 0  # the other frames of video 0 react
    assert delta[3:].max() == 0  # video 1 does not


def test_phase2_trains_psi_and_the_decoder_projections_only(model):
    trained = {id(p) for p in model.mask_guidance_parameters()}
    names = [name for name, p in model.named_parameters() if id(p) in trained]
    assert all(n.startswith("mask_encoder.") or ".mask_proj." in n for n in names)
    assert any(".mask_proj." in n for n in names) and any(n.startswith("mask_encoder.") for n in names)


def test_unet_module_names_follow_diffusers_for_sd_initialisation(model):
    names = set(model.unet.state_dict())
    for key in (
        "conv_in.weight",
        "time_embedding.linear_1.weight",
        "down_blocks.0.resnets.0.conv1.weight",
        "down_blocks.0.downsamplers.0.conv.weight",
        "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
        "mid_block.attentions.0.proj_in.weight",
        "up_blocks.0.resnets.1.conv_shortcut.weight",
        "up_blocks.0.upsamplers.0.conv.weight",
        "conv_out.weight",
    ):
        assert key in names, key


@torch.no_grad()
@pytest.mark.parametrize(
    "config",
    [
        tiny_vae_config(),
        VAEConfig(
            architecture="autoencoder_kl",
            block_out_channels=(8, 16),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=4,
        ),
    ],
)
def test_both_vae_architectures_fold_frames_by_their_downscale_factor(config):
    vae = FrameVAE(config).eval()
    frames = torch.rand(3, 3, SIZE, SIZE) * 2 - 1
    latents = vae.encode(frames)
    assert config.downscale_factor == 2
    assert latents.shape == (3, 4, SIZE // 2, SIZE // 2)
    assert vae.decode(latents).shape == frames.shape


@torch.no_grad()
def test_a_fresh_patch_vae_is_a_linear_patch_autoencoder():
    vae = FrameVAE(tiny_vae_config()).eval()
    a, b = torch.rand(2, 3, SIZE, SIZE), torch.rand(2, 3, SIZE, SIZE)
    decode_encode = lambda x: vae.decode(vae.encode(x))  # noqa: E731
    base = decode_encode(torch.zeros_like(a))
    torch.testing.assert_close(
        decode_encode(a + b) - base,
        (decode_encode(a) - base) + (decode_encode(b) - base),
        atol=1e-5,
        rtol=1e-4,
    )


def test_label_maps_become_hand_and_object_channels():
    labels = torch.tensor([[0, 1], [2, 1]], dtype=torch.uint8)
    channels = label_maps_to_channels(labels)
    assert channels.shape == (2, 2, 2)
    assert channels[0].tolist() == [[0, 1], [0, 1]] and channels[1].tolist() == [[0, 0], [1, 0]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"block_channels": (8, 16), "spatial_attention": (True,)}, "same length"),
        ({"block_channels": (12,), "spatial_attention": (False,), "norm_num_groups": 8}, "divisible"),
    ],
)
def test_bad_unet_configs_are_rejected_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoUNetConfig(**kwargs)


def test_mask_encoder_channels_must_match_the_unet_decoder():
    config = tiny_diffusion_config()
    wrong = dataclasses.replace(config.mask_encoder, output_channels=(4, 4))
    with pytest.raises(ValueError, match="output_channels"):
        VideoDiffusionConfig(unet=config.unet, mask_encoder=wrong)


def test_vae_config_rejects_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match="norm_num_groups"):
        VAEConfig(architecture="autoencoder_kl", block_out_channels=(10, 20), norm_num_groups=4)
