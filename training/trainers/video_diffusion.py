"""Train Φgen's video UNet (phase 1) or its HOI mask guidance (phase 2), paper §2.4 "Training stage".

    python training/train.py --config config/train/video_diffusion_phase1.yaml [key=value ...]
    python training/train.py --config config/train/video_diffusion_phase2.yaml [key=value ...]

Phase 1 trains the UNet on ego clips with the first frame and the instruction as conditions.
Phase 2 starts from the phase-1 weights, freezes the UNet and trains ψmask and the decoder's linear
projections with the ground-truth ego HOI masks. Both drop the instruction with probability
`text_dropout` (the null text of classifier-free guidance) and minimise Eq. 4 (with the target of
the noise schedule: noise or velocity).

The frozen VAE and text encoder run once: the first run encodes every training clip into a latent
cache (CACHE_DIR/…safetensors: latents, masks, instruction states), so a step costs only the UNet.
With `val_root` (or `val_latent_cache`), every `val_every` steps the EMA model's denoising loss on
held-out clips is logged at fixed timesteps and noise (`val_loss`; phase 2 adds `val_loss_no_masks`
and `val_mask_gain`, what the HOI masks save), so over-fitting and useless mask guidance show in
the run's metrics. Checkpoints every `checkpoint_every` steps; a killed run resumes from RUN_DIR.
The EMA weights are saved to RUN_DIR/final/ (and `export_to`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from egoexo_models.clip import list_clips, read_meta
from egoexo_models.diffusion.mask_encoder import label_maps_to_channels
from egoexo_models.diffusion.model import (
    VIDEO_UNET_KIND,
    VideoDiffusionConfig,
    VideoDiffusionModel,
    load_video_diffusion,
)
from egoexo_models.diffusion.sampling import make_training_scheduler
from egoexo_models.diffusion.text_encoder import load_text_encoder
from egoexo_models.diffusion.vae import load_vae
from egoexo_models.weights import load_state_strict, save_tensors_atomic, save_weights, weights_id
from training.common.checkpoint import CheckpointManager
from training.common.config import ConfigError, config_from_dict, save_config
from training.common.distributed import (
    all_reduce_mean,
    barrier,
    cleanup_distributed,
    init_distributed,
    seed_everything,
    wrap_ddp,
)
from training.common.ema import EMA
from training.common.logging import TrainLogger


@dataclass(frozen=True)
class VideoDiffusionTrainConfig:
    """The `video_diffusion` stage (phase 1 or 2).

    vae_weights: the trained VAE (None = the shipped one).
    init_from: weights to start from: required for phase 2 (the phase-1 result), optional for phase 1.
    sd_unet: optional Stable Diffusion UNet folder whose spatial layers initialise phase 1 (sd_init.py).
    max_clips: use only the first N training clips (None = all).
    latent_cache: a latent cache file built elsewhere (say, on the machine that has the clips, then
        copied to a GPU machine); data_root is then not read and the cache must hold the fps.
        max_clips then takes the cache's first N clips.
    max_train_s: stop after this many seconds of training in all (a resumed run counts its earlier
        time), saving the final weights as at the last step (a time-budgeted run on a lent machine);
        None: run all `steps`. Every process stops at the same step.
    val_root: held-out clips for the validation loss (None: no validation); their latent cache is
        built like the training one. val_latent_cache: a copied cache of them, used instead of
        val_root when given (as latent_cache is instead of data_root).
    val_clips: how many of the validation clips (the first ones) to use.
    val_every: steps between validations (and one at the last step).
    """

    phase: int
    data_root: str
    run_dir: str
    stage: str = "video_diffusion"
    model: VideoDiffusionConfig = field(default_factory=VideoDiffusionConfig)
    vae_weights: str | None = None
    init_from: str | None = None
    sd_unet: str | None = None
    cache_dir: str = "outputs/cache/video_diffusion"
    max_clips: int | None = None
    latent_cache: str | None = None
    max_train_s: float | None = None
    val_root: str | None = None
    val_latent_cache: str | None = None
    val_clips: int = 32
    val_every: int = 500
    steps: int = 6000
    batch_size: int = 4
    lr: float = 2e-4
    weight_decay: float = 0.0
    text_dropout: float = 0.1
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    checkpoint_every: int = 200
    log_every: int = 10
    threads: int | None = 1  # torch CPU threads (None: its default); see docs/video_diffusion.md
    seed: int = 0
    device: str = "auto"
    export_to: str | None = None

    def __post_init__(self) -> None:
        if self.phase not in (1, 2):
            raise ConfigError(f"phase must be 1 (UNet) or 2 (ψmask + projections), got {self.phase}")
        if self.phase == 2 and (self.init_from is None or self.model.mask_encoder is None):
            raise ConfigError("phase 2 needs init_from= the phase-1 weights and a model.mask_encoder section")
        if not 0.0 <= self.text_dropout < 1.0:
            raise ConfigError(f"text_dropout must be in [0, 1), got {self.text_dropout}")
        if self.val_clips < 1 or self.val_every < 1:
            raise ConfigError(
                f"val_clips and val_every must be at least 1, got {self.val_clips}, {self.val_every}"
            )


# ------------------------------------------------------------------------------------ latent cache


def cache_path(
    config: VideoDiffusionTrainConfig,
    vae_dir: Path,
    clip_root: str,
    clip_names: list[str],
    prefix: str = "clips",
) -> Path:
    """Cache file named by the VAE, the text encoder, the frame count and the exact clip list."""
    key = json.dumps(
        [
            weights_id(vae_dir),
            dataclasses.asdict(config.model.text),
            config.model.num_frames,
            str(Path(clip_root).resolve()),
            clip_names,
        ]
    )
    return Path(config.cache_dir) / f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:16]}.safetensors"


@torch.no_grad()
def build_latent_cache(
    config: VideoDiffusionTrainConfig,
    clip_root: str,
    max_clips: int | None,
    path: Path,
    device: torch.device,
    log,
) -> None:
    """Encode the first `max_clips` clips (None: all) of `clip_root` once: latents fp16 (N,F,C,h,w),
    masks uint8 (N,F,H,W), instruction states."""
    from training.data import ClipDataset

    vae = load_vae(config.vae_weights).to(device)
    text_encoder = load_text_encoder(config.model.text).to(device)
    dataset = ClipDataset(
        clip_root,
        num_frames=config.model.num_frames,
        size=(config.model.height, config.model.width),
        views=("ego",),
        masks=True,
    )
    count = len(dataset) if max_clips is None else min(max_clips, len(dataset))
    latents, masks, instruction_index, instructions = [], [], [], {}
    started = time.perf_counter()
    for index in range(count):
        item = dataset[index]
        frames = item["ego"].to(device) * 2 - 1
        latents.append(vae.encode(frames).half().cpu())
        masks.append(item["ego_masks"].to(torch.uint8))
        instruction_index.append(instructions.setdefault(item["instruction"], len(instructions)))
        if (index + 1) % 100 == 0:
            log(f"latent cache: {index + 1}/{count} clips encoded ({time.perf_counter() - started:.0f} s)")
    states = text_encoder.encode(list(instructions)).half().cpu()
    null_states = text_encoder.encode([""]).half().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors_atomic(
        path,
        {
            "latents": torch.stack(latents).contiguous(),
            "masks": torch.stack(masks),
            "instruction_index": torch.tensor(instruction_index),
            "text_states": states,
            "null_text_states": null_states,
        },
        {"clips": str(count), "instructions": str(len(instructions)), "fps": str(config.model.fps)},
    )


PER_CLIP_TENSORS = ("latents", "masks", "instruction_index")


def load_latent_cache(
    path: Path, device: torch.device, max_clips: int | None = None
) -> dict[str, torch.Tensor]:
    """The cache's tensors on `device` (the whole cache is small enough to sit on a GPU), its first
    `max_clips` clips only when given."""
    from safetensors.torch import load_file

    data = load_file(path, device=str(device))
    for key in PER_CLIP_TENSORS:
        if key in data:
            data[key] = data[key][:max_clips]
    return data


def existing_cache(path: str, option: str) -> Path:
    if not Path(path).is_file():
        raise ConfigError(f"{option} {path} does not exist")
    return Path(path)


def clips_or_error(root: str, option: str) -> list[Path]:
    clip_dirs = list_clips(root)
    if not clip_dirs:
        raise ConfigError(f"{option} {root}: no clips found (generate them with `egoexo sim`)")
    return clip_dirs


def validation_cache(config: VideoDiffusionTrainConfig, vae_dir: Path, device: torch.device) -> Path | None:
    """The latent cache of the validation clips (built on first use); None without validation."""
    if config.val_latent_cache is not None:
        return existing_cache(config.val_latent_cache, "val_latent_cache")
    if config.val_root is None:
        return None
    names = [p.name for p in clips_or_error(config.val_root, "val_root")[: config.val_clips]]
    path = cache_path(config, vae_dir, config.val_root, names, prefix="val")
    if not path.is_file():
        _print(f"building the validation latent cache {path} ({len(names)} clips)")
        build_latent_cache(config, config.val_root, config.val_clips, path, device, _print)
    return path


def cache_fps(path: Path) -> float:
    """The clips' frame rate recorded in a latent cache."""
    from safetensors import safe_open

    with safe_open(path, "pt") as cache:
        fps = (cache.metadata() or {}).get("fps")
    if fps is None:
        raise ConfigError(f"latent_cache {path} does not record the clips' fps; rebuild it from the clips")
    return float(fps)


