"""The VAE and the two video-diffusion phases train, checkpoint, resume and export (tiny, on the sample clips)."""

from pathlib import Path

import pytest
import torch
import yaml

from egoexo_models.diffusion.model import load_video_diffusion
from egoexo_models.diffusion.tiny import tiny_diffusion_config, tiny_vae_config, write_tiny_text_encoder
from egoexo_models.diffusion.vae import load_vae
from egoexo_models.weights import config_to_dict, read_weights_config
from training.train import main as train_main

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "train"
SAMPLES_VAL = SAMPLES.parent / "val"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason="needs the sample clips under samples/train"),
]


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """VAE (3 steps), phase 1 (3 steps), phase 2 (2 steps, validated at each), tiny models."""
    root = tmp_path_factory.mktemp("train")
    text_dir = write_tiny_text_encoder(root / "text")
    vae_yaml = write_config(
        root / "vae.yaml",
        {
            "stage": "vae",
            "data_root": str(SAMPLES),
            "run_dir": str(root / "vae"),
            "model": config_to_dict(tiny_vae_config()),
            "steps": 3,
            "batch_clips": 2,
            "frames_per_clip": 2,
            "crop_size": 32,
            "checkpoint_every": 2,
            "log_every": 1,
            "num_workers": 0,
            "device": "cpu",
        },
    )
    assert train_main(["--config", str(vae_yaml)]) == 0
    model = config_to_dict(tiny_diffusion_config(text_path=str(text_dir), num_frames=4, size=16))
    common = {
        "stage": "video_diffusion",
        "data_root": str(SAMPLES),
        "model": model,
        "vae_weights": str(root / "vae" / "final"),
        "cache_dir": str(root / "cache"),
        "batch_size": 2,
        "checkpoint_every": 2,
        "log_every": 1,
        "device": "cpu",
    }
    phase1 = write_config(root / "p1.yaml", {**common, "phase": 1, "run_dir": str(root / "p1"), "steps": 3})
    assert train_main(["--config", str(phase1)]) == 0
    phase2 = write_config(
        root / "p2.yaml",
        {
            **common,
            "phase": 2,
            "run_dir": str(root / "p2"),
            "steps": 2,
            "init_from": str(root / "p1" / "final"),
            "val_root": str(SAMPLES_VAL),
            "val_clips": 2,
            "val_every": 1,
        },
    )
    assert train_main(["--config", str(phase2)]) == 0
    return root


def test_vae_training_exports_weights_with_a_measured_latent_scale(trained):
    vae = load_vae(trained / "vae" / "final")
    assert vae.config.scaling_factor != 1.0
    assert read_weights_config(trained / "vae" / "final")["metadata"]["steps"] == 3


def test_phase2_keeps_the_phase1_unet_and_trains_only_psi_and_projections(trained):
    phase1 = load_video_diffusion(trained / "p1" / "final")
    phase2 = load_video_diffusion(trained / "p2" / "final")
    p1, p2 = phase1.state_dict(), phase2.state_dict()
    changed = {key for key in p1 if not p1[key].equal(p2[key])}
    assert changed, "phase 2 changed nothing"
    assert all(key.startswith("mask_encoder.") or ".mask_proj." in key for key in changed)


def test_phase2_logs_the_validation_loss_with_and_without_masks_at_fixed_noise(trained):
    import json

    records = [json.loads(line) for line in (trained / "p2" / "metrics.jsonl").read_text().splitlines()]
    validations = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in validations] == [1, 2]
    for record in validations:
        assert record["val_mask_gain"] == pytest.approx(record["val_loss_no_masks"] - record["val_loss"])
    # ψ's zero-initialised outputs have barely moved after 2 steps, and the fixed noise makes the
    # two no-mask losses (of a frozen UNet) identical
    assert validations[0]["val_loss_no_masks"] == validations[1]["val_loss_no_masks"]
    assert read_weights_config(trained / "p2" / "final")["metadata"]["val"] == {
        name: round(value, 5) for name, value in validations[-1].items() if name.startswith("val_")
    }


def test_validation_losses_use_the_same_noise_each_call_and_restore_training_mode(trained):
    from training.trainers.video_diffusion import load_latent_cache, validation_losses

    [val_cache] = (trained / "cache").glob("val_*")
    data = load_latent_cache(val_cache, torch.device("cpu"))
    model = load_video_diffusion(trained / "p2" / "final").train()

    first = validation_losses(model, data, with_masks=True)
    second = validation_losses(model, data, with_masks=True)

    assert first == second and model.training
    assert set(first) == {"val_loss", "val_loss_no_masks", "val_mask_gain"}
    assert set(validation_losses(model, data, with_masks=False)) == {"val_loss"}


