"""Per-frame VAE of Φgen: ℰ and 𝒟 behind one interface, FrameVAE.

Two architectures under one VAEConfig: "patch", the small sim VAE that is shipped
(egoexo_models/weights/vae/), and "autoencoder_kl", diffusers' AutoencoderKL, in which a user-given
Stable Diffusion VAE (a diffusers folder with config.json and diffusion_pytorch_model.safetensors)
loads with its own state-dict keys. Both give a diagonal Gaussian posterior; FrameVAE encodes to its
mean times the scaling factor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from torch import nn

VAE_KIND = "vae"
SD_VAE_WEIGHTS = "diffusion_pytorch_model.safetensors"


VAE_ARCHITECTURES = ("patch", "autoencoder_kl")


@dataclass(frozen=True)
class VAEConfig:
    """The VAE's architecture plus the latent scaling factor (1 / std of the latents on training data).

    architecture "patch" (the shipped sim VAE, PatchAutoencoder): a linear patch embedding of
        patch_size x patch_size pixels to `width` channels, `res_blocks` residual blocks, a 1x1 conv
        to the posterior; mirrored in the decoder, plus one residual block at full resolution. The
        residual branches start at zero, so training starts from a linear patch autoencoder, which
        on sim frames reached 23 dB PSNR in 400 steps where a small AutoencoderKL needed thousands
        and greyed the colours (docs/video_diffusion.md).
    architecture "autoencoder_kl" (Stable Diffusion's VAE): diffusers' AutoencoderKL from
        block_out_channels, layers_per_block, norm_num_groups and mid_block_add_attention; its
        downscale factor is 2 ** (len(block_out_channels) - 1) (8 for SD's (128, 256, 512, 512)).
    """

    architecture: str = "patch"
    latent_channels: int = 8
    scaling_factor: float = 1.0
    patch_size: int = 8
    width: int = 64
    res_blocks: int = 2
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    mid_block_add_attention: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_out_channels", tuple(self.block_out_channels))
        if self.architecture not in VAE_ARCHITECTURES:
            raise ValueError(
                f"VAEConfig: architecture must be one of {VAE_ARCHITECTURES}, got {self.architecture!r}"
            )
        if self.architecture == "autoencoder_kl" and (
            not self.block_out_channels or any(c % self.norm_num_groups for c in self.block_out_channels)
        ):
            raise ValueError(
                f"VAEConfig: block_out_channels {self.block_out_channels} must be non-empty and divisible "
                f"by norm_num_groups {self.norm_num_groups}"
            )
        if self.patch_size < 1 or self.width < 1 or self.res_blocks < 0 or self.latent_channels < 1:
            raise ValueError(
                f"VAEConfig: need patch_size, width, latent_channels >= 1 and res_blocks >= 0, got "
                f"{self.patch_size}, {self.width}, {self.latent_channels}, {self.res_blocks}"
            )
        if not self.scaling_factor > 0:
            raise ValueError(f"VAEConfig: scaling_factor must be positive, got {self.scaling_factor}")

    @property
    def downscale_factor(self) -> int:
        if self.architecture == "patch":
            return self.patch_size
        return 2 ** (len(self.block_out_channels) - 1)


class ResidualBlock(nn.Module):
    """x + conv(silu(conv(silu(x)))), the second conv zero-initialised (the block starts as identity)."""

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or channels
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class PatchAutoencoder(nn.Module):
    """The shipped sim VAE (see VAEConfig). encode/decode follow AutoencoderKL's (return_dict=False)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        width, size = config.width, config.patch_size
        self.patchify = nn.Conv2d(3, width, size, stride=size)
        self.encoder_blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(config.res_blocks)))
        self.to_moments = nn.Conv2d(width, 2 * config.latent_channels, 1)
        self.from_latents = nn.Conv2d(config.latent_channels, width, 1)
        self.decoder_blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(config.res_blocks)))
        self.unpatchify = nn.ConvTranspose2d(width, 3, size, stride=size)
        self.refine = ResidualBlock(3, hidden=16)

    def encode(self, images: torch.Tensor, return_dict: bool = False) -> tuple[DiagonalGaussianDistribution]:
        return (DiagonalGaussianDistribution(self.to_moments(self.encoder_blocks(self.patchify(images)))),)

    def decode(self, latents: torch.Tensor, return_dict: bool = False) -> tuple[torch.Tensor]:
        return (self.refine(self.unpatchify(self.decoder_blocks(self.from_latents(latents)))),)


def build_autoencoder(config: VAEConfig) -> nn.Module:
    """A randomly initialised autoencoder with `config`'s architecture."""
    if config.architecture == "patch":
        return PatchAutoencoder(config)
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

    def __init__(self, config: VAEConfig, autoencoder: nn.Module | None = None) -> None:
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
        architecture="autoencoder_kl",
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