# ------------------------------------------------------------------------------------ training step


class DiffusionLoss(torch.nn.Module):
    """Eq. 4 as a module (so DDP can wrap it): || target - εθ(z̄, 𝒯, h, t) ||² over all frames."""

    def __init__(self, model: VideoDiffusionModel, *, use_masks: bool) -> None:
        super().__init__()
        self.model = model
        self.use_masks = use_masks
        self.scheduler = make_training_scheduler(model.config.schedule)

    def forward(
        self,
        latents: torch.Tensor,
        text_states: torch.Tensor,
        masks: torch.Tensor | None,
        noise: torch.Tensor,
        timesteps: torch.Tensor,
    ) -> torch.Tensor:
        schedule = self.model.config.schedule
        first = latents[:, 0]
        x0 = latents - first[:, None] if schedule.diffuse_residual else latents
        noisy = self.scheduler.add_noise(x0, noise, timesteps)
        target = (
            noise
            if schedule.prediction_type == "epsilon"
            else self.scheduler.get_velocity(x0, noise, timesteps)
        )
        features = self.model.mask_encoder(label_maps_to_channels(masks)) if self.use_masks else None
        prediction = self.model.unet(noisy, timesteps, text_states, first, features)
        return F.mse_loss(prediction.float(), target.float())


