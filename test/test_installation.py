"""The venv set-up installs egoexo so that every entry point works from any directory."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_our_packages_resolve_to_this_checkout_outside_the_repository(tmp_path):
    """Another distribution's top-level `training` package (sam2 ships one) must not shadow ours."""
    probe = "import training, egoexo_models, egoexo_ros.msg; print(training.__file__); print(egoexo_models.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert [Path(line).parent.parent for line in result.stdout.split()] == [ROOT, ROOT]


def test_the_egoexo_command_lists_every_subcommand(tmp_path):
    result = subprocess.run(
        [str(BIN / "egoexo"), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("demo", "sim", "predict", "evaluate", "annotate", "export", "ros"):
        assert command in result.stdout


def test_training_runs_as_a_script_from_any_directory(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "training" / "train.py"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout
