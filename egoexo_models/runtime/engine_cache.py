"""The TensorRT engine cache: engines are keyed by GPU, compute capability, TensorRT version, ONNX hash, precision.

An engine is only valid for the GPU model and TensorRT version that built it, so the key names both;
a changed key means a new file name and hence a build. Writes are atomic, stale engines of the same
model are removed after a build, and every lookup logs whether the engine was loaded or built.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineKey:
    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    onnx_sha256: str
    fp16: bool

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def device_digest(self) -> str:
        """Identifies GPU + TensorRT only: the scope a timing cache is valid for."""
        text = f"{self.gpu_name}|{self.compute_capability}|{self.tensorrt_version}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class EngineCache:
    """Engine files `<model>-<key digest>.engine` (+ `.json` with the key) under one directory."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def engine_path(self, model_name: str, key: EngineKey) -> Path:
        return self.directory / f"{_safe_stem(model_name)}-{key.digest()}.engine"

    def timing_cache_path(self, key: EngineKey) -> Path:
        return self.directory / f"timing-{key.device_digest()}.cache"

    def load_or_build(
        self, model_name: str, key: EngineKey, build: Callable[[], bytes], *, force_rebuild: bool = False
    ) -> tuple[bytes, bool]:
        """Return (serialized engine, built): the cached engine for `key`, or `build()` written to the cache."""
        path = self.engine_path(model_name, key)
        if path.is_file() and not force_rebuild:
            data = path.read_bytes()
            if data:
                log.info("TensorRT engine loaded from cache: %s", path)
                return data, False
            log.warning("TensorRT engine cache entry %s is empty; rebuilding", path)
        log.info("building TensorRT engine for %s (key %s) ...", model_name, key.digest())
        data = build()
        atomic_write_bytes(path, data)
        atomic_write_bytes(path.with_suffix(".json"), (json.dumps(asdict(key), indent=1) + "\n").encode())
        for stale in self.directory.glob(f"{_safe_stem(model_name)}-*.engine"):
            if stale != path:
                stale.unlink(missing_ok=True)
                stale.with_suffix(".json").unlink(missing_ok=True)
                log.info("removed stale TensorRT engine %s", stale)
        log.info("TensorRT engine built and cached: %s", path)
        return data, True
