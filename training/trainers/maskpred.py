"""Train Φseg, the cross-view HOI mask predictor (paper §2.2, §3 "Training stage").

    python training/train.py --config config/train/maskpred.yaml [key=value ...]
    torchrun --nproc_per_node 2 training/train.py --config config/train/maskpred.yaml

Reads top to bottom: config, processes, data, model, optimizer, resume, loop, export. The loss is
BCE + Dice on every frame. Two schedules follow the paper: α, the weight of the ego-query read-out
𝒵', anneals linearly from 1 to 0 (query "both"; 0 throughout for "exo", 1 for "ego"), and ego frames
are hidden progressively: each clip keeps a visible prefix of 1..V ego frames (the rest are zero
images), V shrinking from all frames to 1, the inference condition. A checkpoint is written every
`checkpoint_every` steps and a killed run resumes from the newest one. The final weights (the EMA
of the model) go to RUN_DIR/weights with egoexo_models.weights.save_weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from egoexo_models.maskpred.config import MaskPredictorConfig
from egoexo_models.maskpred.losses import bce_dice_loss
from egoexo_models.maskpred.model import MaskPredictor
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


@dataclass(frozen=True)
class DataConfig:
    train: Path
    val: Path
    num_frames: int = 16
    augment: bool = True
    workers: int = 1
    val_clips: int = 48
    calibration_clips: int = 16  # train clips on which the EMA's BatchNorm statistics are re-estimated


@dataclass(frozen=True)
class OptimConfig:
    steps: int = 3000
    batch_size: int = 8
    lr: float = 1e-3
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    dice_weight: float = 1.0
    alpha_anneal_steps: int = 1500  # α goes 1 -> 0 linearly over these steps (query "both")
    ego_hide_steps: int = 1500  # the visible ego prefix shrinks from all frames to the first over these
    checkpoint_every: int = 200
    log_every: int = 10
    val_every: int = 500
    seed: int = 0
    device: str = "auto"
    threads: int = 1  # torch CPU threads per process: on a shared 2-core machine 1 ran 6x faster than 2


@dataclass(frozen=True)
class MaskpredStage:
    stage: str
    run_dir: Path
    data: DataConfig
    model: MaskPredictorConfig
    optim: OptimConfig
    # A torchvision ResNet state dict (.pth or .safetensors) to start Φenc and Φmask from; it needs
    # stem_kernel 7 and that ResNet's widths (e.g. 64, 128, 256). Ignored when resuming.
    imagenet_resnet: Path | None = None


def alpha_at(step: int, optim: OptimConfig, query: str) -> float:
    """α of the ego-query read-out at `step`."""
    if query == "exo":
        return 0.0
    if query == "ego":
        return 1.0
    return max(0.0, 1.0 - step / max(optim.alpha_anneal_steps, 1))


def visible_prefix_limit(step: int, optim: OptimConfig, num_frames: int) -> int:
    """V: the most ego frames a clip may show at `step` (num_frames at the start, 1 at the end)."""
    progress = min(1.0, step / max(optim.ego_hide_steps, 1))
    return max(1, round(num_frames - progress * (num_frames - 1)))


def hide_ego_frames(ego: torch.Tensor, limit: int, generator: torch.Generator) -> torch.Tensor:
    """Zero the ego frames (B,T,3,H,W) after a random visible prefix of 1..limit frames per clip."""
    batch, frames = ego.shape[:2]
    visible = torch.randint(1, limit + 1, (batch, 1), generator=generator)
    keep = (torch.arange(frames)[None, :] < visible).float()
    return ego * keep[:, :, None, None, None].to(ego.device)


def calibration_inputs(clips: list[dict], batch_size: int, alpha: float, device: torch.device) -> list[tuple]:
    """Batches of `clips` at inference conditions (ego frames after the first are zero images)."""
    inputs = []
    for start in range(0, len(clips), batch_size):
        chunk = clips[start : start + batch_size]
        ego = torch.stack([c["ego"] for c in chunk])
        ego[:, 1:] = 0.0
        exo, exo_masks = torch.stack([c["exo"] for c in chunk]), torch.stack([c["exo_masks"] for c in chunk])
        inputs.append((exo.to(device), exo_masks.to(device), ego.to(device), alpha))
    return inputs


@torch.no_grad()
def validate(model: MaskPredictor, clips: list[dict], device: torch.device) -> dict[str, float]:
    """Mean IoU (hand-or-object) on unobserved frames 1..N-1 at inference (zero later ego frames), and
    the copy-first-mask baseline's on the same frames."""
    model.eval()
    model_iou, copy_iou = [], []
    for clip in clips:
        ego = clip["ego"][None].clone()
        ego[:, 1:] = 0.0
        logits = model(clip["exo"][None].to(device), clip["exo_masks"][None].to(device), ego.to(device))
        predicted = logits[0].argmax(1).cpu().numpy() > 0
        truth = clip["ego_masks"].numpy() > 0
        for n in range(1, truth.shape[0]):
            model_iou.append(region_similarity(truth[n], predicted[n]))
            copy_iou.append(region_similarity(truth[n], truth[0]))
    return {"val_iou_unobserved": float(np.mean(model_iou)), "val_copy_first_iou": float(np.mean(copy_iou))}