VAL_TIMESTEPS = (100, 300, 500, 700, 900)


@torch.no_grad()
def validation_losses(
    model: VideoDiffusionModel, data: dict[str, torch.Tensor], *, with_masks: bool, batch_size: int = 8
) -> dict[str, float]:
    """Eq. 4 on cached held-out clips at VAL_TIMESTEPS, with the same noise at every call (seed 0), so
    values compare across steps. with_masks: also the loss without ψ, and the gain the masks bring."""
    was_training = model.training
    model.eval()
    losses = {"val_loss": DiffusionLoss(model, use_masks=with_masks)}
    if with_masks:
        losses["val_loss_no_masks"] = DiffusionLoss(model, use_masks=False)
    totals = dict.fromkeys(losses, 0.0)
    generator = torch.Generator().manual_seed(0)
    device = data["latents"].device
    clips = data["latents"].shape[0]
    for timestep in VAL_TIMESTEPS:
        for start in range(0, clips, batch_size):
            batch = slice(start, start + batch_size)
            latents = data["latents"][batch].float()
            text = data["text_states"][data["instruction_index"][batch]].float()
            masks = data["masks"][batch] if with_masks else None
            noise = torch.randn(latents.shape, generator=generator).to(device)
            timesteps = torch.full((latents.shape[0],), timestep, device=device)
            for name, loss in losses.items():
                value = loss(latents, text, masks if loss.use_masks else None, noise, timesteps)
                totals[name] += value.item() * latents.shape[0]
    model.train(was_training)
    scores = {name: total / (clips * len(VAL_TIMESTEPS)) for name, total in totals.items()}
    if with_masks:
        scores["val_mask_gain"] = scores["val_loss_no_masks"] - scores["val_loss"]
    return scores


