"""Train a per-frame HOI segmenter (exo or ego view) on clip label maps.

    python training/train.py --config config/train/exo_segmenter.yaml [key=value ...]

Each batch takes `frames_per_clip` random frames of `batch_size` clips of the chosen view. Loss:
BCE + Dice (as for Φseg), Adam, EMA of the weights, checkpoints and resume in RUN_DIR, final
weights in RUN_DIR/weights (kind "exo_segmenter" or "ego_segmenter").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from egoexo_models.maskpred.config import SegmenterConfig
from egoexo_models.maskpred.loading import SEGMENTER_KINDS
from egoexo_models.maskpred.losses import bce_dice_loss
from egoexo_models.maskpred.segmenter import HOISegmenter
from egoexo_models.metrics.masks import region_similarity
from egoexo_models.nn import load_imagenet_resnet
from training.common import (
    TrainLogger,
    all_reduce_mean,
    barrier,
    cleanup_distributed,
    config_from_dict,
    init_distributed,
    save_config,
    seed_everything,
    wrap_ddp,
)
from training.trainers._mask_training import (
    optimisation_step,
    recalibrate_batchnorm,
    save_final_weights,
    shuffled_batches,
    start_training,
)
from training.trainers.maskpred import DataConfig


@dataclass(frozen=True)
class SegmenterOptim:
    steps: int = 1500
    batch_size: int = 8
    frames_per_clip: int = 4
    lr: float = 1e-3
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    dice_weight: float = 1.0
    checkpoint_every: int = 200
    log_every: int = 10
    val_every: int = 500
    seed: int = 0
    device: str = "auto"
    threads: int = 1  # torch CPU threads per process: on a shared 2-core machine 1 ran 6x faster than 2


@dataclass(frozen=True)
class SegmenterStage:
    stage: str
    run_dir: Path
    data: DataConfig  # the mask predictor's: the same clips, windows and validation set
    model: SegmenterConfig
    optim: SegmenterOptim
    # A torchvision ResNet state dict to start the encoder from (stem_kernel 7 and that ResNet's widths).
    imagenet_resnet: Path | None = None


@torch.no_grad()
def validate(model: HOISegmenter, clips: list[dict], view: str, device: torch.device) -> dict[str, float]:
    """Mean per-frame IoU of hand, object and hand-or-object over all frames of `clips`."""
    model.eval()
    ious: dict[str, list[float]] = {"hand": [], "object": [], "hand_or_object": []}
    for clip in clips:
        predicted = model(clip[view].to(device)).argmax(1).cpu().numpy()
        truth = clip[f"{view}_masks"].numpy()
        for p, t in zip(predicted, truth, strict=True):
            ious["hand"].append(region_similarity(t == 1, p == 1))
            ious["object"].append(region_similarity(t == 2, p == 2))
            ious["hand_or_object"].append(region_similarity(t > 0, p > 0))
    return {f"val_iou_{name}": float(np.mean(values)) for name, values in ious.items()}


def train(raw_config: dict, config_path: Path) -> None:
    from training.data import ClipDataset

    cfg = config_from_dict(SegmenterStage, raw_config, str(config_path))
    optim_cfg, model_cfg = cfg.optim, cfg.model
    view = model_cfg.view
    torch.set_num_threads(optim_cfg.threads)
    dist = init_distributed(optim_cfg.device)
    seed_everything(optim_cfg.seed + dist.rank)
    if dist.is_main:
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg.run_dir / "config.yaml", raw_config)

    size = tuple(model_cfg.image_size)
    dataset = ClipDataset(
        cfg.data.train,
        num_frames=cfg.data.num_frames,
        size=size,
        random_start=True,
        augment=cfg.data.augment,
        views=(view,),
    )
    val_clips = []
    if dist.is_main and cfg.data.val_clips > 0:
        val_set = ClipDataset(cfg.data.val, num_frames=cfg.data.num_frames, size=size, views=(view,))
        val_clips = [val_set[i] for i in range(min(cfg.data.val_clips, len(val_set)))]
    calibration = []
    if dist.is_main:
        plain_train = ClipDataset(cfg.data.train, num_frames=cfg.data.num_frames, size=size, views=(view,))
        count = min(cfg.data.calibration_clips, len(plain_train))
        calibration = [(plain_train[i][view].to(dist.device),) for i in range(count)]

    model = HOISegmenter(model_cfg)
    if cfg.imagenet_resnet is not None:
        load_imagenet_resnet(model.encoder, cfg.imagenet_resnet)
    model = model.to(dist.device)
    trained = wrap_ddp(model, dist)
    state = start_training(model, cfg.run_dir, optim_cfg.lr, optim_cfg.ema_decay)
    batches = shuffled_batches(
        dataset,
        batch_size=optim_cfg.batch_size,
        workers=cfg.data.workers,
        seed=optim_cfg.seed,
        start=state.start,
        dist=dist,
    )
    started = time.perf_counter()

    with TrainLogger(cfg.run_dir, dist, optim_cfg.steps, start_step=state.start) as log:
        if state.resumed:
            log.info(f"resumed from step {state.start} ({cfg.run_dir / 'checkpoints'})")
        for step in range(state.start, optim_cfg.steps):
            batch = next(batches)
            frames, labels = batch[view], batch[f"{view}_masks"]  # (B,T,3,H,W), (B,T,H,W)
            pick = torch.stack([torch.randperm(frames.shape[1])[: optim_cfg.frames_per_clip] for _ in frames])
            rows = torch.arange(frames.shape[0])[:, None]
            images = frames[rows, pick].flatten(0, 1).to(dist.device)
            targets = labels[rows, pick].flatten(0, 1).to(dist.device)

            model.train()
            loss, parts = bce_dice_loss(trained(images), targets, optim_cfg.dice_weight)
            optimisation_step(loss, step, model, state, optim_cfg.grad_clip)

            done = step + 1
            if done % optim_cfg.log_every == 0 or done == optim_cfg.steps:
                log.log(
                    done,
                    {"loss": all_reduce_mean(loss.detach(), dist).item(), **parts},
                    samples=len(images) * dist.world_size,
                )
            if dist.is_main and val_clips and (done % optim_cfg.val_every == 0 or done == optim_cfg.steps):
                recalibrate_batchnorm(state.ema.module, calibration)
                state.scores = validate(state.ema.module, val_clips, view, dist.device)
                log.log(done, state.scores)
                log.info(f"step {done}: " + ", ".join(f"{k} {v:.4f}" for k, v in state.scores.items()))
            if done % optim_cfg.checkpoint_every == 0 or done == optim_cfg.steps:
                state.save_checkpoint(model, done, state.wall_before + time.perf_counter() - started)

    barrier(dist)
    if dist.is_main:
        save_final_weights(
            cfg.run_dir,
            kind=SEGMENTER_KINDS[view],
            model_config=model_cfg,
            state=state,
            calibration=calibration,
            config_path=config_path,
            metadata={
                "train_data": str(cfg.data.train),
                "train_clips": len(dataset),
                "steps": optim_cfg.steps,
                "batch_size": optim_cfg.batch_size,
                "frames_per_clip": optim_cfg.frames_per_clip,
                "processes": dist.world_size,
            },
            wall_s=state.wall_before + time.perf_counter() - started,
        )
    cleanup_distributed()
