"""The denoising video UNet εθ of Φgen (paper §2.3, Fig. 2).

Frames are processed as a batch of images by the spatial layers and mixed across time by
temporal attention. Each down/up block stacks, per layer, a ResNet block, (where configured)
spatial self-attention + text cross-attention (diffusers' Transformer2DModel), and temporal
attention. The module names of the spatial layers follow diffusers' UNet2DConditionModel
(conv_in, time_embedding, down_blocks.i.resnets.j, down_blocks.i.attentions.j,
down_blocks.i.downsamplers.0, mid_block, up_blocks..., conv_norm_out, conv_out), so a Stable
Diffusion UNet's spatial weights load by name (see sd_init.py); the temporal layers are new.

First-frame conditioning: the UNet input is the channel concatenation of (1) the noisy latents,
(2) the clean latent of frame 1 with later frames zeroed and (3) the visibility mask [1,0,...,0].
HOI mask guidance: the multi-scale features of ψmask are added element-wise to the hidden states
of each decoder block and, through a linear projection, into its temporal attention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers.models.downsampling import Downsample2D
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from diffusers.models.upsampling import Upsample2D
from torch import nn

from egoexo_models.diffusion.temporal import TemporalAttention


@dataclass(frozen=True)
class VideoUNetConfig:
    """Architecture of the video UNet. The defaults are the shipped sim model (CPU-sized).

    block_channels: channels per resolution level (level 0 at the latent resolution).
    spatial_attention: per level, whether its layers have spatial self- and text cross-attention
        (only at low resolutions, where it pays on a CPU); the mid block always has it, as SD's.
        Temporal attention is at every level.
    layers_per_block: ResNet (+ attention) layers per down block; up blocks have one more.
    attention_head_dim: channels per head of the temporal attention, and of the spatial attention
        unless spatial_heads is given.
    spatial_heads: heads of the spatial attention per level (SD 1.x uses 8 at every level), or None
        for block_channels / attention_head_dim.
    cross_attention_dim: width of the text encoder's token states.
    use_linear_projection: Transformer2DModel projections as Linear (SD 2.x) rather than 1x1 Conv (SD 1.x).
    """

    latent_channels: int = 8
    block_channels: tuple[int, ...] = (32, 64, 128)
    spatial_attention: tuple[bool, ...] = (False, True, True)
    layers_per_block: int = 1
    attention_head_dim: int = 32
    cross_attention_dim: int = 384
    norm_num_groups: int = 8
    use_linear_projection: bool = False
    spatial_heads: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_channels", tuple(self.block_channels))
        object.__setattr__(self, "spatial_attention", tuple(self.spatial_attention))
        if self.spatial_heads is not None:
            object.__setattr__(self, "spatial_heads", tuple(self.spatial_heads))
            if len(self.spatial_heads) != len(self.block_channels) or any(
                c % h for c, h in zip(self.block_channels, self.spatial_heads, strict=True)
            ):
                raise ValueError(
                    f"VideoUNetConfig: spatial_heads {self.spatial_heads} needs one head count per level "
                    f"dividing that level's channels {self.block_channels}"
                )
        if len(self.block_channels) != len(self.spatial_attention) or not self.block_channels:
            raise ValueError(
                f"VideoUNetConfig: block_channels {self.block_channels} and spatial_attention "
                f"{self.spatial_attention} must be non-empty and of the same length (one entry per level)"
            )
        for channels in self.block_channels:
            if channels % self.norm_num_groups or channels % self.attention_head_dim:
                raise ValueError(
                    f"VideoUNetConfig: block channel count {channels} must be divisible by norm_num_groups "
                    f"{self.norm_num_groups} and attention_head_dim {self.attention_head_dim}"
                )
        if self.layers_per_block < 1 or self.latent_channels < 1:
            raise ValueError("VideoUNetConfig: layers_per_block and latent_channels must be at least 1")

    @property
    def num_levels(self) -> int:
        return len(self.block_channels)

    def heads_at(self, level: int) -> int:
        """Spatial attention heads at `level`."""
        if self.spatial_heads is not None:
            return self.spatial_heads[level]
        return self.block_channels[level] // self.attention_head_dim

    @property
    def time_embed_dim(self) -> int:
        return 4 * self.block_channels[0]

    @property
    def decoder_mask_channels(self) -> tuple[int, ...]:
        """Channels of the ψmask feature each level's decoder block takes (level 0 first)."""
        return self.block_channels


