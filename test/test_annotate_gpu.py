"""The annotation pipeline on a CUDA GPU: prompters and SAM-2 agree with the CPU, and the speed
benchmark runs there (skipped without a GPU)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_annotate_support import colour_frames

from training.annotate import build_prompter
from training.annotation.keyframes import KeyframePolicy, mask_iou
from training.annotation.prompts import FramePrompt

DEVICE = "cuda"
REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
needs_sam2 = pytest.mark.skipif(
    importlib.util.find_spec("sam2") is None, reason="the sam2 package is not installed (docs/annotation.md)"
)


@pytest.mark.parametrize("name", ["ego-segmenter", "exo-segmenter"])
def test_our_segmenters_label_frames_on_the_gpu_as_on_the_cpu(name):
    frames, _ = colour_frames(3, 64)
    on_cpu, on_gpu = build_prompter(name, "cpu"), build_prompter(name, DEVICE)
    for frame in frames:
        cpu_labels, gpu_labels = on_cpu.prompt(frame).labels, on_gpu.prompt(frame).labels
        assert gpu_labels.shape == cpu_labels.shape
        assert (gpu_labels == cpu_labels).mean() > 0.99  # argmax ties may flip under other kernels


@needs_sam2
def test_sam2_tracks_on_the_gpu_and_keeps_its_prompted_masks():
    from training.annotation.sam2_tracker import build_sam2_tracker

    tracker = build_sam2_tracker("sam2.1_hiera_t", None, device=DEVICE, image_size=64, allow_random_init=True)
    frames, labels = colour_frames(6, 32)
    prompts = [FramePrompt(labels=frame_labels) for frame_labels in labels]
    result = tracker.track(frames, prompts, KeyframePolicy())
    assert result.labels.shape == labels.shape and set(np.unique(result.labels)) <= {0, 1, 2}
    for name, label in (("hand", 1), ("object", 2)):
        for frame in result.keyframes[name]:
            assert mask_iou(result.labels[frame] == label, labels[frame] == label) > 0.8


@needs_sam2
def test_the_annotation_benchmark_measures_frames_per_second_on_the_gpu(tmp_path):
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        str(REPO / "bench" / "bench_annotate.py"),
        "--clips",
        str(REPO / "samples" / "val"),
        "--prompter",
        "exo=exo-segmenter",
        "--prompter",
        "ego=ego-segmenter",
        "--sam2-clips",
        "1",
        "--device",
        DEVICE,
        "--json",
        str(out),
    ]
    subprocess.run(command, check=True, timeout=600)
    results = json.loads(out.read_text())["results"]
    measured = {name: row["frames_per_s"] for name, row in results.items() if row["frames_per_s"] is not None}
    assert any(name.startswith("exo exo-segmenter") and name.endswith("per-frame") for name in measured)
    assert any(name.endswith("+sam2") for name in measured)
    assert all(fps > 0 for fps in measured.values())