def test_a_finished_run_resumes_from_its_last_checkpoint_without_retraining(trained, capsys):
    checkpoints = sorted((trained / "p1" / "checkpoints").iterdir())
    assert checkpoints[-1].name == "step_000000003.safetensors"
    assert train_main(["--config", str(trained / "p1.yaml")]) == 0  # resumes at step 3 of 3: no steps left
    assert "start at step 3" in capsys.readouterr().err


def test_phase2_without_phase1_weights_is_a_config_error(tmp_path, capsys):
    config = write_config(
        tmp_path / "bad.yaml",
        {"stage": "video_diffusion", "phase": 2, "data_root": str(SAMPLES), "run_dir": str(tmp_path / "run")},
    )
    assert train_main(["--config", str(config)]) == 2
    assert "phase 2 needs init_from" in capsys.readouterr().err


def test_copied_latent_caches_train_and_validate_without_the_clips_and_a_time_budget_stops_the_run(
    trained, tmp_path
):
    [cache] = (trained / "cache").glob("clips_*")
    [val_cache] = (trained / "cache").glob("val_*")
    copied, copied_val = tmp_path / "carried.safetensors", tmp_path / "carried_val.safetensors"
    copied.write_bytes(cache.read_bytes())
    copied_val.write_bytes(val_cache.read_bytes())
    config = yaml.safe_load((trained / "p1.yaml").read_text())
    config |= {
        "data_root": str(tmp_path / "no_clips_here"),
        "latent_cache": str(copied),
        "val_root": str(tmp_path / "no_val_clips_here"),
        "val_latent_cache": str(copied_val),
        "run_dir": str(tmp_path / "run"),
        "steps": 1000,
        "max_train_s": 0.0,
    }

    assert train_main(["--config", str(write_config(tmp_path / "carried.yaml", config))]) == 0

    metadata = read_weights_config(tmp_path / "run" / "final")["metadata"]
    assert metadata["steps"] == 1 and metadata["data_root"] == str(copied)
    assert set(metadata["val"]) == {"val_loss"}  # phase 1: no masks to compare
    assert (
        load_video_diffusion(tmp_path / "run" / "final").config.fps
        == load_video_diffusion(trained / "p1" / "final").config.fps
    )


def test_phase2_from_a_latent_cache_without_masks_is_a_config_error(trained, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    [cache] = (trained / "cache").glob("clips_*")
    without_masks = {k: v for k, v in load_file(cache).items() if k != "masks"}
    save_file(without_masks, tmp_path / "no_masks.safetensors", metadata={"fps": "8.0"})
    config = yaml.safe_load((trained / "p2.yaml").read_text())
    config |= {"latent_cache": str(tmp_path / "no_masks.safetensors"), "run_dir": str(tmp_path / "run")}

    assert train_main(["--config", str(write_config(tmp_path / "p2.yaml", config))]) == 2
    assert "has none" in capsys.readouterr().err


def test_max_clips_takes_the_first_clips_of_a_copied_latent_cache(trained, tmp_path):
    [cache] = (trained / "cache").glob("clips_*")
    config = yaml.safe_load((trained / "p1.yaml").read_text())
    config |= {"latent_cache": str(cache), "max_clips": 1, "run_dir": str(tmp_path / "run"), "steps": 1}

    assert train_main(["--config", str(write_config(tmp_path / "one_clip.yaml", config))]) == 0

    assert read_weights_config(tmp_path / "run" / "final")["metadata"]["clips"] == 1


def test_the_denoising_loss_script_scores_the_last_clips_of_a_cache(trained):
    import json
    import subprocess
    import sys

    [val_cache] = (trained / "cache").glob("val_*")
    script = Path(__file__).resolve().parent.parent / "scripts" / "denoising_loss.py"
    command = [
        sys.executable,
        str(script),
        str(val_cache),
        "--weights",
        str(trained / "p2" / "final"),
        "--last",
        "1",
    ]
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert result["clips"] == "1..1"
    assert result["val_mask_gain"] == pytest.approx(result["val_loss_no_masks"] - result["val_loss"])
