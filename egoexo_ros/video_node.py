"""The video node: when a window's HOI masks are complete, predict its ego frames and publish them.

The callback collects HOIMasks into windows (VideoWindowCollector): each window's instruction and
observed ego frame come in its messages, so the video is conditioned on what the mask node used.
One worker thread runs the pipeline's video stage (generate) on a bounded queue of complete
windows, the oldest dropped when full, and publishes. Lifecycle, parameters and /diagnostics:
node_base.PipelineNode.

Topics (relative: the launch file and `egoexo ros` put them under /egoexo):
  sub hoi_masks (egoexo_ros/HOIMasks, from the mask node)
  pub pred_video (egoexo_ros/PredictedVideo), pred_frame (sensor_msgs/Image, rgb8), /diagnostics
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from egoexo_ros.frame_buffer import StampedFrame
from egoexo_ros.images import ImageConversionError, array_to_image, camera_pixels, image_to_array
from egoexo_ros.msg import HOIMasks, PredictedVideo
from egoexo_ros.node_base import PipelineNode
from egoexo_ros.node_support import qos_profile, reliable_qos, to_ns, to_time
from egoexo_ros.params import VIDEO_NODE_PARAMS, VideoNodeConfig, parse_video_node_config
from egoexo_ros.pipeline_handle import SharedPipeline
from egoexo_ros.problems import Problem
from egoexo_ros.resize import resize_labels, resize_rgb
from egoexo_ros.video_windows import CompleteWindow, MaskFrame, VideoWindowCollector
from egoexo_ros.work_queue import WindowWorkQueue


class VideoNode(PipelineNode):
    config: VideoNodeConfig

    def __init__(
        self, *, shared_pipeline: SharedPipeline | None = None, node_name: str = "video_node", **kwargs
    ) -> None:
        super().__init__(
            node_name,
            specs=VIDEO_NODE_PARAMS,
            parse=parse_video_node_config,
            counters=("windows_collected", "videos_published", "frames_rejected"),
            rates=("hoi_masks",),
            shared_pipeline=shared_pipeline,
            **kwargs,
        )
        self._num_frames = 0
        self._collector: VideoWindowCollector | None = None
        self._collector_lock = threading.Lock()
        self._queue: WindowWorkQueue[tuple[CompleteWindow, float]] | None = None
        self._worker: threading.Thread | None = None

    def _create_outputs(self) -> list:
        outputs = qos_profile(self.common.output_qos)
        self._video_pub = self.create_lifecycle_publisher(PredictedVideo, "pred_video", outputs)
        self._frame_pub = self.create_lifecycle_publisher(Image, "pred_frame", outputs)
        return [self._video_pub, self._frame_pub]

    def _start(self, num_frames: int) -> list:
        self._num_frames = num_frames
        self._collector = VideoWindowCollector(max_partial_windows=self.common.max_queued_windows + 1)
        self._queue = WindowWorkQueue(self.common.max_queued_windows)
        self._worker = threading.Thread(
            target=self._work, args=(self._queue,), name="egoexo-video", daemon=True
        )
        self._worker.start()
        return [
            self.create_subscription(
                HOIMasks, "hoi_masks", self._on_masks, reliable_qos(self.config.hoi_masks_depth)
            ),
        ]

    def _stop_work(self) -> None:
        with self._collector_lock:
            self._collector = None
        self._queue.close()
        self._worker.join()

    def _facts(self) -> dict[str, str]:
        queue, collector = self._queue, self._collector
        return {
            "queued_windows": str(queue.waiting_windows() if queue is not None else 0),
            "windows_collecting": str(collector.partial_windows if collector is not None else 0),
        }

    # ------------------------------------------------------------------------------- callbacks

    def _on_masks(self, msg: HOIMasks) -> None:
        self.health.rates["hoi_masks"].tick(time.monotonic())
        try:
            if msg.mask.encoding != "mono8":
                raise ImageConversionError(
                    "unsupported_encoding", f"a mask must be mono8, got {msg.mask.encoding!r}"
                )
            mask = image_to_array(msg.mask)
        except ImageConversionError as error:
            self.health.counters.add("frames_rejected")
            self.report_problem(
                Problem(f"mask_{error.kind}", f"HOIMasks of window {msg.window_id} dropped: {error}")
            )
            return
        frame = MaskFrame(
            msg.window_id,
            msg.frame_index,
            msg.num_frames,
            to_ns(msg.header.stamp),
            mask,
            float(msg.latency_s),
            msg.instruction,
            self._ego_first_frame(msg) if msg.frame_index == 0 else None,
        )
        self._feed(lambda collector: collector.add_mask(frame))

    def _ego_first_frame(self, msg: HOIMasks) -> StampedFrame | None:
        """The window's ego frame carried by its frame 0 HOIMasks; None when absent or unusable (reported)."""
        image = msg.ego_first_frame
        if len(image.data) == 0:  # absent: the collector drops the window, saying so
            return None
        try:
            return StampedFrame(
                to_ns(image.header.stamp), camera_pixels(image), image.header.frame_id, image.encoding
            )
        except ImageConversionError as error:
            self.health.counters.add("frames_rejected")
            self.report_problem(
                Problem(f"ego_{error.kind}", f"ego frame of window {msg.window_id} unusable: {error}")
            )
            return None

    def _feed(self, add) -> None:
        """Call `add(collector)` under the lock and queue the windows it completes; nothing once deactivated."""
        with self._collector_lock:
            if self._collector is None:
                return
            for event in add(self._collector):
                if isinstance(event, Problem):
                    self.report_problem(event)
                    continue
                self.health.counters.add("windows_collected")
                for dropped in self._queue.put(event.window_id, (event, time.monotonic())):
                    self.report_problem(
                        Problem(
                            "video_stage_behind",
                            f"window {dropped} dropped: the video stage is behind and more than "
                            f"max_queued_windows={self.common.max_queued_windows} windows wait",
                            dropped,
                        )
                    )

    # ------------------------------------------------------------------------------- worker

    def _work(self, queue: WindowWorkQueue[tuple[CompleteWindow, float]]) -> None:
        while not queue.closed:
            item = queue.get(timeout_s=0.5)
            if item is None:
                continue
            window_id, (window, completed_at) = item
            try:
                self._predict(window, completed_at)
            except Exception as error:  # a failing model call drops its window; the node keeps serving
                self.health.counters.add("windows_dropped")
                self.report_error(f"video prediction of window {window_id} failed: {error!r}")

    def _predict(self, window: CompleteWindow, completed_at: float) -> None:
        pipeline = self.pipeline
        size = (pipeline.height, pipeline.width)
        if window.masks.shape[0] != self._num_frames:
            raise ValueError(f"window has {window.masks.shape[0]} masks, the model needs {self._num_frames}")
        masks = np.stack([resize_labels(m, size) for m in window.masks])
        ego = resize_rgb(window.ego.rgb(), size)
        started = time.monotonic()
        result = pipeline.generate(ego, window.instruction, masks, seed=self.common.pipeline.seed)
        video_stage = time.monotonic() - started
        latency = time.monotonic() - completed_at
        self._publish_video(window, masks, result, {"video_stage": video_stage, "video_node": latency})
        self.health.counters.add("videos_published")
        self.health.set_latency(latency)

    def _publish_video(
        self, window: CompleteWindow, masks: np.ndarray, result: Any, node_timings: dict[str, float]
    ) -> None:
        """PredictedVideo and its frames. Timings: the mask stage summed over the window, the pipeline's
        own, the video stage's wall time, and the node's time from complete masks to publishing."""
        common, pipeline = self.common, self.pipeline
        frame_id = window.ego.frame_id
        stamps_ns = [window.ego.stamp_ns, *window.exo_stamps_ns[1:]]
        frames = result.frames
        if common.publish_resolution == "ego_camera":
            camera = window.ego.size
            frames = np.stack([resize_rgb(f, camera) for f in frames])
            masks = np.stack([resize_labels(m, camera) for m in masks])
        span_s = (window.exo_stamps_ns[-1] - window.exo_stamps_ns[0]) / 1e9
        timings = {"mask_predictor": window.mask_latency_s, **result.timings, **node_timings}
        message = PredictedVideo(
            window_id=window.window_id,
            instruction=window.instruction,
            stamps=[to_time(s) for s in stamps_ns],
            frames=[
                array_to_image(f, "rgb8", stamp=to_time(s), frame_id=frame_id)
                for f, s in zip(frames, stamps_ns[1:], strict=True)
            ],
            masks=[
                array_to_image(m, "mono8", stamp=to_time(s), frame_id=frame_id)
                for m, s in zip(masks, stamps_ns, strict=True)
            ],
            num_frames=len(stamps_ns),
            fps=(len(stamps_ns) - 1) / span_s if span_s > 0 else float(pipeline.fps),
            timing_names=list(timings),
            timing_values_s=[float(v) for v in timings.values()],
            backend=pipeline.backend,
            device=pipeline.device,
            sampler=common.pipeline.sampler,
            steps=common.pipeline.steps,
            guidance_scale=common.pipeline.guidance_scale,
            seed=common.pipeline.seed,
            model_id=pipeline.model_id,
        )
        message.header.stamp, message.header.frame_id = to_time(window.exo_stamps_ns[0]), frame_id
        self._video_pub.publish(message)
        for frame in message.frames:
            self._frame_pub.publish(frame)


def main(args: list[str] | None = None) -> int:
    """Entry point of the video_node executable (`ros2 run egoexo_ros video_node`)."""
    from egoexo_ros.runner import run_nodes

    return run_nodes([VideoNode], args=sys.argv if args is None else args)
