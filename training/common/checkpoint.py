"""Training checkpoints for resume after a kill: one safetensors file per step, never pickles.

    RUN_DIR/checkpoints/step_000001200.safetensors

One file holds everything: tensors under "model/<name>/<key>" and "optim/<name>/<param>/<key>",
and in the safetensors header the step, the optimizers' param groups and non-tensor state, and the
trainer's `extra` dict, as JSON. The file is written to a temporary sibling, fsync'd and renamed,
so a checkpoint on disk is always complete; the last `keep` are kept. Only the main process
writes. Randomness is not stored: derive it from (seed, rank, step) so a resumed run continues
the same way.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from egoexo_models.weights import WeightsError, cpu_tensors, load_state_strict, save_tensors_atomic
from training.common.distributed import is_main_process, unwrap_model

CHECKPOINT_FORMAT = "egoexo-checkpoint/1"
_NAME = re.compile(r"^step_(\d{9})\.safetensors$")


class CheckpointError(WeightsError):
    """A checkpoint cannot be written, read, or applied to the models and optimizers given."""


class CheckpointManager:
    """Save and resume training state under RUN_DIR/checkpoints/.

    Args:
        run_dir: the run's directory (created by the main process when it first saves).
        keep: how many of the newest checkpoints to keep.
        is_main: whether this process writes; by default rank 0 of the process group (or of
            torchrun's RANK) writes and the other ranks' `save` does nothing.
    """

    def __init__(self, run_dir: str | os.PathLike, keep: int = 3, *, is_main: bool | None = None) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.directory = Path(run_dir) / "checkpoints"
        self.keep = keep
        self.is_main = is_main_process() if is_main is None else is_main
        if self.is_main:
            self._remove_partial_files()

    def paths(self) -> list[Path]:
        """Complete checkpoint files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if _NAME.match(p.name))

    def save(
        self,
        step: int,
        models: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        extra: dict[str, Any] | None = None,
    ) -> Path | None:
        """Write the checkpoint of `step` (main process only; returns its path, or None elsewhere).

        `extra` is any JSON-ready dict the trainer needs back on resume (best loss, scheduler state...).
        """
        if not self.is_main:
            return None
        if not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        tensors: dict[str, torch.Tensor] = {}
        for name, model in models.items():
            state = cpu_tensors(unwrap_model(model).state_dict(), f"model {name!r}")
            tensors.update({f"model/{name}/{key}": value for key, value in state.items()})
        optimizer_json = {}
        for name, optimizer in optimizers.items():
            optimizer_tensors, optimizer_json[name] = _flatten_optimizer(optimizer.state_dict())
            tensors.update({f"optim/{name}/{key}": value for key, value in optimizer_tensors.items()})
        try:
            header = {
                "format": CHECKPOINT_FORMAT,
                "step": str(step),
                "models": json.dumps(sorted(models)),
                "optimizers": json.dumps(optimizer_json),
                "extra": json.dumps(extra or {}),
            }
        except TypeError as error:
            raise ValueError(
                f"checkpoint extra and optimizer settings must be JSON-serialisable: {error}"
            ) from None
        path = self.directory / f"step_{step:09d}.safetensors"
        save_tensors_atomic(path, tensors, header)
        for old in self.paths()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def load_latest(
        self, models: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]
    ) -> tuple[int, dict[str, Any]] | None:
        """Restore the newest readable checkpoint into `models` and `optimizers`: (step, extra).

        Returns None when there is none. An unreadable file (a damaged disk) is skipped with a
        warning in favour of the one before; a checkpoint that does not fit the models (another
        configuration) is an error, never skipped.
        """
        for path in reversed(self.paths()):
            try:
                header, tensors = _read_checkpoint(path)
            except CheckpointError as error:
                warnings.warn(f"skipping unreadable checkpoint: {error}", stacklevel=2)
                continue
            return _apply(path, header, tensors, models, optimizers)
        return None

    def _remove_partial_files(self) -> None:
        """Temporary files left by a process killed while writing."""
        if self.directory.is_dir():
            for leftover in self.directory.glob(".step_*.tmp"):
                leftover.unlink(missing_ok=True)


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors ("<param>/<key>") and a JSON-ready rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}/{key}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _read_checkpoint(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: corrupt or not a safetensors file ({error})") from None
    if header.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an egoexo checkpoint (format {header.get('format')!r})")
    return header, tensors


def _apply(
    path: Path,
    header: dict[str, str],
    tensors: dict[str, torch.Tensor],
    models: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> tuple[int, dict[str, Any]]:
    saved_models = json.loads(header["models"])
    saved_optimizers = json.loads(header["optimizers"])
    _check_names(path, "model", saved_models, models)
    _check_names(path, "optimizer", saved_optimizers, optimizers)
    for name, model in models.items():
        prefix = f"model/{name}/"
        state = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
        load_state_strict(unwrap_model(model), state, source=f"{path} (model {name!r})")
    for name, optimizer in optimizers.items():
        prefix = f"optim/{name}/"
        flat = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
        state_dict = _unflatten_optimizer(flat, saved_optimizers[name], optimizer)
        try:
            optimizer.load_state_dict(state_dict)
        except (ValueError, KeyError) as error:
            raise CheckpointError(
                f"{path}: optimizer {name!r} does not fit the checkpoint ({error})"
            ) from None
    return int(header["step"]), json.loads(header["extra"])


def _check_names(path: Path, what: str, saved: list[str] | dict[str, Any], given: dict[str, Any]) -> None:
    missing, unexpected = sorted(set(given) - set(saved)), sorted(set(saved) - set(given))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: the checkpoint holds {what}s {sorted(saved)}, the trainer resumes {sorted(given)}; "
            "start a fresh run directory or resume with the same training configuration"
        )


def _unflatten_optimizer(
    flat: dict[str, torch.Tensor], saved: dict[str, Any], optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        param_id, _, name = key.partition("/")
        state.setdefault(int(param_id), {})[name] = value
    for param_id, values in saved["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    groups = saved["param_groups"]
    # JSON turns tuples (Adam's betas) into lists: give settings back the type the optimizer uses.
    for group, current in zip(groups, optimizer.param_groups, strict=False):
        for key, value in group.items():
            if isinstance(current.get(key), tuple) and isinstance(value, list):
                group[key] = tuple(value)
    return {"state": state, "param_groups": groups}
