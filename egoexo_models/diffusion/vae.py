"""Per-frame VAE of Φgen: diffusers' AutoencoderKL built from a small config.

The shipped sim VAE (egoexo_models/weights/vae/) and a user-given Stable Diffusion VAE (a diffusers
folder with config.json and diffusion_pytorch_model.safetensors) are built and loaded by the same
code: VAEConfig mirrors the AutoencoderKL constructor arguments that matter, and the state-dict keys
are diffusers' own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL
from torch import nn

VAE_KIND = "vae"
SD_VAE_WEIGHTS = "diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class VAEConfig:
    """AutoencoderKL architecture plus the latent scaling factor (1 / std of the latents on training data).

    The downscale factor is 2 ** (len(block_out_channels) - 1): the shipped (16, 32, 64, 64) and SD's
    (128, 256, 512, 512) both map 128x128 frames to 16x16 latents (8 channels here, 4 in SD).
    """

    block_out_channels: tuple[int, ...] = (16, 32, 64, 64)
    layers_per_block: int = 1
    latent_channels: int = 8
    norm_num_groups: int = 16
    scaling_factor: float = 1.0
    mid_block_add_attention: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_out_channels", tuple(self.block_out_channels))
        if not self.block_out_channels or any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(
                f"VAEConfig: block_out_channels {self.block_out_channels} must be non-empty and divisible "
                f"by norm_num_groups {self.norm_num_groups}"
            )
        if not self.scaling_factor > 0:
            raise ValueError(f"VAEConfig: scaling_factor must be positive, got {self.scaling_factor}")

    @property
    def downscale_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)


def build_autoencoder(config: VAEConfig) -> AutoencoderKL:
    """A randomly initialised AutoencoderKL with `config`'s architecture."""
    levels = len(config.block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        latent_channels=config.latent_channels,
        norm_num_groups=config.norm_num_groups,
        scaling_factor=config.scaling_factor,
        mid_block_add_attention=config.mid_block_add_attention,
    )


class FrameVAE(nn.Module):
    """E and D of the paper: frames in [-1, 1] (N, 3, H, W) <-> scaled latents (N, C, H/f, W/f)."""

    def __init__(self, config: VAEConfig, autoencoder: AutoencoderKL | None = None) -> None:
        super().__init__()
        self.config = config
        self.autoencoder = autoencoder if autoencoder is not None else build_autoencoder(config)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Posterior mean of each frame, times the scaling factor (deterministic, as conditioning needs)."""
        posterior = self.autoencoder.encode(frames, return_dict=False)[0]
        return posterior.mean * self.config.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> frames in about [-1, 1] (not clamped)."""
        return self.autoencoder.decode(latents / self.config.scaling_factor, return_dict=False)[0]


def frames_to_unit_range(frames_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    return frames_uint8.movedim(-1, -3).float() / 127.5 - 1.0


def unit_range_to_frames(images: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3), rounded and clamped."""
    return ((images.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).movedim(-3, -1)


def is_diffusers_vae_dir(directory: Path) -> bool:
    """True for a diffusers AutoencoderKL folder (an SD checkpoint's vae/ subfolder)."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        return False
    try:
        return json.loads(config_path.read_text()).get("_class_name") == "AutoencoderKL"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def load_vae(directory: str | Path | None = None) -> FrameVAE:
    """Load the shipped sim VAE (None), egoexo VAE weights, or a Stable Diffusion VAE folder.

    An SD checkpoint root is accepted too: its vae/ subfolder is used.
    """
    from egoexo_models.weights import load_state_strict, load_weights, shipped_weights_dir

    directory = shipped_weights_dir("vae") if directory is None else Path(directory)
    if (directory / "vae").is_dir() and not (directory / "config.json").is_file():
        directory = directory / "vae"
    if is_diffusers_vae_dir(directory):
        return _load_diffusers_vae(directory)
    config, state = load_weights(directory, kind=VAE_KIND, config_cls=VAEConfig)
    vae = FrameVAE(config)
    load_state_strict(vae.autoencoder, state, source=str(directory))
    return vae.eval()


def _load_diffusers_vae(directory: Path) -> FrameVAE:
    from safetensors.torch import load_file

    from egoexo_models.weights import load_state_strict

    raw = json.loads((directory / "config.json").read_text())
    if raw.get("shift_factor") is not None or raw.get("latents_mean") is not None:
        raise ValueError(
            f"{directory}: VAEs with shift_factor/latents_mean (SD3, FLUX) are not supported; "
            "give a Stable Diffusion 1.x/2.x AutoencoderKL folder"
        )
    config = VAEConfig(
        block_out_channels=tuple(raw["block_out_channels"]),
        layers_per_block=raw.get("layers_per_block", 1),
        latent_channels=raw.get("latent_channels", 4),
        norm_num_groups=raw.get("norm_num_groups", 32),
        scaling_factor=raw.get("scaling_factor", 0.18215),
        mid_block_add_attention=raw.get("mid_block_add_attention", True),
    )
    weights = directory / SD_VAE_WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(
            f"{weights}: missing; a Stable Diffusion VAE folder needs its weights as safetensors "
            "(convert a .bin/.ckpt with diffusers first)"
        )
    vae = FrameVAE(config)
    load_state_strict(vae.autoencoder, load_file(weights), source=str(weights))
    return vae.eval()
