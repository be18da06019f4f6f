"""Initialising the video UNet from a Stable Diffusion UNet: same per-frame output, temporal layers new."""

import pytest
import torch
from diffusers import UNet2DConditionModel

from egoexo_models.diffusion.sd_init import load_sd_spatial_weights
from egoexo_models.diffusion.unet import VideoUNet, VideoUNetConfig

CONFIG = VideoUNetConfig(
    latent_channels=4,
    block_channels=(8, 16),
    spatial_attention=(True, False),
    layers_per_block=2,
    attention_head_dim=8,
    cross_attention_dim=16,
    norm_num_groups=4,
    spatial_heads=(2, 2),
)


def tiny_sd_unet() -> UNet2DConditionModel:
    """A UNet2DConditionModel laid out like SD 1.x (cross-attention blocks, then a plain one), tiny."""
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=2,
        norm_num_groups=4,
        cross_attention_dim=16,
        attention_head_dim=2,  # diffusers' name for the number of heads
    ).eval()


@torch.no_grad()
def test_a_fresh_video_unet_from_sd_weights_gives_sds_output_for_every_frame(tmp_path):
    sd = tiny_sd_unet()
    sd.save_pretrained(tmp_path / "unet")
    unet = VideoUNet(CONFIG).eval()
    report = load_sd_spatial_weights(unet, tmp_path)
    assert report.loaded == len(sd.state_dict()) and not report.skipped
    assert report.new > 0  # the temporal layers

    frames, text = torch.randn(1, 3, 4, 8, 8), torch.randn(1, 5, 16)
    timestep = torch.tensor([321.0])
    video = unet(frames, timestep, text, first_latent=torch.randn(1, 4, 8, 8))
    for index in range(3):
        expected = sd(frames[:, index], timestep, encoder_hidden_states=text).sample
        torch.testing.assert_close(video[:, index], expected, atol=1e-5, rtol=1e-4)


def test_an_unrelated_state_dict_is_rejected_with_a_pointer_to_the_sd_configuration():
    with pytest.raises(ValueError, match="no Stable Diffusion UNet key fits"):
        load_sd_spatial_weights(VideoUNet(CONFIG), {"something.weight": torch.zeros(3)})


def test_a_missing_checkpoint_is_a_file_not_found_error_naming_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"diffusion_pytorch_model\.safetensors"):
        load_sd_spatial_weights(VideoUNet(CONFIG), tmp_path)