def set_trainable(model: VideoDiffusionModel, phase: int) -> list[torch.nn.Parameter]:
    """Phase 1: the UNet without its mask projections. Phase 2: ψmask and the mask projections only."""
    model.requires_grad_(False)
    if phase == 1:
        for name, parameter in model.unet.named_parameters():
            parameter.requires_grad_(".mask_proj." not in name)
    else:
        for parameter in model.mask_guidance_parameters():
            parameter.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def initial_model(config: VideoDiffusionTrainConfig, log) -> VideoDiffusionModel:
    model = VideoDiffusionModel(config.model)
    if config.init_from is not None:
        # The UNet only: ψmask starts fresh, its zero output layers leaving the UNet's output unchanged.
        loaded = load_video_diffusion(config.init_from)
        load_state_strict(model.unet, loaded.unet.state_dict(), source=f"{config.init_from} (unet)")
        log(f"initialised the UNet from {config.init_from}")
    elif config.sd_unet is not None:
        from egoexo_models.diffusion.sd_init import load_sd_spatial_weights

        report = load_sd_spatial_weights(model.unet, config.sd_unet)
        log(f"initialised spatial layers from {config.sd_unet}: {report}")
    return model


def any_rank(flag: bool, dist) -> bool:
    """True when `flag` is true on any process (so that all processes stop at the same step)."""
    return all_reduce_mean(torch.tensor([float(flag)], device=dist.device), dist).item() > 0


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _quiet(message: str) -> None:
    pass


