"""Check a user-given torch device name once, at the edge, with an error that says what to use."""

from __future__ import annotations


def torch_device_problem(device: str) -> str | None:
    """Why torch cannot run on `device` (not a device name, or no CUDA GPU here); None when it can."""
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError as error:
        return f"{device!r} is not a torch device ({error}); use cpu or cuda"
    if kind == "cuda" and not torch.cuda.is_available():
        return f"{device!r}: this machine has no CUDA GPU that torch can use; use cpu"
    return None
