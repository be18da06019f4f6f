"""The ROS part of the main job: sample clips played through the running nodes, predictions written and scored.

For each clip: the instruction is published, then its ego and exo frames as camera topics at the
clip's fps (stamps = start + i/fps); the mask node's HOIMasks and the video node's PredictedVideo
are received by a subscriber, written as a prediction directory (egoexo_models.prediction_dir,
with preview.gif), and finally all are scored against the clips' ground truth beside the baselines
(egoexo_models.evaluation). Everything goes through real rclpy publishers and subscribers.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from egoexo_models.clip import Clip, list_clips, read_clip
from egoexo_models.prediction_dir import Prediction, write_prediction
from egoexo_ros.images import array_to_image, image_to_array
from egoexo_ros.mask_node import MaskNode
from egoexo_ros.msg import HOIMasks, PredictedVideo
from egoexo_ros.node_support import reliable_qos, to_ns, to_time
from egoexo_ros.params import default_params_file
from egoexo_ros.runner import NodeStartError, RunningNodes
from egoexo_ros.video_node import VideoNode

# The demo publishes predictions at the clips' size, so they can be scored against them.
DEMO_OVERRIDES = ("-p", "publish_resolution:=ego_camera")


@dataclass
class WindowOutputs:
    """What the demo received for one prediction window."""

    masks: dict[int, HOIMasks] = field(default_factory=dict)
    video: PredictedVideo | None = None
    video_at: float | None = None
    masks_before_video: int = 0  # mask messages of the window received before its video


class DemoClient(Node):
    """Publishes the camera and instruction topics, subscribes to the predictions."""

    def __init__(self, namespace: str = "egoexo", **kwargs) -> None:
        super().__init__("demo_client", namespace=namespace, **kwargs)
        camera_qos = reliable_qos(10)
        self.exo_pub = self.create_publisher(Image, "exo/image_raw", camera_qos)
        self.ego_pub = self.create_publisher(Image, "ego/image_raw", camera_qos)
        self.instruction_pub = self.create_publisher(String, "instruction", reliable_qos(1))
        self.create_subscription(HOIMasks, "hoi_masks", self._on_masks, reliable_qos(64))
        self.create_subscription(PredictedVideo, "pred_video", self._on_video, reliable_qos(10))
        self.windows: dict[int, WindowOutputs] = {}
        self.changed = threading.Condition()
        self.played_stamps_ns: list[int] = []  # the stamps of the last clip played

    def _on_masks(self, msg: HOIMasks) -> None:
        with self.changed:
            window = self.windows.setdefault(msg.window_id, WindowOutputs())
            window.masks[msg.frame_index] = msg
            self.changed.notify_all()

    def _on_video(self, msg: PredictedVideo) -> None:
        with self.changed:
            window = self.windows.setdefault(msg.window_id, WindowOutputs())
            window.video, window.video_at = msg, time.monotonic()
            window.masks_before_video = len(window.masks)
            self.changed.notify_all()

    def wait_for_nodes(self, timeout_s: float) -> bool:
        """Until the mask node subscribes to the cameras and the instruction, and the video node to HOIMasks."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (
                self.exo_pub.get_subscription_count() >= 1
                and self.ego_pub.get_subscription_count() >= 1
                and self.instruction_pub.get_subscription_count() >= 1
                and self.count_subscribers("hoi_masks") >= 2  # this client's and the video node's
            ):
                return True
            time.sleep(0.05)
        return False

    def play(self, clip: Clip) -> float:
        """Publish the instruction, then ego and exo frame i at start + i/fps; returns when the last exo frame went out."""
        self.instruction_pub.publish(String(data=clip.meta.instruction))
        time.sleep(0.2)  # the instruction is reliable; give it a head start over the first frame
        start_ns = self.get_clock().now().nanoseconds
        start = time.monotonic()
        self.played_stamps_ns = [start_ns + round(i * 1e9 / clip.meta.fps) for i in range(clip.num_frames)]
        for index in range(clip.num_frames):
            time.sleep(max(0.0, start + index / clip.meta.fps - time.monotonic()))
            stamp = to_time(self.played_stamps_ns[index])
            if index < clip.ego.shape[0]:
                self.ego_pub.publish(
                    array_to_image(clip.ego[index], "rgb8", stamp=stamp, frame_id="ego_camera")
                )
            self.exo_pub.publish(array_to_image(clip.exo[index], "rgb8", stamp=stamp, frame_id="exo_camera"))
        return time.monotonic()

    def wait_for_video(self, window_id: int, timeout_s: float) -> WindowOutputs | None:
        with self.changed:
            self.changed.wait_for(lambda: self._video_of(window_id) is not None, timeout=timeout_s)
            return self.windows.get(window_id) if self._video_of(window_id) is not None else None

    def _video_of(self, window_id: int) -> PredictedVideo | None:
        window = self.windows.get(window_id)
        return window.video if window is not None else None


