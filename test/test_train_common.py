"""Training infrastructure: config + overrides, checkpoints, EMA, the progress logger, train.py."""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from training.common import (
    EMA,
    CheckpointError,
    CheckpointManager,
    ConfigError,
    DistInfo,
    TrainLogger,
    config_from_dict,
    load_config,
    save_config,
)

ROOT = Path(__file__).resolve().parents[1]
MAIN = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), is_main=True)
OTHER_RANK = DistInfo(rank=1, world_size=2, local_rank=1, device=torch.device("cpu"), is_main=False)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 4, generator=generator)
        loss = model(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_same_state(a[key], b[key])
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


# ----------------------------------------------------------------------------------------- config


def test_load_config_applies_dotted_overrides_with_yaml_values(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("stage: maskpred\noptim:\n  lr: 1.0e-3\n  betas: [0.9, 0.99]\nsteps: 100\n")
    config = load_config(path, ["optim.lr=3e-4", "steps=5", "data.size=[64, 64]", "ema=false"])
    assert config == {
        "stage": "maskpred",
        "optim": {"lr": 3e-4, "betas": [0.9, 0.99]},
        "steps": 5,
        "data": {"size": [64, 64]},
        "ema": False,
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("steps", "expected key=value"),
        ("=3", "expected key=value"),
        ("steps.x=1", "steps is 100, not a section"),
    ],
)
def test_bad_overrides_are_named(tmp_path, override, message):
    path = tmp_path / "train.yaml"
    path.write_text("steps: 100\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, [override])


def test_a_config_that_is_not_a_mapping_or_not_yaml_is_an_error(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(path)
    path.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_save_config_round_trips(tmp_path):
    config = {"stage": "x", "optim": {"lr": 0.001}}
    save_config(tmp_path / "run" / "config.yaml", config)
    assert load_config(tmp_path / "run" / "config.yaml") == config


# ----------------------------------------------------------------------------------------- checkpoints


def test_a_checkpoint_restores_model_optimizer_step_and_extra_exactly(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_steps(model, optimizer, 3)
    manager = CheckpointManager(tmp_path, keep=2, is_main=True)
    manager.save(3, {"model": model}, {"optim": optimizer}, {"best_loss": 0.5})

    restored = tiny_model(seed=99)
    restored_optimizer = torch.optim.Adam(restored.parameters(), lr=1.0)
    step, extra = manager.load_latest({"model": restored}, {"optim": restored_optimizer})
    assert (step, extra) == (3, {"best_loss": 0.5})
    assert_same_state(model.state_dict(), restored.state_dict())
    assert_same_state(optimizer.state_dict(), restored_optimizer.state_dict())
    # and training continues identically
    train_steps(model, optimizer, 2, seed=1)
    train_steps(restored, restored_optimizer, 2, seed=1)
    assert_same_state(model.state_dict(), restored.state_dict())


def test_sgd_state_without_tensors_round_trips(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    train_steps(model, optimizer, 1)
    manager = CheckpointManager(tmp_path, is_main=True)
    manager.save(1, {"model": model}, {"optim": optimizer})
    restored_optimizer = torch.optim.SGD(tiny_model().parameters(), lr=0.5)
    manager.load_latest({"model": tiny_model()}, {"optim": restored_optimizer})
    assert restored_optimizer.param_groups[0]["lr"] == 0.1


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    model = tiny_model()
    manager = CheckpointManager(tmp_path, keep=2, is_main=True)
    for step in (10, 20, 30):
        manager.save(step, {"model": model}, {})
    assert [p.name for p in manager.paths()] == ["step_000000020.safetensors", "step_000000030.safetensors"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [p.name for p in manager.paths()]


def test_no_checkpoint_means_a_fresh_start(tmp_path):
    assert CheckpointManager(tmp_path, is_main=True).load_latest({"model": tiny_model()}, {}) is None


def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    model = tiny_model()
    manager = CheckpointManager(tmp_path, keep=3, is_main=True)
    manager.save(1, {"model": model}, {})
    newest = manager.save(2, {"model": model}, {})
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(UserWarning, match="skipping unreadable checkpoint"):
        step, _ = manager.load_latest({"model": tiny_model()}, {})
    assert step == 1


def test_leftover_temporary_files_of_a_killed_writer_are_ignored_and_removed(tmp_path):
    manager = CheckpointManager(tmp_path, is_main=True)
    manager.save(5, {"model": tiny_model()}, {})
    partial = tmp_path / "checkpoints" / ".step_000000010.safetensors.abc123.tmp"
    partial.write_bytes(b"half a file")
    assert manager.load_latest({"model": tiny_model()}, {})[0] == 5
    CheckpointManager(tmp_path, is_main=True)
    assert not partial.exists()


def test_a_checkpoint_of_another_architecture_is_an_error_naming_the_keys(tmp_path):
    manager = CheckpointManager(tmp_path, is_main=True)
    manager.save(1, {"model": tiny_model()}, {})
    other = nn.Sequential(nn.Linear(4, 16))
    with pytest.raises(Exception, match=r"shape-mismatched key\(s\)") as error:
        manager.load_latest({"model": other}, {})
    assert "step_000000001.safetensors" in str(error.value)


def test_resuming_with_other_model_names_is_an_error(tmp_path):
    manager = CheckpointManager(tmp_path, is_main=True)
    manager.save(1, {"model": tiny_model()}, {})
    with pytest.raises(CheckpointError, match=r"holds models \['model'\], the trainer resumes \['unet'\]"):
        manager.load_latest({"unet": tiny_model()}, {})


def test_extra_must_be_json(tmp_path):
    manager = CheckpointManager(tmp_path, is_main=True)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        manager.save(1, {"model": tiny_model()}, {}, {"bad": object()})
    assert manager.paths() == []


def test_a_process_that_is_not_main_writes_nothing(tmp_path):
    manager = CheckpointManager(tmp_path / "run", is_main=False)
    assert manager.save(1, {"model": tiny_model()}, {}) is None
    assert not (tmp_path / "run").exists()


def test_the_checkpoint_file_holds_no_pickle(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters())
    train_steps(model, optimizer, 1)
    path = CheckpointManager(tmp_path, is_main=True).save(1, {"model": model}, {"optim": optimizer})
    header_size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_size])
    assert header["__metadata__"]["format"] == "egoexo-checkpoint/1"
    assert b"\x80\x04" not in path.read_bytes()[: 8 + header_size]  # no pickle protocol marker


KILLABLE_TRAINER = '''
"""A tiny deterministic training loop that checkpoints every 5 steps; killed and resumed by the test."""
import sys, time
import torch
from torch import nn
from training.common import CheckpointManager

def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    return model, torch.optim.Adam(model.parameters(), lr=1e-2)

def run(run_dir, total_steps, step_delay):
    torch.set_num_threads(1)
    model, optimizer = build()
    manager = CheckpointManager(run_dir, keep=2, is_main=True)
    resumed = manager.load_latest({"model": model}, {"optim": optimizer})
    start = resumed[0] if resumed else 0
    print(f"start {start}", flush=True)
    for step in range(start + 1, total_steps + 1):
        data = torch.Generator().manual_seed(step)  # the data of a step depends on the step only
        x = torch.randn(8, 4, generator=data)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 5 == 0:
            manager.save(step, {"model": model}, {"optim": optimizer}, {"loss": loss.item()})
        time.sleep(step_delay)
    return model, optimizer

if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
'''


@pytest.mark.slow
def test_a_killed_training_process_resumes_from_its_last_checkpoint_identically(tmp_path):
    script = tmp_path / "killable_trainer.py"
    script.write_text(KILLABLE_TRAINER)
    run_dir = tmp_path / "run"
    command = [sys.executable, str(script), str(run_dir), "40", "0.05"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    manager = CheckpointManager(run_dir, is_main=True)
    saved_steps = lambda: [int(p.stem.removeprefix("step_")) for p in manager.paths()]  # noqa: E731
    deadline = time.monotonic() + 60
    try:
        while not any(step >= 10 for step in saved_steps()):
            assert process.poll() is None, "the trainer ended before it was killed"
            assert time.monotonic() < deadline, "no checkpoint appeared within 60 s"
            time.sleep(0.02)
    finally:
        process.kill()  # SIGKILL, mid-run
        process.wait()
    assert process.returncode == -9
    killed_at = saved_steps()[-1]
    assert 10 <= killed_at < 40

    resumed = subprocess.run([*command[:-1], "0"], capture_output=True, text=True, env=env, check=True)
    assert resumed.stdout.splitlines()[0] == f"start {killed_at}"

    # The state after resuming equals an uninterrupted run's, weights and Adam moments alike.
    spec = importlib.util.spec_from_file_location("killable_trainer", script)
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    reference_model, reference_optimizer = trainer.run(tmp_path / "reference", 40, 0.0)
    model, optimizer = trainer.build()
    step, _ = CheckpointManager(run_dir, is_main=True).load_latest({"model": model}, {"optim": optimizer})
    assert step == 40
    assert_same_state(reference_model.state_dict(), model.state_dict())
    assert_same_state(reference_optimizer.state_dict(), optimizer.state_dict())


# ----------------------------------------------------------------------------------------- EMA


def test_ema_moves_towards_the_model_by_one_minus_decay():
    model = tiny_model()
    ema = EMA(model, decay=0.75)
    before = [p.clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    ema.update(model)
    for average, old, current in zip(ema.module.parameters(), before, model.parameters(), strict=True):
        torch.testing.assert_close(average, 0.75 * old + 0.25 * current)
        assert not average.requires_grad


def test_ema_rejects_a_decay_outside_zero_to_one():
    with pytest.raises(ValueError, match="decay must be within"):
        EMA(tiny_model(), decay=1.5)


# ----------------------------------------------------------------------------------------- logger


def test_the_logger_writes_tensorboard_and_metrics_on_the_main_process(tmp_path, capsys):
    with TrainLogger(tmp_path / "run", MAIN, total_steps=4) as log:
        for step in range(1, 5):
            log.log(step, {"loss": 1.0 / step}, samples=8)
        log.info("done")
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4]
    assert lines[-1]["loss"] == 0.25 and lines[-1]["samples_per_s"] > 0
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    err = capsys.readouterr().err
    assert "4/4" in err and "loss=0.25" in err and "done" in err


def test_the_logger_of_another_rank_writes_and_prints_nothing(tmp_path, capsys):
    with TrainLogger(tmp_path / "run", OTHER_RANK, total_steps=4) as log:
        log.log(1, {"loss": 1.0})
        log.info("hello")
    assert not (tmp_path / "run").exists()
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------------------- train.py


def test_train_py_as_a_script_names_the_known_stages_for_an_unknown_one(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("stage: no_such_stage\n")
    result = subprocess.run(
        [sys.executable, str(ROOT / "training" / "train.py"), "--config", str(config), "steps=3"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "stage 'no_such_stage' is not a known training stage; known stages: [" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_py_runs_the_stage_module_with_the_overridden_config(tmp_path, monkeypatch):
    import training.train as train_py
    import training.trainers

    package = tmp_path / "stages"
    package.mkdir()
    (package / "toy.py").write_text(
        "CALLS = []\ndef train(config, config_path):\n    CALLS.append((config, config_path))\n"
    )
    monkeypatch.setattr(training.trainers, "__path__", [*training.trainers.__path__, str(package)])
    config = tmp_path / "toy.yaml"
    config.write_text("stage: toy\nsteps: 10\n")
    assert train_py.main(["--config", str(config), "steps=3"]) == 0
    calls = sys.modules["training.trainers.toy"].CALLS
    assert calls == [({"stage": "toy", "steps": 3}, config)]
    monkeypatch.delitem(sys.modules, "training.trainers.toy")


def test_every_known_stage_is_a_trainer():
    import importlib

    from training.train import known_stages

    stages = known_stages()
    assert set(stages) == {"maskpred", "segmenter", "vae", "video_diffusion"}
    for stage in stages:
        assert callable(importlib.import_module(f"training.trainers.{stage}").train), stage


@pytest.mark.parametrize("path", sorted((ROOT / "config" / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_training_yaml_is_a_valid_config_of_its_stage(path):
    from training.trainers.maskpred import MaskpredStage
    from training.trainers.segmenter import SegmenterStage
    from training.trainers.vae import VAETrainConfig
    from training.trainers.video_diffusion import VideoDiffusionTrainConfig

    config_classes = {
        "maskpred": MaskpredStage,
        "segmenter": SegmenterStage,
        "vae": VAETrainConfig,
        "video_diffusion": VideoDiffusionTrainConfig,
    }
    raw = load_config(path, [])
    config_from_dict(config_classes[raw["stage"]], raw, str(path))
