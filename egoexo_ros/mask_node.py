"""The mask node: exo and ego cameras plus an instruction in, ego HOI masks out, frame by frame.

Callbacks only convert images and feed the WindowAssembler; one worker thread runs the pipeline's
mask stage (start_window, then mask_step per exo frame) from a bounded queue and publishes.
Lifecycle, parameters and /diagnostics: node_base.PipelineNode.

Topics (relative: the launch file and `egoexo ros` put them under /egoexo):
  sub exo/image_raw, ego/image_raw (sensor_msgs/Image), instruction (std_msgs/String)
  pub hoi_masks (egoexo_ros/HOIMasks at the model's resolution, each with the window's instruction,
      frame 0's with the window's ego frame as the camera stamped it, rgb8: all the video node needs),
      hoi_mask_image (sensor_msgs/Image, mono8 at `publish_resolution`), /diagnostics
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from sensor_msgs.msg import Image
from std_msgs.msg import String

from egoexo_ros.frame_buffer import StampedFrame
from egoexo_ros.images import ImageConversionError, array_to_image, camera_pixels
from egoexo_ros.msg import HOIMasks
from egoexo_ros.node_base import PipelineNode
from egoexo_ros.node_support import qos_profile, reliable_qos, to_ns, to_time
from egoexo_ros.params import MASK_NODE_PARAMS, MaskNodeConfig, parse_mask_node_config
from egoexo_ros.pipeline_handle import SharedPipeline
from egoexo_ros.problems import Problem
from egoexo_ros.resize import resize_labels, resize_rgb
from egoexo_ros.windows import AssemblerConfig, FrameReady, WindowAssembler
from egoexo_ros.work_queue import WindowWorkQueue


class MaskNode(PipelineNode):
    config: MaskNodeConfig

    def __init__(
        self, *, shared_pipeline: SharedPipeline | None = None, node_name: str = "mask_node", **kwargs
    ) -> None:
        super().__init__(
            node_name,
            specs=MASK_NODE_PARAMS,
            parse=parse_mask_node_config,
            counters=("windows_started", "windows_completed", "frames_rejected", "mask_steps"),
            rates=("exo", "ego", "instruction"),
            shared_pipeline=shared_pipeline,
            **kwargs,
        )
        self._assembler: WindowAssembler | None = None
        self._assembler_lock = threading.Lock()
        self._queue: WindowWorkQueue[FrameReady] | None = None
        self._worker: threading.Thread | None = None
        self._mask_windows: dict[int, Any] = {}  # window id -> the pipeline's MaskWindow (worker thread only)

    def _create_outputs(self) -> list:
        outputs = qos_profile(self.common.output_qos)
        self._masks_pub = self.create_lifecycle_publisher(HOIMasks, "hoi_masks", outputs)
        self._mask_image_pub = self.create_lifecycle_publisher(Image, "hoi_mask_image", outputs)
        return [self._masks_pub, self._mask_image_pub]

    def _start(self, num_frames: int) -> list:
        config = self.config
        self._assembler = WindowAssembler(
            AssemblerConfig(
                num_frames=num_frames,
                model_fps=config.model_fps or float(self.pipeline.fps),
                frame_stride=config.frame_stride,
                trigger=config.trigger,
                window_stride=config.window_stride,
                max_ego_offset_ns=round(config.max_ego_offset_s * 1e9),
                max_ego_lag_ns=round(config.max_ego_lag_s * 1e9),
                max_frame_gap_ns=round(config.max_frame_gap_s * 1e9),
                ego_buffer_size=config.ego_buffer_size,
            )
        )
        self._last_exo_at = time.monotonic()
        self._silence_seen_at: float | None = None  # the tick that first saw the exo camera silent
        self._stall_handled_for: float | None = None  # _last_exo_at of the silence already handled
        self._queue = WindowWorkQueue(self.common.max_queued_windows)
        self._worker = threading.Thread(
            target=self._work, args=(self._queue,), name="egoexo-mask", daemon=True
        )
        self._worker.start()
        return [
            self.create_subscription(Image, "exo/image_raw", self._on_exo, qos_profile(config.exo_qos)),
            self.create_subscription(Image, "ego/image_raw", self._on_ego, qos_profile(config.ego_qos)),
            self.create_subscription(
                String, "instruction", self._on_instruction, reliable_qos(config.instruction_depth)
            ),
        ]

    def _stop_work(self) -> None:
        with self._assembler_lock:
            self._handle(self._assembler.abort("the node is deactivating"))
            self._assembler = None
        self._queue.close()
        self._worker.join()
        self._mask_windows.clear()

    def _facts(self) -> dict[str, str]:
        queue, assembler = self._queue, self._assembler
        return {
            "trigger": self.config.trigger,
            "queued_windows": str(queue.waiting_windows() if queue is not None else 0),
            "windows_in_progress": str(assembler.windows_in_progress if assembler is not None else 0),
        }

    # ------------------------------------------------------------------------------- callbacks

    def _on_exo(self, msg: Image) -> None:
        self._last_exo_at = time.monotonic()
        self.health.rates["exo"].tick(self._last_exo_at)
        frame = self._frame(msg, "exo")
        if frame is not None:
            self._feed(lambda assembler: assembler.add_exo(frame))

    def _on_ego(self, msg: Image) -> None:
        self.health.rates["ego"].tick(time.monotonic())
        frame = self._frame(msg, "ego")
        if frame is not None:
            self._feed(lambda assembler: assembler.add_ego(frame))

    def _on_instruction(self, msg: String) -> None:
        self.health.rates["instruction"].tick(time.monotonic())
        self._feed(lambda assembler: assembler.add_instruction(msg.data))

    def _housekeeping(self) -> None:
        """Windows in progress are dropped once the exo camera has been silent for max_frame_gap_s on
        two /diagnostics ticks in a row, once per silence. One tick is not enough: after the executor
        was held up, it runs this timer before the exo frames waiting in its queue."""
        now = time.monotonic()
        silent_s = now - self._last_exo_at
        if silent_s <= self.config.max_frame_gap_s or self._stall_handled_for == self._last_exo_at:
            self._silence_seen_at = None
            return
        if self._silence_seen_at is None or self._silence_seen_at < self._last_exo_at:
            self._silence_seen_at = now  # confirmed on the next tick if no exo frame came in between
            return
        self._stall_handled_for = self._last_exo_at
        self._feed(lambda assembler: assembler.abort(f"no exo frame for {silent_s:.1f} s", "exo_stalled"))

    def _frame(self, msg: Image, view: str) -> StampedFrame | None:
        try:
            return StampedFrame(
                to_ns(msg.header.stamp), camera_pixels(msg), msg.header.frame_id, msg.encoding
            )
        except ImageConversionError as error:
            self.health.counters.add("frames_rejected")
            self.report_problem(Problem(f"{view}_{error.kind}", f"{view} image dropped: {error}"))
            return None

    def _feed(self, add) -> None:
        """Call `add(assembler)` under the lock and handle its events; nothing once deactivated."""
        with self._assembler_lock:
            if self._assembler is not None:
                self._handle(add(self._assembler))

    def _handle(self, events: list) -> None:
        for event in events:
            if isinstance(event, Problem):
                self.report_problem(event)
                if event.dropped_window is not None:
                    self._queue.drop_window(event.dropped_window)
                continue
            if event.index == 0:
                self.health.counters.add("windows_started")
            for dropped in self._queue.put(event.window.window_id, event):
                self.report_problem(
                    Problem(
                        "mask_stage_behind",
                        f"window {dropped} dropped: the mask stage is behind and more than "
                        f"max_queued_windows={self.common.max_queued_windows} windows wait",
                        dropped,
                    )
                )

    # ------------------------------------------------------------------------------- worker

    def _work(self, queue: WindowWorkQueue[FrameReady]) -> None:
        while not queue.closed:
            item = queue.get(timeout_s=0.5)
            if item is None:
                continue
            window_id, ready = item
            try:
                self._mask_step(ready)
            except Exception as error:  # a failing model call drops its window; the node keeps serving
                self._mask_windows.pop(window_id, None)
                queue.drop_window(window_id)
                self.health.counters.add("windows_dropped")
                self.report_error(
                    f"mask prediction of window {window_id}, frame {ready.index} failed: {error!r}"
                )
            for stale in [w for w in self._mask_windows if queue.was_dropped(w)]:
                del self._mask_windows[stale]

    def _mask_step(self, ready: FrameReady) -> None:
        pipeline, window, index = self.pipeline, ready.window, ready.index
        size = (pipeline.height, pipeline.width)
        if index == 0:
            self._mask_windows[window.window_id] = pipeline.start_window(resize_rgb(window.ego.rgb(), size))
        mask_window = self._mask_windows.get(window.window_id)
        if mask_window is None:  # its window was dropped while this frame waited
            return
        result = pipeline.mask_step(mask_window, resize_rgb(window.exo[index].rgb(), size), None)
        self._publish_masks(ready, result)
        self.health.counters.add("mask_steps")
        self.health.set_latency(result.latency_s)
        if index == window.num_frames - 1:
            del self._mask_windows[window.window_id]
            self.health.counters.add("windows_completed")

    def _publish_masks(self, ready: FrameReady, result: Any) -> None:
        window, index = ready.window, ready.index
        exo = window.exo[index]
        stamp, ego_frame_id = to_time(exo.stamp_ns), window.ego.frame_id
        message = HOIMasks(
            window_id=window.window_id,
            frame_index=index,
            num_frames=window.num_frames,
            exo_stamps=[to_time(f.stamp_ns) for f in window.exo[: index + 1]],
            instruction=window.instruction,
            mask=array_to_image(result.ego_mask, "mono8", stamp=stamp, frame_id=ego_frame_id),
            exo_mask=array_to_image(result.exo_mask, "mono8", stamp=stamp, frame_id=exo.frame_id),
            exo_mask_source=result.exo_mask_source,
            latency_s=float(result.latency_s),
            model_id=self.pipeline.model_id,
        )
        message.header.stamp, message.header.frame_id = stamp, ego_frame_id
        if index == 0:
            ego = window.ego
            message.ego_first_frame = array_to_image(
                ego.rgb(), "rgb8", stamp=to_time(ego.stamp_ns), frame_id=ego.frame_id
            )
        self._masks_pub.publish(message)
        mask_image = result.ego_mask
        if self.common.publish_resolution == "ego_camera":
            mask_image = resize_labels(mask_image, window.ego.size)
        self._mask_image_pub.publish(array_to_image(mask_image, "mono8", stamp=stamp, frame_id=ego_frame_id))


def main(args: list[str] | None = None) -> int:
    """Entry point of the mask_node executable (`ros2 run egoexo_ros mask_node`)."""
    from egoexo_ros.runner import run_nodes

    return run_nodes([MaskNode], args=sys.argv if args is None else args)
