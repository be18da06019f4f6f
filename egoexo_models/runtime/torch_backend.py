"""PyTorch eager runtime."""

from __future__ import annotations

import logging

import numpy as np
import torch

from egoexo_models.runtime.base import BackendUnavailableError, Runtime

log = logging.getLogger(__name__)


class TorchRuntime(Runtime):
    backend = "torch"

    def __init__(self, module: torch.nn.Module, *, device: str, fp16: bool) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"torch backend: device {device!r} requested but this torch has no CUDA GPU"
            )
        for attribute in ("input_names", "output_names", "example_inputs"):
            if not hasattr(module, attribute):
                raise ValueError(
                    f"torch_module {type(module).__name__} lacks `{attribute}` (see create_runtime)"
                )
        if fp16 and device == "cpu":
            log.warning("torch backend: fp16 is not used on CPU; running in float32")
        self.device = device
        self.provider = f"torch-{device}"
        self.fp16 = fp16 and device != "cpu"
        self.module = module.to(device).eval()
        self.input_names = tuple(module.input_names)
        self.output_names = tuple(module.output_names)
        self.input_shapes = {name: tuple(t.shape) for name, t in module.example_inputs().items()}

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.check_inputs(inputs)
        tensors = [torch.from_numpy(inputs[name]).to(self.device) for name in self.input_names]
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            outputs = self.module(*tensors)
        if isinstance(outputs, torch.Tensor):  # a one-output module may return the tensor itself
            outputs = (outputs,)
        return {name: out.float().cpu().numpy() for name, out in zip(self.output_names, outputs, strict=True)}

    def close(self) -> None:
        self.module = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