class _VideoLayer(nn.Module):
    """Helpers shared by the blocks: run layer j of a block on (B*F, C, H, W) hidden states."""

    resnets: nn.ModuleList
    attentions: nn.ModuleList | None
    temporal: nn.ModuleList

    def run_layer(
        self,
        index: int,
        hidden: torch.Tensor,
        temb: torch.Tensor,
        text: torch.Tensor,
        num_frames: int,
        mask_feature: torch.Tensor | None = None,
    ) -> torch.Tensor:
        hidden = self.resnets[index](hidden, temb)
        if self.attentions is not None:
            hidden = self.attentions[index](hidden, encoder_hidden_states=text, return_dict=False)[0]
        if mask_feature is not None:
            hidden = hidden + mask_feature
        return self.temporal[index](hidden, num_frames, mask_feature)


def _spatial_transformer(level: int, config: VideoUNetConfig) -> Transformer2DModel:
    channels = config.block_channels[level]
    heads = config.heads_at(level)
    return Transformer2DModel(
        num_attention_heads=heads,
        attention_head_dim=channels // heads,
        in_channels=channels,
        cross_attention_dim=config.cross_attention_dim,
        norm_num_groups=config.norm_num_groups,
        use_linear_projection=config.use_linear_projection,
    )


def _resnet(in_channels: int, out_channels: int, config: VideoUNetConfig) -> ResnetBlock2D:
    return ResnetBlock2D(
        in_channels=in_channels,
        out_channels=out_channels,
        temb_channels=config.time_embed_dim,
        groups=config.norm_num_groups,
        eps=1e-5,
    )


def _temporal(channels: int, config: VideoUNetConfig, *, mask_conditioned: bool) -> TemporalAttention:
    return TemporalAttention(
        channels,
        head_dim=config.attention_head_dim,
        norm_groups=config.norm_num_groups,
        mask_conditioned=mask_conditioned,
    )


