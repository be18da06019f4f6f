"""Reading user-given weight files (third-party checkpoints) as flat state dicts, without pickled code.

`.safetensors` files are read with safetensors; `.pt`, `.pth`, `.bin` and `.ckpt` files with
`torch.load(weights_only=True)`, which refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from egoexo_models.weights import WeightsError

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def read_state_dict(path: str | os.PathLike, what: str) -> dict[str, torch.Tensor]:
    """A flat {name: tensor} state dict from `path`; `what` names the weights in error messages.

    Raises:
        WeightsError: the file is missing, unreadable, of an unknown kind, or not a flat mapping of
            names to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what}: {path} does not exist (give the path of the downloaded weight file)")
    try:
        if path.suffix == ".safetensors":
            state = load_file(path, device="cpu")
        elif path.suffix in TORCH_SUFFIXES:
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise WeightsError(
                f"{what}: {path} has suffix {path.suffix!r}; expected .safetensors or one of {TORCH_SUFFIXES}"
            )
    except (SafetensorError, OSError, RuntimeError, EOFError, ValueError) as error:
        if isinstance(error, WeightsError):
            raise
        raise WeightsError(f"{what}: {path} is not a readable weight file ({error})") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise WeightsError(
            f"{what}: {path} must hold a flat state dict of name -> tensor, got {type(state).__name__}"
        )
    return state
