"""The nodes over real rclpy, without models: parameters refused at configure, load failures reported."""

import threading
import time
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node

from egoexo_ros.mask_node import MaskNode
from egoexo_ros.runner import NodeStartError, RunningNodes
from egoexo_ros.video_node import VideoNode

pytestmark = pytest.mark.ros
PARAMS_FILE = Path(__file__).resolve().parents[1] / "config" / "predict.yaml"


def ros_context(*extra: str) -> Context:
    context = Context()
    rclpy.init(context=context, args=["test", "--ros-args", "--params-file", str(PARAMS_FILE), *extra])
    return context


@pytest.mark.parametrize("node_class", [MaskNode, VideoNode])
def test_a_bad_parameter_fails_configure_naming_it(node_class, capfd):
    context = ros_context("-p", "steps:=0", "-p", "diagnostics_period_s:=0.05")
    try:
        node = node_class(context=context)
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        node.trigger_shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert "parameter 'steps' = 0 is invalid: expected a value in [1, 1000]" in capfd.readouterr().err


def test_a_parameter_missing_from_the_file_is_named(capfd):
    context = Context()
    rclpy.init(context=context, args=["test"])
    try:
        with pytest.raises(NodeStartError, match="mask_node did not configure"):
            RunningNodes([MaskNode], context=context).__enter__()
    finally:
        rclpy.shutdown(context=context)
    assert "parameter 'autostart' = None is invalid: it is not set" in capfd.readouterr().err


def test_models_that_fail_to_load_fail_activation_and_show_in_diagnostics(tmp_path):
    missing = tmp_path / "no_weights_here"
    context = ros_context("-p", f"weights_dir:={missing}", "-p", "diagnostics_period_s:=0.05")
    statuses: list[DiagnosticStatus] = []
    received = threading.Event()

    def on_diagnostics(message: DiagnosticArray) -> None:
        statuses.extend(
            s for s in message.status if "mask_node" in s.name and s.level == DiagnosticStatus.ERROR
        )
        if statuses:
            received.set()

    listener = Node("listener", context=context)
    listener.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    node = MaskNode(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.FAILURE
        assert received.wait(timeout=10.0)
    finally:
        executor.shutdown()
        spinner.join()
        node.trigger_shutdown()
        node.destroy_node()
        listener.destroy_node()
        rclpy.shutdown(context=context)

    status = statuses[-1]
    values = {kv.key: kv.value for kv in status.values}
    assert status.message.startswith("error: cannot activate: loading the models failed")
    assert values["state"] == "inactive" and values["problems.error"] == "1"


def test_shutdown_joins_the_executor_before_the_context_ends():
    """RunningNodes.close joins its executor thread first; rclpy.shutdown after it must not hang or abort."""
    context = ros_context("-p", "autostart:=false")
    start = time.monotonic()
    with RunningNodes([MaskNode, VideoNode], context=context) as running:
        assert [n.state for n in running.nodes] == ["unconfigured", "unconfigured"]
    rclpy.shutdown(context=context)
    assert time.monotonic() - start < 10.0


def test_parameters_are_declared_read_only_with_descriptions_ranges_and_choices():
    context = ros_context()
    try:
        node = MaskNode(context=context)
        steps, trigger = node.describe_parameters(["steps", "trigger"])
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)

    assert steps.description == "number of denoising steps" and steps.read_only
    assert (steps.integer_range[0].from_value, steps.integer_range[0].to_value) == (1, 1000)
    assert trigger.additional_constraints == "one of: instruction, continuous"
