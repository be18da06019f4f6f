# The two commands: `make demo` runs the main job, `make test` the whole test suite.
# Both create .venv on first use (scripts/setup_venv.sh) and reuse it afterwards.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.egoexo-setup-done
SETUP_INPUTS := scripts/setup_venv.sh requirements/base.txt requirements/ros.txt requirements/dev.txt \
	setup.py CMakeLists.txt package.xml cmake/relocate_wheel_paths.cmake $(wildcard msg/*.msg)

# Tests and the demo run headless: MuJoCo renders with OSMesa, ROS logs stay out of ~/.ros.
export MUJOCO_GL ?= osmesa
export PYOPENGL_PLATFORM ?= osmesa
export HF_HUB_OFFLINE := 1
export AMENT_PREFIX_PATH := $(CURDIR)/$(VENV)

.PHONY: setup demo test lint clean
setup: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	./scripts/setup_venv.sh
	touch $@

demo: $(STAMP)
	$(VENV)/bin/egoexo demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build outputs
