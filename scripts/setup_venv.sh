#!/usr/bin/env bash
# Creates or updates .venv with everything egoexo needs on a machine without ROS 2:
# pinned Python dependencies, torch (only when none is installed), the ROS 2 Jazzy wheels,
# the msg/ interfaces built into the venv, egoexo itself (editable) and the Debian packages
# the sim world renders with. Safe to re-run; `make` calls it only when an input changed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
cd "$root"

step() { printf '[setup] %s\n' "$*"; }

ensure_debian_package() {  # $1: package, $2: file that proves it is installed
  if [ -e "$2" ] || dpkg -s "$1" >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing Debian package $1"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    step "WARNING: Debian package $1 is missing and this is not root: run 'sudo apt-get install $1'"
  fi
}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "egoexo needs Python 3.11 or newer; $("$python" --version) found. Set PYTHON=python3.11." >&2
  exit 1
fi

# libosmesa6 renders the MuJoCo sim world offscreen without a GPU (MUJOCO_GL=osmesa).
ensure_debian_package libosmesa6 /usr/lib/x86_64-linux-gnu/libOSMesa.so.8
ensure_debian_package libegl1 /usr/lib/x86_64-linux-gnu/libEGL.so.1

if [ ! -x "$venv/bin/python" ]; then
  step "creating $venv"
  "$python" -m venv "$venv"
fi
pip_install() {  # quiet, without the warnings about this machine's local package mirrors
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 | grep -v 'is ignored: it is neither' || true
  return "${PIPESTATUS[0]}"
}

if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  # Pinned: an unpinned torch pulls a CUDA build of several GB. An existing torch is kept.
  step "installing torch==2.13.0 (CPU)"
  pip_install torch==2.13.0
fi
step "installing pinned dependencies (requirements/*.txt)"
pip_install -r requirements/base.txt -r requirements/ros.txt -r requirements/dev.txt

if ! "$venv/bin/python" -c 'import sam2' 2>/dev/null; then
  # SAM-2 for the annotation pipeline. A plain `pip install sam2` replaces a CPU torch with a CUDA
  # build; this recipe keeps the installed torch and skips the CUDA extension.
  step "installing sam2==1.1.0 (no CUDA extension)"
  SAM2_BUILD_CUDA=0 pip_install --no-build-isolation --no-deps sam2==1.1.0
fi
# sam2's wheel also installs a top-level package named `training` (its own training code), which
# would shadow ours; remove exactly the files sam2's RECORD lists there.
"$venv/bin/python" - <<'PY'
import importlib.metadata, pathlib, shutil
dist = importlib.metadata.distribution("sam2")
stray = {pathlib.Path(dist.locate_file(f)).resolve() for f in dist.files or [] if f.parts[0] == "training"}
for path in stray:
    path.unlink(missing_ok=True)
root = pathlib.Path(dist.locate_file("training"))
if stray and root.is_dir():
    shutil.rmtree(root)
    print("[setup] removed sam2's stray top-level `training` package")
PY

step "building the msg/ interfaces into the venv"
build="$root/build/interfaces"
mkdir -p "$root/build"
rm -rf "$build"
PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" \
  "$venv/bin/cmake" -S "$root" -B "$build" -G Ninja -Wno-dev \
  -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF \
  -DEGOEXO_INTERFACES_ONLY=ON -DCMAKE_PROJECT_INCLUDE="$root/cmake/relocate_wheel_paths.cmake" \
  >"$root/build/interfaces.log" 2>&1 || { cat "$root/build/interfaces.log"; exit 1; }
PATH="$venv/bin:$PATH" "$venv/bin/cmake" --build "$build" >>"$root/build/interfaces.log" 2>&1 \
  || { tail -40 "$root/build/interfaces.log"; exit 1; }
"$venv/bin/cmake" --install "$build" >>"$root/build/interfaces.log" 2>&1 \
  || { tail -40 "$root/build/interfaces.log"; exit 1; }

step "installing egoexo (editable)"
pip_install --no-deps --no-build-isolation -e . --config-settings editable_mode=compat

"$venv/bin/python" - <<'PY'
import egoexo_models, torch, rclpy
from egoexo_ros.msg import HOIMasks, PredictedVideo
print(f"[setup] ok: torch {torch.__version__}, egoexo {egoexo_models.__version__}, interfaces built")
PY
