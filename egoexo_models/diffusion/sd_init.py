"""Initialise the video UNet's spatial layers from a Stable Diffusion UNet (as SEINE and AnimateDiff do).

Key mapping: the video UNet names its spatial layers as diffusers' UNet2DConditionModel does, so
every SD key maps to the same key here when the architectures agree:

    SD UNet2DConditionModel key                  video UNet key
    conv_in.weight (C0, 4, 3, 3)                 conv_in.weight (C0, 2*4+1, 3, 3): SD's kernel on the
                                                 noisy-latent channels, zeros on the first-frame and
                                                 visibility channels
    time_embedding.*, conv_norm_out.*, conv_out.*          same
    down_blocks.i.{resnets,attentions,downsamplers}.*      same
    mid_block.{resnets,attentions}.*                       same
    up_blocks.i.{resnets,attentions,upsamplers}.*          same
    (none)                                       *.temporal.* (new, zero output: start as identity)
    (none)                                       up_blocks.*.temporal.*.mask_proj (new, zero)

SD 1.5's UNet is VideoUNetConfig(block_channels=(320, 640, 1280, 1280), spatial_attention=(True,
True, True, False), layers_per_block=2, norm_num_groups=32, cross_attention_dim=768,
spatial_heads=(8, 8, 8, 8), attention_head_dim=64) with its VAE and a CLIP ViT-L/14 text encoder;
with that configuration and fresh temporal layers the video UNet reproduces SD's per-frame output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from egoexo_models.diffusion.unet import VideoUNet

SD_UNET_WEIGHTS = "diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class SDInitReport:
    """What the initialisation did: counts of loaded, newly initialised and skipped keys."""

    loaded: int
    new: int
    skipped: tuple[str, ...]

    def __str__(self) -> str:
        skipped = (
            f", skipped {len(self.skipped)} SD keys (e.g. {list(self.skipped[:3])})" if self.skipped else ""
        )
        return f"loaded {self.loaded} SD tensors, {self.new} new (temporal) tensors left at init{skipped}"


def read_sd_unet_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of an SD UNet: a diffusers unet/ folder, an SD root holding unet/, or the safetensors file."""
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir() and (path / "unet").is_dir():
        path = path / "unet"
    if path.is_dir():
        path = path / SD_UNET_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no Stable Diffusion UNet weights here; give a diffusers SD folder (with unet/"
            f"{SD_UNET_WEIGHTS}), its unet/ folder, or the safetensors file"
        )
    return load_file(path)


@torch.no_grad()
def load_sd_spatial_weights(unet: VideoUNet, sd_unet: str | Path | dict[str, torch.Tensor]) -> SDInitReport:
    """Copy SD's spatial weights into `unet` by name (conv_in inflated); temporal layers stay new.

    Raises ValueError when no SD key fits (an architecture that does not match SD's; see the module
    docstring for SD 1.5's configuration).
    """
    sd_state = sd_unet if isinstance(sd_unet, dict) else read_sd_unet_state(sd_unet)
    own = unet.state_dict()
    loaded, skipped = set(), []
    for key, value in sd_state.items():
        if key == "conv_in.weight" and key in own and own[key].shape[0] == value.shape[0]:
            inflated = torch.zeros_like(own[key])
            inflated[:, : value.shape[1]] = value
            own[key].copy_(inflated)
            loaded.add(key)
        elif key in own and own[key].shape == value.shape:
            own[key].copy_(value)
            loaded.add(key)
        else:
            skipped.append(key)
    if not loaded:
        raise ValueError(
            "no Stable Diffusion UNet key fits this video UNet; configure it like the SD UNet "
            "(see egoexo_models/diffusion/sd_init.py for SD 1.5's settings)"
        )
    new = sum(1 for key in own if key not in loaded)
    return SDInitReport(loaded=len(loaded), new=new, skipped=tuple(sorted(skipped)))
