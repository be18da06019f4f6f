"""The TensorRT engine cache: keyed by GPU, compute capability, TensorRT version, ONNX hash, precision."""

import json
from dataclasses import replace

from egoexo_models.runtime.engine_cache import EngineCache, EngineKey

KEY = EngineKey(
    gpu_name="NVIDIA H100",
    compute_capability="9.0",
    tensorrt_version="10.3.0",
    onnx_sha256="ab" * 32,
    fp16=True,
)


class CountingBuilder:
    """Records how often the engine was built; each build returns distinct bytes."""

    def __init__(self) -> None:
        self.builds = 0

    def __call__(self) -> bytes:
        self.builds += 1
        return f"engine-{self.builds}".encode()


def test_an_engine_is_built_once_then_loaded(tmp_path):
    cache, build = EngineCache(tmp_path), CountingBuilder()
    assert cache.load_or_build("maskpred_step", KEY, build) == (b"engine-1", True)
    assert cache.load_or_build("maskpred_step", KEY, build) == (b"engine-1", False)
    assert build.builds == 1
    sidecar = json.loads(cache.engine_path("maskpred_step", KEY).with_suffix(".json").read_text())
    assert sidecar["gpu_name"] == "NVIDIA H100" and sidecar["tensorrt_version"] == "10.3.0"


def test_every_key_field_change_rebuilds_and_removes_the_stale_engine(tmp_path):
    cache, build = EngineCache(tmp_path), CountingBuilder()
    cache.load_or_build("maskpred_step", KEY, build)
    changes = dict(
        gpu_name="Orin",
        compute_capability="8.7",
        tensorrt_version="10.4.0",
        onnx_sha256="cd" * 32,
        fp16=False,
    )
    for field, value in changes.items():
        key = replace(KEY, **{field: value})
        _, built = cache.load_or_build("maskpred_step", key, build)
        assert built, field
        assert len(list(tmp_path.glob("maskpred_step-*.engine"))) == 1
    assert build.builds == 1 + len(changes)


def test_force_rebuild_and_an_empty_cache_file_rebuild(tmp_path):
    cache, build = EngineCache(tmp_path), CountingBuilder()
    cache.load_or_build("m", KEY, build)
    assert cache.load_or_build("m", KEY, build, force_rebuild=True) == (b"engine-2", True)
    cache.engine_path("m", KEY).write_bytes(b"")
    assert cache.load_or_build("m", KEY, build) == (b"engine-3", True)


def test_engines_of_other_models_are_kept_and_timing_caches_are_per_gpu(tmp_path):
    cache, build = EngineCache(tmp_path), CountingBuilder()
    cache.load_or_build("maskpred_step", KEY, build)
    cache.load_or_build("exo_segmenter", KEY, build)
    assert len(list(tmp_path.glob("*.engine"))) == 2
    assert cache.timing_cache_path(KEY) == cache.timing_cache_path(replace(KEY, onnx_sha256="00" * 32))
    assert cache.timing_cache_path(KEY) != cache.timing_cache_path(replace(KEY, gpu_name="Orin"))
