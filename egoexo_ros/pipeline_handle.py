"""One pipeline per process: the nodes of a process share it, it loads on the first acquire and closes on the last release.

Two nodes in two processes (ros2 launch) load a pipeline each; two nodes in one process
(`egoexo ros`) load it once. The pipeline is the only thing of egoexo_models the nodes call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from egoexo_ros.params import PipelineConfig


def load_pipeline(config: PipelineConfig) -> Any:
    """EgoExoPipeline.load with the nodes' parameters (imports the models only now)."""
    from egoexo_models.pipeline import EgoExoPipeline, PipelineOptions

    options = PipelineOptions(
        weights_dir=config.weights_dir,
        backend=config.backend,
        fallback=config.fallback,
        device=config.device,
        engine_cache_dir=config.engine_cache_dir,
        sampler=config.sampler,
        steps=config.steps,
        guidance_scale=config.guidance_scale,
        eta=config.eta,
        seed=config.seed,
        fp16=config.fp16,
    )
    return EgoExoPipeline.load(options)


class SharedPipeline:
    """Reference-counted pipeline: `acquire` loads it once, the last `release` closes it and frees its memory."""

    def __init__(self, loader: Callable[[PipelineConfig], Any] = load_pipeline) -> None:
        self._loader = loader
        self._pipeline: Any = None
        self._config: PipelineConfig | None = None
        self._users = 0
        self._lock = threading.Lock()

    def acquire(self, config: PipelineConfig) -> Any:
        """The pipeline for `config`, loaded now if no node holds it yet.

        Raises:
            ValueError: another node of this process holds a pipeline with other parameters.
        """
        with self._lock:
            if self._pipeline is None:
                self._pipeline, self._config = self._loader(config), config
            elif config != self._config:
                differing = [
                    k for k in config.__dataclass_fields__ if getattr(config, k) != getattr(self._config, k)
                ]
                raise ValueError(
                    f"the nodes of this process must share the pipeline parameters, but {', '.join(differing)} "
                    f"differ: set them once under /** in the parameters file"
                )
            self._users += 1
            return self._pipeline

    def release(self) -> None:
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                pipeline, self._pipeline, self._config = self._pipeline, None, None
                pipeline.close()
