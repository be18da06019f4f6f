"""`colcon build` builds the package as a ROS 2 install would: interfaces, Python, nodes, launch, config.

Uses colcon and the ROS 2 Jazzy wheels of the venv as the underlay (the same CMakeLists.txt a
Jazzy install builds; the wheel include paths are mapped by cmake/relocate_wheel_paths.cmake).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
SKIP = shutil.ignore_patterns(
    ".venv", ".git", "build", "install", "log", "outputs", "__pycache__", "*.egg-info"
)


@pytest.mark.slow
def test_colcon_build_installs_interfaces_nodes_launch_and_config(tmp_path):
    colcon = VENV / "bin" / "colcon"
    source = tmp_path / "src" / "egoexo"
    shutil.copytree(ROOT, source, ignore=SKIP)
    env = dict(
        os.environ,
        PATH=f"{VENV / 'bin'}:{os.environ['PATH']}",
        AMENT_PREFIX_PATH=str(VENV),
        CMAKE_PREFIX_PATH=str(VENV),
    )
    build = subprocess.run(
        [
            str(colcon),
            "build",
            "--cmake-args",
            "-G",
            "Ninja",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DBUILD_TESTING=OFF",
            f"-DCMAKE_PROJECT_INCLUDE={source / 'cmake' / 'relocate_wheel_paths.cmake'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    prefix = tmp_path / "install" / "egoexo_ros"
    assert (prefix / "share" / "egoexo_ros" / "launch" / "predict.launch.py").is_file()
    assert (prefix / "share" / "egoexo_ros" / "config" / "predict.yaml").is_file()
    for node in ("mask_node", "video_node"):
        assert os.access(prefix / "lib" / "egoexo_ros" / node, os.X_OK), node

    site = next(prefix.glob("lib/python3*/site-packages"))
    probe = "import egoexo_ros.msg as m, egoexo_models; print(m.__file__); print(egoexo_models.__file__)"
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=dict(env, PYTHONPATH=str(site)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert all(line.startswith(str(prefix)) for line in run.stdout.split()), run.stdout
