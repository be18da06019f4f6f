"""Shared test set-up: headless rendering, ROS logs in a temporary directory, no network."""

import os
import tempfile

# Before anything imports mujoco, rclpy or huggingface libraries.
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("HF_HUB_OFFLINE", "1")
_ros_home = tempfile.mkdtemp(prefix="egoexo-test-ros-")
os.environ.setdefault("ROS_HOME", _ros_home)
os.environ.setdefault("ROS_LOG_DIR", os.path.join(_ros_home, "log"))
# A domain of our own per test process, so parallel runs on one machine do not cross-talk.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