def train(raw_config: dict[str, Any], config_path: str | Path) -> None:
    config = config_from_dict(VideoDiffusionTrainConfig, raw_config, str(config_path))
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    dist = init_distributed(config.device)
    seed_everything(config.seed + dist.rank)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    run_dir = Path(config.run_dir)
    from egoexo_models.weights import shipped_weights_dir

    vae_dir = Path(config.vae_weights) if config.vae_weights else shipped_weights_dir("vae")
    if config.latent_cache is not None:
        cache = existing_cache(config.latent_cache, "latent_cache")
        fps = cache_fps(cache)
    else:
        clip_dirs = clips_or_error(config.data_root, "data_root")
        fps = read_meta(clip_dirs[0]).fps
        cache = cache_path(config, vae_dir, config.data_root, [p.name for p in clip_dirs[: config.max_clips]])
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, fps=fps))
    val_data = None
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(run_dir / "config.yaml", raw_config)
        if not cache.is_file():
            _print(f"building the latent cache {cache} ({len(clip_dirs[: config.max_clips])} clips)")
            build_latent_cache(config, config.data_root, config.max_clips, cache, dist.device, _print)
        val_cache = validation_cache(config, vae_dir, dist.device)
        if val_cache is not None:
            val_data = load_latent_cache(val_cache, dist.device, config.val_clips)
            if config.phase == 2 and "masks" not in val_data:
                raise ConfigError(f"phase 2 validates with the ego masks, and the cache {val_cache} has none")
    barrier(dist)
    data = load_latent_cache(cache, dist.device, config.max_clips)
    clips = data["latents"].shape[0]
    if config.phase == 2 and "masks" not in data:
        raise ConfigError(f"phase 2 needs the ego masks, and the latent cache {cache} has none")

    model = initial_model(config, _print if dist.is_main else _quiet).to(dist.device)
    trainable = set_trainable(model, config.phase)
    loss_module = wrap_ddp(DiffusionLoss(model, use_masks=config.phase == 2), dist)
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    ema = EMA(model, config.ema_decay)
    checkpoints = CheckpointManager(run_dir)
    resumed = checkpoints.load_latest({"model": model, "ema": ema.module}, {"adamw": optimizer})
    start_step, extra = resumed if resumed is not None else (0, {"wall_s": 0.0})
    started = time.perf_counter() - extra["wall_s"]
    timesteps_total = config.model.schedule.num_train_timesteps

    with TrainLogger(run_dir, dist, config.steps, start_step=start_step) as logger:
        logger.info(
            f"phase {config.phase}: {sum(p.numel() for p in trainable) / 1e6:.2f} M trainable parameters, "
            f"{clips} clips, start at step {start_step}"
        )
        model.train()
        last_step = config.steps
        val_scores = {}
        for step in range(start_step + 1, config.steps + 1):
            # Randomness from (seed, rank, step): a resumed run continues exactly as an unbroken one.
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + dist.rank * 7919 + step)
            to = dist.device
            index = torch.randint(0, clips, (config.batch_size,), generator=generator).to(to)
            latents = data["latents"][index].float()
            text = data["text_states"][data["instruction_index"][index]].float()
            drop = (torch.rand(config.batch_size, generator=generator) < config.text_dropout).to(to)
            text[drop] = data["null_text_states"].float()
            masks = data["masks"][index] if config.phase == 2 else None
            noise = torch.randn(latents.shape, generator=generator).to(to)
            timesteps = torch.randint(0, timesteps_total, (config.batch_size,), generator=generator).to(to)
            loss = loss_module(latents, text, masks, noise, timesteps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
            optimizer.step()
            ema.update(model)
            if step % config.log_every == 0 or step == config.steps:
                scalars = {"loss": float(all_reduce_mean(loss, dist)), "grad_norm": float(grad_norm)}
                logger.log(step, scalars, samples=config.batch_size * dist.world_size)
            out_of_time = config.max_train_s is not None and any_rank(
                time.perf_counter() - started >= config.max_train_s, dist
            )
            if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
                checkpoints.save(
                    step,
                    {"model": model, "ema": ema.module},
                    {"adamw": optimizer},
                    {"wall_s": time.perf_counter() - started},
                )
            if val_data is not None and (step % config.val_every == 0 or step == config.steps or out_of_time):
                val_scores = validation_losses(ema.module, val_data, with_masks=config.phase == 2)
                logger.log(step, val_scores)
            if out_of_time:
                logger.info(f"max_train_s={config.max_train_s} reached at step {step}: stopping")
                last_step = step
                break

        if dist.is_main:
            metadata = {
                "stage": f"video_diffusion phase {config.phase}",
                "steps": last_step,
                "train_wall_s": round(time.perf_counter() - started, 1),
                "clips": clips,
                "data_root": config.latent_cache or config.data_root,
                "vae": weights_id(vae_dir),
                "init_from": config.init_from,
                "val": {name: round(value, 5) for name, value in val_scores.items()},
                "command": f"python training/train.py --config {config_path}",
            }
            for target in [run_dir / "final", *([Path(config.export_to)] if config.export_to else [])]:
                save_weights(
                    target,
                    kind=VIDEO_UNET_KIND,
                    config=config.model,
                    state_dict=ema.module.state_dict(),
                    metadata=metadata,
                )
                logger.info(f"saved the EMA weights to {target}")
    cleanup_distributed()
