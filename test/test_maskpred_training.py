"""Trainers of Φseg and the segmenters: schedules, loss, a tiny run that checkpoints, resumes and exports,
and the same run under torchrun with two gloo processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from egoexo_models.maskpred import (
    MaskPredictorConfig,
    SegmenterConfig,
    load_exo_segmenter,
    load_mask_predictor,
)
from egoexo_models.maskpred.losses import bce_dice_loss
from egoexo_models.nn import ResNetEncoder
from training.trainers.maskpred import OptimConfig, alpha_at, hide_ego_frames, visible_prefix_limit

REPO = Path(__file__).resolve().parent.parent
TINY_MODEL = {
    "image_size": [32, 32],
    "stem_width": 8,
    "encoder_widths": [8, 8, 16],
    "encoder_blocks": [1, 1, 1],
    "mask_encoder_widths": [8, 8],
    "mask_encoder_blocks": [1, 1],
    "key_dim": 8,
    "value_dim": 16,
    "decoder_widths": [16, 8],
    "memory_ring": 2,
    "query": "both",
}


def test_alpha_anneals_from_one_to_zero_for_both_and_is_fixed_for_the_ablations():
    optim = OptimConfig(alpha_anneal_steps=100)
    assert [alpha_at(s, optim, "both") for s in (0, 50, 100, 200)] == [1.0, 0.5, 0.0, 0.0]
    assert alpha_at(10, optim, "exo") == 0.0 and alpha_at(10, optim, "ego") == 1.0


def test_ego_frames_are_hidden_progressively_down_to_the_first_frame():
    optim = OptimConfig(ego_hide_steps=100)
    assert [visible_prefix_limit(s, optim, 16) for s in (0, 50, 100, 500)] == [16, 8, 1, 1]
    ego = torch.ones(64, 5, 3, 2, 2)
    hidden = hide_ego_frames(ego, 3, torch.Generator().manual_seed(0))
    visible = hidden.flatten(2).amax(dim=2)  # (B, T) 1 where the frame is shown
    assert torch.equal(visible[:, 0], torch.ones(64))  # the first frame is always seen
    assert torch.all(visible[:, 3:] == 0)  # never more than `limit` frames
    assert set(visible.sum(dim=1).tolist()) == {1.0, 2.0, 3.0}  # prefixes of 1..limit frames
    assert torch.all(visible[:, 1:] <= visible[:, :-1])  # a prefix: no frame shown after a hidden one


@pytest.mark.slow
def test_too_few_clips_for_one_batch_is_a_named_error(tmp_path):
    config = write_config(tmp_path, "maskpred", TINY_MODEL, steps=1, batch_size=3)
    done = subprocess.run(
        [sys.executable, str(REPO / "training" / "train.py"), "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert done.returncode != 0 and "gives no full batch: 2 clip(s) for batches of 3" in done.stderr


def test_the_loss_rewards_the_right_labels():
    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    labels[:, 2:5, 2:5] = 1
    labels[:, 6:, 6:] = 2
    right = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float() * 20.0
    wrong = right.roll(1, dims=1)
    good, parts = bce_dice_loss(right, labels)
    bad, _ = bce_dice_loss(wrong, labels)
    assert good < 0.01 < 1.0 < bad and set(parts) == {"bce", "dice"}


def write_config(tmp_path: Path, stage: str, model: dict, **optim) -> Path:
    config = {
        "stage": stage,
        "run_dir": str(tmp_path / "run"),
        "data": {
            "train": str(REPO / "samples" / "train"),
            "val": str(REPO / "samples" / "val"),
            "num_frames": 4,
            "augment": True,
            "workers": 0,
            "val_clips": 1,
        },
        "model": model,
        "optim": {
            "batch_size": 2,
            "checkpoint_every": 1,
            "log_every": 1,
            "val_every": 2,
            "device": "cpu",
            **optim,
        },
    }
    path = tmp_path / f"{stage}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def train(config: Path, *overrides: str, launcher: tuple[str, ...] = ()) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [*launcher, str(REPO / "training" / "train.py"), "--config", str(config), *overrides]
    if not launcher:
        command = [sys.executable, *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
def test_a_tiny_run_checkpoints_resumes_after_a_stop_and_exports_loadable_weights(tmp_path):
    config = write_config(tmp_path, "maskpred", TINY_MODEL, steps=2, alpha_anneal_steps=2, ego_hide_steps=2)
    train(config)
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_000000001.safetensors",
        "step_000000002.safetensors",
    ]
    output = train(config, "optim.steps=3")
    assert "resumed from step 2" in output
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]
    assert any("val_iou_unobserved" in r for r in records)
    predictor = load_mask_predictor(run / "weights")
    assert predictor.config == MaskPredictorConfig(**TINY_MODEL)
    metadata = json.loads((run / "weights" / "config.json").read_text())["metadata"]
    assert metadata["steps"] == 3 and metadata["wall_time_s"] > 0 and "val_iou_unobserved" in metadata["val"]


@pytest.mark.slow
def test_training_runs_under_torchrun_with_two_gloo_processes(tmp_path):
    config = write_config(
        tmp_path, "maskpred", TINY_MODEL, steps=2, alpha_anneal_steps=2, ego_hide_steps=2, batch_size=1
    )
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    train(config, launcher=launcher)
    metadata = json.loads((tmp_path / "run" / "weights" / "config.json").read_text())["metadata"]
    assert metadata["processes"] == 2 and metadata["steps"] == 2


@pytest.mark.slow
def test_the_segmenter_trainer_starts_from_imagenet_weights_and_exports_a_loadable_segmenter(tmp_path):
    model = {
        "image_size": [32, 32],
        "view": "exo",
        "stem_width": 8,
        "stem_kernel": 7,
        "encoder_widths": [8, 8, 16],
        "decoder_widths": [16, 8, 8],
    }
    torch.save(ResNetEncoder(3, 8, (8, 8, 16, 32), (1, 1, 1, 1)).state_dict(), tmp_path / "resnet.pth")
    config = write_config(tmp_path, "segmenter", model, steps=2, frames_per_clip=2)
    train(config, f"imagenet_resnet={tmp_path / 'resnet.pth'}")
    segmenter = load_exo_segmenter(tmp_path / "run" / "weights")
    assert segmenter.config == SegmenterConfig(**model)
    torch.save(ResNetEncoder(3, 16, (16, 16, 16), (1, 1, 1)).state_dict(), tmp_path / "wide.pth")
    with pytest.raises(AssertionError, match=r"conv1\.weight has shape"):
        train(config, f"imagenet_resnet={tmp_path / 'wide.pth'}", f"run_dir={tmp_path / 'run2'}")
