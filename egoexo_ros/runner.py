"""Run egoexo nodes in one process: `egoexo ros`, the node executables, the demo and the tests.

    rclpy.init(args=[...])                        # --ros-args --params-file config/predict.yaml ...
    with RunningNodes([MaskNode, VideoNode]):     # one shared pipeline, a MultiThreadedExecutor
        ...                                       # nodes configured and active (when autostart)
    rclpy.shutdown()

Leaving the block stops the executor, joins its thread, then shuts the nodes down (which frees
the models), in that order, so that rclpy.shutdown never races a spinning executor.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

from egoexo_ros.node_base import PipelineNode
from egoexo_ros.pipeline_handle import SharedPipeline, load_pipeline


class NodeStartError(RuntimeError):
    """A node did not configure or activate; its log says why (a parameter, the models)."""


class RunningNodes:
    """Creates the nodes with one SharedPipeline, spins them on a MultiThreadedExecutor thread,
    and, for each node whose `autostart` parameter is true, configures and activates it."""

    def __init__(
        self,
        node_classes: Sequence[type[PipelineNode]],
        *,
        loader: Callable[[Any], Any] = load_pipeline,
        context: Context | None = None,
    ) -> None:
        self._classes = node_classes
        self._shared = SharedPipeline(loader)
        self._context = context
        self.nodes: list[PipelineNode] = []
        self._executor: MultiThreadedExecutor | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RunningNodes:
        try:
            self.nodes = [cls(shared_pipeline=self._shared, context=self._context) for cls in self._classes]
            self._executor = MultiThreadedExecutor(context=self._context)
            for node in self.nodes:
                self._executor.add_node(node)
            self._thread = threading.Thread(target=self._executor.spin, name="egoexo-executor", daemon=True)
            self._thread.start()
            for node in self.nodes:
                if node.autostart:
                    self._transition(node, "configure", node.trigger_configure)
                    self._transition(node, "activate", node.trigger_activate)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for node in self.nodes:
            node.trigger_shutdown()
            node.destroy_node()
        self.nodes = []

    @staticmethod
    def _transition(node: PipelineNode, name: str, trigger: Callable[[], TransitionCallbackReturn]) -> None:
        result = trigger()
        if result != TransitionCallbackReturn.SUCCESS:
            raise NodeStartError(f"{node.get_fully_qualified_name()} did not {name} (see its log above)")


def run_nodes(node_classes: Sequence[type[PipelineNode]], *, args: list[str]) -> int:
    """Run the nodes until SIGINT or SIGTERM; 0 on a clean stop, 2 when a node did not start."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with RunningNodes(node_classes):
            stop.wait()
        return 0
    except NodeStartError as error:
        print(f"egoexo: {error}", flush=True)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        rclpy.shutdown()
