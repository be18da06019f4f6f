"""Φgen's inference graphs: one nn.Module per exported graph, with explicit tensor arguments.

Each graph has `input_names`, `output_names` and `example_inputs()` (the egoexo_models.runtime
contract) and static shapes, so the same module runs in torch eager and exports to ONNX for ONNX
Runtime and TensorRT. All inputs are float32 (token ids included; the text graph casts them).

    text_encoder  input_ids, attention_mask (1, L)              -> text_states (1, L, D)
    vae_encoder   frames (1, 3, H, W) in [-1, 1]                 -> latents (1, C, h, w)
    vae_decoder   latents (F-1, C, h, w)                         -> frames (F-1, 3, H, W)
    mask_encoder  masks (1, F, 2, H, W) binary hand/object       -> mask_feature_0..K-1 (F, C_k, h/2^k, w/2^k)
    unet          noisy_latents (1, F, C, h, w), timesteps (1,), text_states (1, L, D),
                  first_latent (1, C, h, w), mask_feature_0..K-1 -> prediction (1, F, C, h, w)
"""

from __future__ import annotations

import torch
from torch import nn

from egoexo_models.diffusion.mask_encoder import MASK_CHANNELS, MaskEncoder
from egoexo_models.diffusion.model import VideoDiffusionConfig
from egoexo_models.diffusion.text_encoder import TextEncoder
from egoexo_models.diffusion.unet import VideoUNet
from egoexo_models.diffusion.vae import FrameVAE

GRAPH_NAMES = ("text_encoder", "vae_encoder", "vae_decoder", "mask_encoder", "unet")


def mask_feature_names(num_levels: int) -> tuple[str, ...]:
    return tuple(f"mask_feature_{level}" for level in range(num_levels))


class TextEncoderGraph(nn.Module):
    input_names = ("input_ids", "attention_mask")
    output_names = ("text_states",)

    def __init__(self, encoder: TextEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.encoder(input_ids.long(), attention_mask.long()),)

    def example_inputs(self) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = self.encoder.tokenize(["pick up the red cup with the right hand"])
        return {"input_ids": input_ids.float(), "attention_mask": attention_mask.float()}


class VAEEncoderGraph(nn.Module):
    input_names = ("frames",)
    output_names = ("latents",)

    def __init__(self, vae: FrameVAE, config: VideoDiffusionConfig) -> None:
        super().__init__()
        self.vae = vae
        self.size = (config.height, config.width)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.vae.encode(frames),)

    def example_inputs(self) -> dict[str, torch.Tensor]:
        return {"frames": torch.rand(1, 3, *self.size) * 2 - 1}


class VAEDecoderGraph(nn.Module):
    input_names = ("latents",)
    output_names = ("frames",)

    def __init__(self, vae: FrameVAE, config: VideoDiffusionConfig) -> None:
        super().__init__()
        self.vae = vae
        factor = vae.config.downscale_factor
        self.latent_shape = (
            config.num_frames - 1,
            vae.config.latent_channels,
            config.height // factor,
            config.width // factor,
        )

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.vae.decode(latents),)

    def example_inputs(self) -> dict[str, torch.Tensor]:
        return {"latents": torch.randn(self.latent_shape)}


class MaskEncoderGraph(nn.Module):
    input_names = ("masks",)

    def __init__(self, mask_encoder: MaskEncoder, config: VideoDiffusionConfig) -> None:
        super().__init__()
        self.mask_encoder = mask_encoder
        self.output_names = mask_feature_names(len(mask_encoder.levels))
        self.shape = (1, config.num_frames, MASK_CHANNELS, config.height, config.width)

    def forward(self, masks: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.mask_encoder(masks)

    def example_inputs(self) -> dict[str, torch.Tensor]:
        return {"masks": (torch.rand(self.shape) > 0.8).float()}


class UNetGraph(nn.Module):
    def __init__(
        self,
        unet: VideoUNet,
        config: VideoDiffusionConfig,
        *,
        latent_size: tuple[int, int],
        text_shape: tuple[int, int],
    ) -> None:
        super().__init__()
        self.unet = unet
        self.num_frames = config.num_frames
        self.latent_size = latent_size
        self.text_shape = text_shape
        self.feature_names = mask_feature_names(unet.config.num_levels)
        self.input_names = ("noisy_latents", "timesteps", "text_states", "first_latent", *self.feature_names)
        self.output_names = ("prediction",)

    def forward(
        self,
        noisy_latents: torch.Tensor,
        timesteps: torch.Tensor,
        text_states: torch.Tensor,
        first_latent: torch.Tensor,
        *mask_features: torch.Tensor,
    ) -> tuple[torch.Tensor]:
        return (self.unet(noisy_latents, timesteps, text_states, first_latent, mask_features),)

    def example_inputs(self) -> dict[str, torch.Tensor]:
        channels = self.unet.config.latent_channels
        height, width = self.latent_size
        inputs = {
            "noisy_latents": torch.randn(1, self.num_frames, channels, height, width),
            "timesteps": torch.tensor([500.0]),
            "text_states": torch.randn(1, *self.text_shape),
            "first_latent": torch.randn(1, channels, height, width),
        }
        for level, (name, level_channels) in enumerate(
            zip(self.feature_names, self.unet.config.block_channels, strict=True)
        ):
            inputs[name] = (
                torch.randn(self.num_frames, level_channels, height // 2**level, width // 2**level) * 0.1
            )
        return inputs
