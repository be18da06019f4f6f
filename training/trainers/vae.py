"""Train Φgen's per-frame VAE (diffusers AutoencoderKL from a small config) on sim ego frames.

    python training/train.py --config config/train/vae.yaml [key=value ...]

Loss: L1 reconstruction, weighted up inside the hand/object masks (the regions the video model is
judged on), plus a small KL term. At the end the latent scaling factor is set to 1 / std of the
training latents and the weights are saved to RUN_DIR/final/ (and to `export_to`, if given).
Resumes from RUN_DIR/checkpoints/ after a kill.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from egoexo_models.diffusion.vae import VAE_KIND, FrameVAE, VAEConfig
from egoexo_models.weights import save_weights
from training.common.checkpoint import CheckpointManager
from training.common.config import config_from_dict, save_config
from training.common.distributed import (
    all_reduce_mean,
    cleanup_distributed,
    init_distributed,
    seed_everything,
    wrap_ddp,
)
from training.common.logging import TrainLogger


@dataclass(frozen=True)
class VAETrainConfig:
    """The `vae` stage. batch = batch_clips x frames_per_clip frames per step and process.

    crop_size: the VAE is fully convolutional, so it trains on random square crops (4x cheaper at
        64 of 128 pixels) and runs on whole frames.
    """

    data_root: str
    run_dir: str
    stage: str = "vae"
    model: VAEConfig = field(default_factory=VAEConfig)
    steps: int = 3000
    batch_clips: int = 4
    frames_per_clip: int = 4
    crop_size: int = 64
    lr: float = 2e-4
    kl_weight: float = 1e-6
    hoi_weight: float = 4.0
    checkpoint_every: int = 250
    log_every: int = 10
    num_workers: int = 1
    threads: int | None = 1  # torch CPU threads (None: its default); see docs/video_diffusion.md
    seed: int = 0
    device: str = "auto"
    export_to: str | None = None


def frame_batches(config: VAETrainConfig, rank: int, world_size: int):
    """Endless (frames (B,3,H,W) in [-1,1], hoi masks (B,1,H,W)) batches of random frames of random clips."""
    from training.data import ClipDataset

    dataset = ClipDataset(config.data_root, views=("ego",), masks=True)
    generator = torch.Generator().manual_seed(config.seed * 1000 + rank)
    sampler = torch.utils.data.RandomSampler(
        dataset, replacement=True, num_samples=1 << 30, generator=generator
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_clips,
        sampler=sampler,
        num_workers=config.num_workers,
        drop_last=True,
    )
    for batch in loader:
        ego, masks = batch["ego"], batch["ego_masks"]
        clips, frames = ego.shape[:2]
        pick = torch.stack(
            [torch.randperm(frames, generator=generator)[: config.frames_per_clip] for _ in range(clips)]
        )
        rows = torch.arange(clips)[:, None]
        images = ego[rows, pick].flatten(0, 1) * 2 - 1
        hoi = (masks[rows, pick].flatten(0, 1) > 0).float()[:, None]
        top, left = (
            int(torch.randint(0, n - config.crop_size + 1, (1,), generator=generator))
            for n in images.shape[-2:]
        )
        window = (..., slice(top, top + config.crop_size), slice(left, left + config.crop_size))
        yield images[window], hoi[window]


class VAELoss(torch.nn.Module):
    """The training forward pass, as a module so DDP can wrap it: mask-weighted L1 + kl_weight * KL."""

    def __init__(self, vae: FrameVAE, *, hoi_weight: float, kl_weight: float) -> None:
        super().__init__()
        self.vae = vae
        self.hoi_weight = hoi_weight
        self.kl_weight = kl_weight

    def forward(self, images: torch.Tensor, hoi: torch.Tensor) -> dict[str, torch.Tensor]:
        posterior = self.vae.autoencoder.encode(images, return_dict=False)[0]
        reconstruction = self.vae.autoencoder.decode(posterior.sample(), return_dict=False)[0]
        weights = 1.0 + self.hoi_weight * hoi
        l1 = ((reconstruction - images).abs() * weights).sum() / (weights.sum() * images.shape[1])
        kl = posterior.kl().mean() / images[0].numel()
        return {"loss": l1 + self.kl_weight * kl, "l1": l1, "kl": kl}


@torch.no_grad()
def latent_scaling_factor(vae: FrameVAE, batches, count: int = 4) -> float:
    """1 / std of the posterior means over `count` training batches (so latents have unit variance)."""
    latents = [
        vae.autoencoder.encode(next(batches)[0].to(_device(vae)), return_dict=False)[0].mean
        for _ in range(count)
    ]
    return float(1.0 / torch.cat(latents).std())


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def train(raw_config: dict[str, Any], config_path: str | Path) -> None:
    config = config_from_dict(VAETrainConfig, raw_config, str(config_path))
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    dist = init_distributed(config.device)
    seed_everything(config.seed + dist.rank)
    run_dir = Path(config.run_dir)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(run_dir / "config.yaml", raw_config)

    vae = FrameVAE(config.model).to(dist.device)
    model = wrap_ddp(VAELoss(vae, hoi_weight=config.hoi_weight, kl_weight=config.kl_weight), dist)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.lr, weight_decay=0.0)
    checkpoints = CheckpointManager(run_dir)
    resumed = checkpoints.load_latest({"vae": vae}, {"adamw": optimizer})
    start_step, extra = resumed if resumed is not None else (0, {"wall_s": 0.0})
    batches = frame_batches(config, dist.rank, dist.world_size)

    started = time.perf_counter() - extra["wall_s"]
    with TrainLogger(run_dir, dist, config.steps, start_step=start_step) as logger:
        if resumed is not None:
            logger.info(f"resumed from step {start_step}")
        for step in range(start_step + 1, config.steps + 1):
            images, hoi = next(batches)
            losses = model(images.to(dist.device), hoi.to(dist.device))
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            optimizer.step()
            if step % config.log_every == 0 or step == config.steps:
                scalars = {name: float(all_reduce_mean(value, dist)) for name, value in losses.items()}
                logger.log(step, scalars, samples=images.shape[0] * dist.world_size)
            if step % config.checkpoint_every == 0 or step == config.steps:
                checkpoints.save(
                    step, {"vae": vae}, {"adamw": optimizer}, {"wall_s": time.perf_counter() - started}
                )

        if dist.is_main:
            vae.eval()
            scaling = latent_scaling_factor(vae, batches)
            final_config = dataclasses.replace(config.model, scaling_factor=scaling)
            metadata = {
                "stage": "vae",
                "steps": config.steps,
                "train_wall_s": round(time.perf_counter() - started, 1),
                "data_root": config.data_root,
                "command": f"python training/train.py --config {config_path}",
            }
            for target in [run_dir / "final", *([Path(config.export_to)] if config.export_to else [])]:
                save_weights(
                    target,
                    kind=VAE_KIND,
                    config=final_config,
                    state_dict=vae.autoencoder.state_dict(),
                    metadata=metadata,
                )
                logger.info(f"saved VAE weights (scaling_factor {scaling:.4f}) to {target}")
    cleanup_distributed()