class DownBlock(_VideoLayer):
    def __init__(self, level: int, in_channels: int, downsample: bool, config: VideoUNetConfig):
        super().__init__()
        out_channels = config.block_channels[level]
        count = config.layers_per_block
        self.resnets = nn.ModuleList(
            _resnet(in_channels if j == 0 else out_channels, out_channels, config) for j in range(count)
        )
        self.attentions = (
            nn.ModuleList(_spatial_transformer(level, config) for _ in range(count))
            if config.spatial_attention[level]
            else None
        )
        self.temporal = nn.ModuleList(
            _temporal(out_channels, config, mask_conditioned=False) for _ in range(count)
        )
        self.downsamplers = (
            nn.ModuleList(
                [Downsample2D(out_channels, use_conv=True, out_channels=out_channels, padding=1, name="op")]
            )
            if downsample
            else None
        )

    def forward(
        self, hidden: torch.Tensor, temb: torch.Tensor, text: torch.Tensor, num_frames: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for index in range(len(self.resnets)):
            hidden = self.run_layer(index, hidden, temb, text, num_frames)
            skips.append(hidden)
        if self.downsamplers is not None:
            hidden = self.downsamplers[0](hidden)
            skips.append(hidden)
        return hidden, skips


class MidBlock(_VideoLayer):
    """ResNet, spatial + cross attention (always, as in SD), temporal attention, ResNet."""

    def __init__(self, config: VideoUNetConfig):
        super().__init__()
        level = config.num_levels - 1
        channels = config.block_channels[level]
        self.resnets = nn.ModuleList(
            [_resnet(channels, channels, config), _resnet(channels, channels, config)]
        )
        self.attentions = nn.ModuleList([_spatial_transformer(level, config)])
        self.temporal = nn.ModuleList([_temporal(channels, config, mask_conditioned=False)])

    def forward(
        self, hidden: torch.Tensor, temb: torch.Tensor, text: torch.Tensor, num_frames: int
    ) -> torch.Tensor:
        hidden = self.run_layer(0, hidden, temb, text, num_frames)
        return self.resnets[1](hidden, temb)


class UpBlock(_VideoLayer):
    def __init__(
        self,
        level: int,
        prev_channels: int,
        skip_channels: list[int],
        upsample: bool,
        config: VideoUNetConfig,
    ):
        super().__init__()
        out_channels = config.block_channels[level]
        self.resnets = nn.ModuleList(
            _resnet((prev_channels if j == 0 else out_channels) + skip, out_channels, config)
            for j, skip in enumerate(skip_channels)
        )
        count = len(skip_channels)
        self.attentions = (
            nn.ModuleList(_spatial_transformer(level, config) for _ in range(count))
            if config.spatial_attention[level]
            else None
        )
        self.temporal = nn.ModuleList(
            _temporal(out_channels, config, mask_conditioned=True) for _ in range(count)
        )
        self.upsamplers = (
            nn.ModuleList([Upsample2D(out_channels, use_conv=True, out_channels=out_channels)])
            if upsample
            else None
        )

    def forward(
        self,
        hidden: torch.Tensor,
        skips: list[torch.Tensor],
        temb: torch.Tensor,
        text: torch.Tensor,
        num_frames: int,
        mask_feature: torch.Tensor | None,
    ) -> torch.Tensor:
        for index in range(len(self.resnets)):
            hidden = torch.cat([hidden, skips.pop()], dim=1)
            hidden = self.run_layer(index, hidden, temb, text, num_frames, mask_feature)
        if self.upsamplers is not None:
            hidden = self.upsamplers[0](hidden)
        return hidden


class VideoUNet(nn.Module):
    """εθ: predicts the diffusion target (noise or velocity) for every frame of a latent video."""

    def __init__(self, config: VideoUNetConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.block_channels
        levels = config.num_levels
        self.conv_in = nn.Conv2d(2 * config.latent_channels + 1, channels[0], kernel_size=3, padding=1)
        self.time_proj = Timesteps(channels[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(channels[0], config.time_embed_dim)

        self.down_blocks = nn.ModuleList()
        skip_channels = [channels[0]]
        for level in range(levels):
            last = level == levels - 1
            in_channels = channels[max(level - 1, 0)]
            self.down_blocks.append(DownBlock(level, in_channels, not last, config))
            skip_channels += [channels[level]] * (config.layers_per_block + (0 if last else 1))

        self.mid_block = MidBlock(config)

        self.up_blocks = nn.ModuleList()
        prev = channels[-1]
        for level in reversed(range(levels)):
            block_skips = [skip_channels.pop() for _ in range(config.layers_per_block + 1)]
            upsample = level > 0
            self.up_blocks.append(UpBlock(level, prev, block_skips, upsample, config))
            prev = channels[level]

        self.conv_norm_out = nn.GroupNorm(config.norm_num_groups, channels[0], eps=1e-5)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(channels[0], config.latent_channels, kernel_size=3, padding=1)

    def forward(
        self,
        noisy_latents: torch.Tensor,
        timesteps: torch.Tensor,
        text_states: torch.Tensor,
        first_latent: torch.Tensor,
        mask_features: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Predict the diffusion target.

        Args:
            noisy_latents: (B, F, C, h, w) noisy latent video z_t (all F frames, frame 0 included).
            timesteps: (B,) diffusion timesteps t.
            text_states: (B, L, D) token states of the instruction (zeros or the empty text for CFG's null).
            first_latent: (B, C, h, w) clean latent of the first frame, E(g_1).
            mask_features: ψmask features per level, level 0 first, each (B*F, C_level, h_level, w_level),
                or None for no HOI guidance (identical to all-zero features).

        Returns:
            (B, F, C, h, w) the predicted target (noise or velocity, per the noise schedule).
        """
        batch, num_frames, _, height, width = noisy_latents.shape
        condition = torch.zeros_like(noisy_latents)
        condition[:, 0] = first_latent
        visibility = torch.zeros(
            batch, num_frames, 1, height, width, dtype=noisy_latents.dtype, device=noisy_latents.device
        )
        visibility[:, 0] = 1.0
        hidden = torch.cat([noisy_latents, condition, visibility], dim=2).flatten(0, 1)

        temb = self.time_embedding(self.time_proj(timesteps.flatten()).to(hidden.dtype))
        temb = temb.repeat_interleave(num_frames, dim=0)
        text = text_states.repeat_interleave(num_frames, dim=0)

        hidden = self.conv_in(hidden)
        skips = [hidden]
        for block in self.down_blocks:
            hidden, block_skips = block(hidden, temb, text, num_frames)
            skips += block_skips
        hidden = self.mid_block(hidden, temb, text, num_frames)
        levels = self.config.num_levels
        for index, block in enumerate(self.up_blocks):
            level = levels - 1 - index
            feature = mask_features[level] if mask_features is not None else None
            hidden = block(hidden, skips, temb, text, num_frames, feature)
        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        return hidden.unflatten(0, (batch, num_frames))