def train(raw_config: dict, config_path: Path) -> None:
    from training.data import ClipDataset

    cfg = config_from_dict(MaskpredStage, raw_config, str(config_path))
    optim_cfg, model_cfg = cfg.optim, cfg.model
    torch.set_num_threads(optim_cfg.threads)
    dist = init_distributed(optim_cfg.device)
    seed_everything(optim_cfg.seed + dist.rank)
    if dist.is_main:
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg.run_dir / "config.yaml", raw_config)

    # Data: random windows of num_frames from the training clips; the first val clips for validation.
    size = tuple(model_cfg.image_size)
    dataset = ClipDataset(
        cfg.data.train, num_frames=cfg.data.num_frames, size=size, random_start=True, augment=cfg.data.augment
    )
    val_clips = []
    if dist.is_main and cfg.data.val_clips > 0:
        val_set = ClipDataset(cfg.data.val, num_frames=cfg.data.num_frames, size=size)
        val_clips = [val_set[i] for i in range(min(cfg.data.val_clips, len(val_set)))]
    calibration = []
    if dist.is_main:
        plain_train = ClipDataset(cfg.data.train, num_frames=cfg.data.num_frames, size=size)
        calibration_clips = [plain_train[i] for i in range(min(cfg.data.calibration_clips, len(plain_train)))]
        calibration = calibration_inputs(
            calibration_clips, optim_cfg.batch_size, model_cfg.inference_alpha, dist.device
        )

    # Model, optimizer, EMA; resume from the newest checkpoint of the run directory.
    model = MaskPredictor(model_cfg)
    if cfg.imagenet_resnet is not None:
        load_imagenet_resnet(model.encoder, cfg.imagenet_resnet)
        load_imagenet_resnet(model.mask_encoder, cfg.imagenet_resnet)
    model = model.to(dist.device)
    trained = wrap_ddp(model, dist)
    state = start_training(model, cfg.run_dir, optim_cfg.lr, optim_cfg.ema_decay)
    start = state.start
    batches = shuffled_batches(
        dataset,
        batch_size=optim_cfg.batch_size,
        workers=cfg.data.workers,
        seed=optim_cfg.seed,
        start=start,
        dist=dist,
    )
    generator = torch.Generator().manual_seed(optim_cfg.seed * 1_000_003 + dist.rank * 7919 + start)
    started = time.perf_counter()

    with TrainLogger(cfg.run_dir, dist, optim_cfg.steps, start_step=start) as log:
        if state.resumed:
            log.info(f"resumed from step {start} ({cfg.run_dir / 'checkpoints'})")
        for step in range(start, optim_cfg.steps):
            batch = next(batches)
            alpha = alpha_at(step, optim_cfg, model_cfg.query)
            limit = visible_prefix_limit(step, optim_cfg, cfg.data.num_frames)
            exo = batch["exo"].to(dist.device)
            ego = hide_ego_frames(batch["ego"], limit, generator).to(dist.device)
            exo_masks, ego_masks = batch["exo_masks"].to(dist.device), batch["ego_masks"].to(dist.device)

            model.train()
            logits = trained(exo, exo_masks, ego, alpha)
            loss, parts = bce_dice_loss(logits.flatten(0, 1), ego_masks.flatten(0, 1), optim_cfg.dice_weight)
            optimisation_step(loss, step, model, state, optim_cfg.grad_clip)

            done = step + 1
            if done % optim_cfg.log_every == 0 or done == optim_cfg.steps:
                mean_loss = all_reduce_mean(loss.detach(), dist).item()
                log.log(
                    done,
                    {"loss": mean_loss, **parts, "alpha": alpha, "visible_ego_max": limit},
                    samples=optim_cfg.batch_size * dist.world_size,
                )
            if dist.is_main and val_clips and (done % optim_cfg.val_every == 0 or done == optim_cfg.steps):
                recalibrate_batchnorm(state.ema.module, calibration)
                state.scores = validate(state.ema.module, val_clips, dist.device)
                log.log(done, state.scores)
                log.info(f"step {done}: " + ", ".join(f"{k} {v:.4f}" for k, v in state.scores.items()))
            if done % optim_cfg.checkpoint_every == 0 or done == optim_cfg.steps:
                state.save_checkpoint(model, done, state.wall_before + time.perf_counter() - started)

    barrier(dist)
    if dist.is_main:
        save_final_weights(
            cfg.run_dir,
            kind="maskpred",
            model_config=model_cfg,
            state=state,
            calibration=calibration,
            config_path=config_path,
            metadata={
                "train_data": str(cfg.data.train),
                "train_clips": len(dataset),
                "steps": optim_cfg.steps,
                "batch_size": optim_cfg.batch_size,
                "processes": dist.world_size,
                "ema_decay": optim_cfg.ema_decay,
            },
            wall_s=state.wall_before + time.perf_counter() - started,
        )
    cleanup_distributed()
