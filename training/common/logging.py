"""Training progress on the main process: a tqdm bar with loss and rate, TensorBoard scalars, and
the same scalars as JSON lines (RUN_DIR/metrics.jsonl) for model cards and scripts.

    RUN_DIR/tensorboard/events.out.tfevents.*    tensorboard --logdir RUN_DIR/tensorboard
    RUN_DIR/metrics.jsonl                        {"step": 10, "loss": 0.53, ...} per logged step

Other ranks get a logger that does nothing, so trainers call it unconditionally.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from training.common.distributed import DistInfo


class TrainLogger:
    """Progress bar, TensorBoard and metrics.jsonl for one run; use as a context manager or close().

    Args:
        run_dir: the run's directory.
        dist: this process's place in the run; only the main process writes or prints.
        total_steps: the last step of the run (the bar's length).
        start_step: the step a resumed run starts from.
    """

    def __init__(
        self, run_dir: str | os.PathLike, dist: DistInfo, total_steps: int, *, start_step: int = 0
    ) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = dist.is_main
        self.total_steps = total_steps
        self._step = start_step
        self._last_time = time.perf_counter()
        self._bar = None
        self._writer = None
        self._metrics = None
        if not self.enabled:
            return
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
        # line-buffered, so a running job's metrics can be followed with tail -f
        self._metrics = open(self.run_dir / "metrics.jsonl", "a", buffering=1)  # noqa: SIM115 (closed in close())
        self._bar = tqdm(
            total=total_steps,
            initial=start_step,
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
            smoothing=0.1,
        )

    def log(self, step: int, scalars: dict[str, float], *, samples: int | None = None) -> None:
        """Record `scalars` at `step` and move the bar there; `samples` per step adds a samples/s figure."""
        if not self.enabled:
            return
        values = {name: float(value) for name, value in scalars.items()}
        now = time.perf_counter()
        steps_done = step - self._step
        if samples is not None and steps_done > 0 and now > self._last_time:
            values["samples_per_s"] = samples * steps_done / (now - self._last_time)
        for name, value in values.items():
            if math.isfinite(value):
                self._writer.add_scalar(name, value, step)
        self._metrics.write(json.dumps({"step": step, **values}) + "\n")
        self._bar.set_postfix({name: _short(value) for name, value in values.items()}, refresh=False)
        self._bar.update(max(0, steps_done))
        self._step, self._last_time = step, now

    def info(self, message: str) -> None:
        """Print a line above the bar (main process only)."""
        if self.enabled:
            self._bar.write(message, file=sys.stderr)

    def close(self) -> None:
        if not self.enabled or self._bar is None:
            return
        self._bar.close()
        self._writer.close()
        self._metrics.close()
        self._bar = None

    def __enter__(self) -> TrainLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _short(value: float) -> str:
    return f"{value:.4g}"
