"""Shared training infrastructure: config loading, checkpoints, DDP, progress logging and EMA.

Each trainer (training/trainers/<stage>.py) writes its loop top to bottom with these pieces:

    config = config_from_dict(MyStageConfig, raw_config["train"], f"{config_path}: train")
    dist = init_distributed(config.device)
    model = wrap_ddp(MyModel(...).to(dist.device), dist)
    checkpoints = CheckpointManager(run_dir, keep=3)
    resumed = checkpoints.load_latest({"model": model}, {"optim": optimizer})
    with TrainLogger(run_dir, dist, total_steps, start_step=start) as log: ...
"""

from training.common.checkpoint import CheckpointError, CheckpointManager
from training.common.config import ConfigError, config_from_dict, config_to_dict, load_config, save_config
from training.common.distributed import (
    DistInfo,
    all_reduce_mean,
    barrier,
    cleanup_distributed,
    init_distributed,
    is_main_process,
    seed_everything,
    unwrap_model,
    wrap_ddp,
)
from training.common.ema import EMA
from training.common.logging import TrainLogger

__all__ = [
    "EMA",
    "CheckpointError",
    "CheckpointManager",
    "ConfigError",
    "DistInfo",
    "TrainLogger",
    "all_reduce_mean",
    "barrier",
    "cleanup_distributed",
    "config_from_dict",
    "config_to_dict",
    "init_distributed",
    "is_main_process",
    "load_config",
    "save_config",
    "seed_everything",
    "unwrap_model",
    "wrap_ddp",
]