def prediction_from_messages(outputs: WindowOutputs) -> Prediction:
    """A Prediction (egoexo_models.prediction_dir) from a received PredictedVideo."""
    video = outputs.video
    timings = dict(zip(video.timing_names, (float(v) for v in video.timing_values_s), strict=True))
    return Prediction(
        ego_masks=np.stack([image_to_array(m) for m in video.masks]),
        frames=np.stack([image_to_array(f) for f in video.frames]),
        info={
            "source": "ros",
            "window_id": int(video.window_id),
            "instruction": video.instruction,
            "model_id": video.model_id,
            "backend": video.backend,
            "device": video.device,
            "sampler": video.sampler,
            "steps": int(video.steps),
            "guidance_scale": float(video.guidance_scale),
            "seed": int(video.seed),
            "fps": float(video.fps),
            "stamps_ns": [to_ns(s) for s in video.stamps],
            "timings_s": timings,
        },
    )


def run_demo(
    clip_root: Path,
    out_root: Path,
    *,
    params_file: Path | None = None,
    ros_args: Sequence[str] = (),
    timeout_s: float = 600.0,
) -> int:
    """Play every clip under `clip_root` through the nodes, write predictions under out_root/pred, score them.

    params_file: the nodes' parameters (default: config/predict.yaml); ros_args: more ROS arguments
    (`-p name:=value` overrides); timeout_s: how long to wait for each clip's video.

    Returns 0 when every clip got its prediction and the evaluation ran, 1 otherwise.
    """
    from egoexo_models.evaluation import evaluate

    clips = list_clips(clip_root)
    params_file = params_file or default_params_file()
    pred_root = out_root / "pred"
    argv = ["egoexo-demo", "--ros-args", "--params-file", str(params_file), *DEMO_OVERRIDES, *ros_args]
    domain = (
        None if "ROS_DOMAIN_ID" in os.environ else 150 + os.getpid() % 80
    )  # no cross-talk with other runs
    rclpy.init(args=argv, domain_id=domain)
    written: list[Path] = []
    try:
        print(
            f"demo: loading the models and starting the nodes ({len(clips)} clip(s) under {clip_root})",
            flush=True,
        )
        with RunningNodes([MaskNode, VideoNode]):
            client = DemoClient()
            executor = SingleThreadedExecutor()
            executor.add_node(client)
            spinner = threading.Thread(target=executor.spin, name="egoexo-demo-client", daemon=True)
            spinner.start()
            try:
                if not client.wait_for_nodes(timeout_s=30.0):
                    print("demo: the nodes did not subscribe to the camera topics within 30 s", flush=True)
                    return 1
                for number, clip_dir in enumerate(clips, start=1):
                    path = _run_clip(
                        client, read_clip(clip_dir), number, len(clips), number - 1, pred_root, timeout_s
                    )
                    if path is not None:
                        written.append(path)
            finally:
                executor.shutdown()
                spinner.join()
                client.destroy_node()
    except NodeStartError as error:
        print(f"demo: {error}", flush=True)
        return 1
    finally:
        rclpy.try_shutdown()  # a signal may have shut the context down already
    if not written:
        return 1
    report = evaluate(pred_root, clip_root)
    print(report.format_table(), end="")
    report.write_json(out_root / "evaluation.json")
    print(f"demo: previews: {', '.join(str(p / 'preview.gif') for p in written)}")
    print(f"demo: metrics written to {out_root / 'evaluation.json'}")
    return 0 if len(written) == len(clips) else 1


def _run_clip(
    client: DemoClient, clip: Clip, number: int, total: int, window_id: int, pred_root: Path, timeout_s: float
) -> Path | None:
    prefix = f"[{number}/{total}] {clip.name}"
    played_at = client.play(clip)
    outputs = client.wait_for_video(window_id, timeout_s)
    if outputs is None:
        received = len(client.windows.get(window_id, WindowOutputs()).masks)
        print(
            f"{prefix}: no prediction within {timeout_s:.0f} s ({received} mask frame(s) received)",
            flush=True,
        )
        return None
    path = write_prediction(pred_root / clip.name, prediction_from_messages(outputs), clip, overwrite=True)
    print(
        f"{prefix}: {clip.num_frames} frames played at {clip.meta.fps:g} fps; {outputs.masks_before_video} mask "
        f"messages before the video, which came {outputs.video_at - played_at:.1f} s after the last exo frame "
        f"-> {path / 'preview.gif'}",
        flush=True,
    )
    return path
