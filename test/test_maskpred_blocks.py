"""Building blocks: the torchvision-free ResNet (and its ImageNet loader) and CBAM."""

import pytest
import torch
from safetensors.torch import save_file

from egoexo_models.nn import CBAM, ResNetEncoder, load_imagenet_resnet


def test_the_encoder_returns_features_at_strides_4_8_16():
    encoder = ResNetEncoder(3, 8, (8, 16, 32), (1, 2, 1))
    shapes = [tuple(f.shape) for f in encoder(torch.zeros(2, 3, 64, 96))]
    assert shapes == [(2, 8, 16, 24), (2, 16, 8, 12), (2, 32, 4, 6)]


def test_imagenet_weights_load_by_torchvision_names_and_extra_stages_are_ignored(tmp_path):
    torch.manual_seed(0)
    imagenet = ResNetEncoder(3, 8, (8, 16, 32, 64), (1, 1, 1, 1), stem_kernel=7)  # a 4-stage "ResNet"
    state = dict(imagenet.state_dict(), **{"fc.weight": torch.zeros(10, 64), "fc.bias": torch.zeros(10)})
    save_file(state, str(tmp_path / "resnet.safetensors"))
    torch.save(state, tmp_path / "resnet.pth")
    for name in ("resnet.safetensors", "resnet.pth"):
        encoder = ResNetEncoder(3, 8, (8, 16, 32), (1, 1, 1), stem_kernel=7)  # last stage removed
        loaded = load_imagenet_resnet(encoder, tmp_path / name)
        assert "layer4.0.conv1.weight" not in loaded and "layer3.0.conv1.weight" in loaded
        torch.testing.assert_close(encoder.layer3[0].conv1.weight, imagenet.layer3[0].conv1.weight)


def test_a_mask_encoder_gets_the_rgb_stem_and_zeros_for_its_extra_channels(tmp_path):
    rgb = ResNetEncoder(3, 8, (8, 16, 32), (1, 1, 1))
    torch.save(rgb.state_dict(), tmp_path / "resnet.pth")
    mask_encoder = ResNetEncoder(5, 8, (8, 16, 32), (1, 1, 1))
    load_imagenet_resnet(mask_encoder, tmp_path / "resnet.pth")
    torch.testing.assert_close(mask_encoder.conv1.weight[:, :3], rgb.conv1.weight)
    assert mask_encoder.conv1.weight[:, 3:].abs().sum() == 0


def test_imagenet_weights_of_other_widths_or_files_are_named_errors(tmp_path):
    torch.save(ResNetEncoder(3, 16, (16, 32, 64), (1, 1, 1)).state_dict(), tmp_path / "wide.pth")
    with pytest.raises(
        ValueError, match=r"conv1.weight has shape \(16, 3, 7, 7\), the encoder expects \(8, 3, 7, 7\)"
    ):
        load_imagenet_resnet(ResNetEncoder(3, 8, (8, 16, 32), (1, 1, 1)), tmp_path / "wide.pth")
    with pytest.raises(FileNotFoundError, match="ImageNet ResNet weights not found"):
        load_imagenet_resnet(ResNetEncoder(3, 8, (8,), (1,)), tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read ImageNet ResNet weights"):
        load_imagenet_resnet(ResNetEncoder(3, 8, (8,), (1,)), tmp_path / "junk.pth")


def test_cbam_fuses_two_features_into_the_requested_width():
    fused = CBAM(8, 4, 6)(torch.rand(2, 8, 5, 5), torch.rand(2, 4, 5, 5))
    assert fused.shape == (2, 6, 5, 5)


def test_an_even_stem_kernel_is_refused():
    with pytest.raises(ValueError, match="stem_kernel must be an odd positive int"):
        ResNetEncoder(3, 8, (8,), (1,), stem_kernel=4)
