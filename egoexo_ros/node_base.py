"""What the mask node and the video node share: lifecycle around the pipeline, parameters, health, /diagnostics.

  configure   validate the parameters (a bad one fails the transition, naming it), create the
              publishers and the /diagnostics timer
  activate    load the models (shared per process), then `_start` the node's own work and inputs
  deactivate  unsubscribe, `_stop_work`, release the models (the last user frees them)
  cleanup     destroy the publishers; shutdown does deactivate and cleanup from any state

Subclasses give `_create_outputs`, `_start`, `_stop_work` and `_facts`, and may give `_housekeeping`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from egoexo_ros.health import NodeHealth
from egoexo_ros.node_support import declare_parameters, diagnostic_array, read_parameters
from egoexo_ros.params import CommonConfig, ParameterError, ParamSpec, window_length
from egoexo_ros.pipeline_handle import SharedPipeline
from egoexo_ros.problems import Problem


class PipelineNode(LifecycleNode):
    def __init__(
        self,
        node_name: str,
        *,
        specs: tuple[ParamSpec, ...],
        parse: Callable[[dict[str, Any]], Any],
        counters: tuple[str, ...],
        rates: tuple[str, ...],
        shared_pipeline: SharedPipeline | None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("namespace", "egoexo")  # topics default to /egoexo/...; remappable with __ns
        super().__init__(node_name, **kwargs)
        self._specs, self._parse = specs, parse
        self._counter_names, self._rate_names = ("windows_dropped", *counters), rates
        self._shared = shared_pipeline or SharedPipeline()
        declare_parameters(self, specs)
        self.config: Any = None  # the node's validated config dataclass, once configured
        self.health: NodeHealth | None = None
        self.pipeline: Any = None
        self.state = "unconfigured"
        self._inputs: list = []
        self._lifecycle_publishers: list = []
        self._diagnostics_pub = None
        self._diagnostics_timer = None

    @property
    def autostart(self) -> bool:
        """False only when the autostart parameter is false (unset or invalid: configure says why)."""
        values = read_parameters(self, (next(s for s in self._specs if s.name == "autostart"),))
        return values["autostart"] is not False

    @property
    def common(self) -> CommonConfig:
        return self.config.common

    # ------------------------------------------------------------------------------- to override

    def _create_outputs(self) -> list:
        """Create and return the node's lifecycle publishers."""
        raise NotImplementedError

    def _start(self, num_frames: int) -> list:
        """Start the node's work with self.pipeline loaded; return its subscriptions."""
        raise NotImplementedError

    def _stop_work(self) -> None:
        """Drop queued work and join the worker; the subscriptions are already gone."""
        raise NotImplementedError

    def _facts(self) -> dict[str, str]:
        """Node-specific facts for /diagnostics."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------- lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.config = self._parse(read_parameters(self, self._specs))
        except ParameterError as error:
            self.get_logger().error(f"cannot configure: {error}")
            return TransitionCallbackReturn.FAILURE
        self.health = NodeHealth(
            warning_period_s=self.common.warning_period_s,
            counters=self._counter_names,
            rates=self._rate_names,
        )
        self._lifecycle_publishers = self._create_outputs()
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(
            self.common.diagnostics_period_s, self._publish_diagnostics
        )
        self.state = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            pipeline = self._shared.acquire(self.common.pipeline)
        except Exception as error:  # any failure to load is reported, never raised into the executor
            self.report_error(f"cannot activate: loading the models failed: {error}")
            return TransitionCallbackReturn.FAILURE
        try:
            num_frames = window_length(self.common.num_frames, pipeline.num_frames)
        except ParameterError as error:
            self._shared.release()
            self.report_error(f"cannot activate: {error}")
            return TransitionCallbackReturn.FAILURE
        self.pipeline = pipeline
        self._inputs = self._start(num_frames)
        self.state = "active"
        self.get_logger().info(
            f"active: {pipeline.backend} on {pipeline.device}, models {pipeline.model_id}, windows of {num_frames} frames"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self.state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_outputs()
        self.state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self._destroy_outputs()
        self.state = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def _deactivate(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self.pipeline is not None:
            self._stop_work()
            self.pipeline = None
            self._shared.release()

    def _destroy_outputs(self) -> None:
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        for publisher in self._lifecycle_publishers:
            self.destroy_lifecycle_publisher(publisher)
        self._lifecycle_publishers = []
        if self._diagnostics_pub is not None:
            self.destroy_publisher(self._diagnostics_pub)
            self._diagnostics_pub = None

    # ------------------------------------------------------------------------------- health

    def report_problem(self, problem: Problem) -> None:
        """Count dropped input (and its window), log a rate-limited warning."""
        if problem.dropped_window is not None:
            self.health.counters.add("windows_dropped")
        warning = self.health.problem(problem.kind, problem.message, time.monotonic())
        if warning is not None:
            self.get_logger().warning(warning.text())

    def report_error(self, message: str) -> None:
        """Record a failure for /diagnostics and log it (rate-limited)."""
        warning = self.health.error(message, time.monotonic())
        if warning is not None:
            self.get_logger().error(warning.text())

    def _housekeeping(self) -> None:
        """Periodic work of an active node, run with each /diagnostics message (none by default)."""

    def _publish_diagnostics(self) -> None:
        if self.state == "active":
            self._housekeeping()
        pipeline = self.pipeline
        device = pipeline.device if pipeline is not None else self.common.pipeline.device
        facts = {
            "state": self.state,
            "backend": pipeline.backend if pipeline is not None else "",
            "device": device,
            "model_id": pipeline.model_id if pipeline is not None else "",
            **self._facts(),
        }
        level, message, values = self.health.status(time.monotonic(), facts)
        name = f"egoexo: {self.get_fully_qualified_name()}"
        self._diagnostics_pub.publish(
            diagnostic_array(self.get_clock().now().to_msg(), name, device, level, message, values)
        )
