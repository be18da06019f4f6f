"""Data-parallel training from torchrun's environment: gloo on CPU, nccl on CUDA.

    torchrun --nproc_per_node 2 training/train.py --config config/train/<stage>.yaml

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them the run is a
single process. Only the main process (rank 0) logs and writes checkpoints; the logger and the
checkpoint manager check that themselves.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    is_main: bool

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment variables, if any.

    Args:
        device: "auto" (CUDA when available, else CPU), "cpu" or "cuda". With CUDA each process
            uses the GPU of its LOCAL_RANK and the nccl backend; on CPU the gloo backend.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use device=cpu")
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size == 1:
        return DistInfo(0, 1, 0, torch.device("cuda" if use_cuda else "cpu"), True)
    missing = [name for name in _TORCHRUN_VARS if name not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE={world_size} but {missing} are not set; start the run with torchrun")
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} is outside 0..{world_size - 1} (WORLD_SIZE={world_size})")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        run_device = torch.device("cuda", local_rank)
    else:
        run_device = torch.device("cpu")
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if use_cuda else "gloo", init_method="env://")
    return DistInfo(rank, world_size, local_rank, run_device, rank == 0)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


def wrap_ddp(model: nn.Module, dist: DistInfo) -> nn.Module:
    """DistributedDataParallel around `model` (already on dist.device) in a multi-process run, else `model`."""
    if not dist.is_distributed:
        return model
    device_ids = [dist.local_rank] if dist.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP or torch.compile wrapper (its state_dict keys have no prefix)."""
    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def all_reduce_mean(tensor: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    """The mean of `tensor` over all processes (a new tensor; the input is left unchanged)."""
    result = tensor.detach().clone()
    if dist.is_distributed:
        torch_dist.all_reduce(result, op=torch_dist.ReduceOp.SUM)
        result /= dist.world_size
    return result


def barrier(dist: DistInfo) -> None:
    """Wait for every process (no-op in a single-process run)."""
    if dist.is_distributed:
        torch_dist.barrier()


def cleanup_distributed() -> None:
    """Leave the process group, if this process joined one.

    Every process waits for the others first: a gloo process that tears down while its peer is
    still in a collective aborts ("terminate called without an active exception").
    """
    if torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (pass seed + rank for per-process data order and noise)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def is_main_process() -> bool:
    """Rank 0 of an initialised process group, or of torchrun's environment, or a lone process."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank() == 0
    return _env_int("RANK", 0) == 0
