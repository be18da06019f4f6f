"""The nodes over real rclpy and Fast DDS with a tiny random-init pipeline, in one process and in two.

A clip is played as camera topics by a real publisher; HOIMasks and PredictedVideo are received by
a real subscriber and checked for types, encodings, sizes, frame_ids and stamps, the window's
instruction and ego frame inside HOIMasks, masks before the video, and for equality with
`egoexo predict` on the same clip with the same seed and backend.
"""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from egoexo_models.cli import main as egoexo
from egoexo_models.clip import Clip, ClipMeta, read_clip, write_clip
from egoexo_models.prediction_dir import read_prediction
from egoexo_ros.demo import DemoClient, WindowOutputs
from egoexo_ros.images import image_to_array
from egoexo_ros.mask_node import MaskNode
from egoexo_ros.node_support import to_ns
from egoexo_ros.runner import RunningNodes
from egoexo_ros.video_node import VideoNode

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
PARAMS_FILE = ROOT / "config" / "predict.yaml"
SIZE, FRAMES, SEED, STEPS = 32, 4, 7, 2


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from egoexo_models.pipeline import write_random_weights

    return write_random_weights(tmp_path_factory.mktemp("weights"), size=SIZE, num_frames=FRAMES)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    """A clip at the models' size, without exo masks (so `egoexo predict` runs the segmenter like the nodes),
    with ground-truth ego masks (so it can be evaluated)."""
    rng = np.random.default_rng(3)
    clip = Clip(
        meta=ClipMeta(
            instruction="open the red box", fps=8.0, num_frames=FRAMES, height=SIZE, width=SIZE, source="test"
        ),
        exo=rng.integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8),
        ego=rng.integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8),
        ego_masks=rng.integers(0, 3, (FRAMES, SIZE, SIZE), dtype=np.uint8),
    )
    return write_clip(tmp_path_factory.mktemp("clips") / "clip", clip)


@pytest.fixture(scope="module")
def predicted(weights, clip_dir, tmp_path_factory):
    """What `egoexo predict` writes for the clip."""
    out = tmp_path_factory.mktemp("predict") / "out"
    arguments = ["predict", str(clip_dir), "--out", str(out), "--weights-dir", str(weights)]
    options = ["--sampler", "dpmpp", "--seed", str(SEED), "--steps", str(STEPS), "--backend", "torch"]
    assert egoexo([*arguments, *options]) == 0
    return read_prediction(out)


def node_arguments(weights: Path) -> list[str]:
    return [
        "-p",
        f"weights_dir:={weights}",
        "-p",
        "sampler:=dpmpp",
        "-p",
        f"steps:={STEPS}",
        "-p",
        f"seed:={SEED}",
        "-p",
        "backend:=torch",
    ]


def run_client(context: Context, clip_dir: Path) -> tuple[WindowOutputs, list[int]]:
    """Play the clip once through a DemoClient on `context`; the window's outputs and the played stamps."""
    client = DemoClient(context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert client.wait_for_nodes(timeout_s=60.0), "the nodes never subscribed"
        client.play(read_clip(clip_dir))
        outputs = client.wait_for_video(0, timeout_s=120.0)
        assert outputs is not None, "no PredictedVideo within 120 s"
        return outputs, client.played_stamps_ns
    finally:
        executor.shutdown()
        spinner.join()
        client.destroy_node()


def check_messages(outputs: WindowOutputs, stamps_ns: list[int], predicted, clip: Clip) -> None:
    masks = [outputs.masks[i] for i in range(FRAMES)]
    assert outputs.masks_before_video == FRAMES
    # The window's instruction in every HOIMasks, its observed ego frame (rgb8, as stamped) in frame 0's only.
    assert [m.instruction for m in masks] == ["open the red box"] * FRAMES
    ego = masks[0].ego_first_frame
    assert (ego.encoding, ego.height, ego.width, ego.header.frame_id) == ("rgb8", SIZE, SIZE, "ego_camera")
    assert to_ns(ego.header.stamp) == stamps_ns[0]
    np.testing.assert_array_equal(image_to_array(ego), clip.ego[0])
    assert [
        (m.ego_first_frame.height, m.ego_first_frame.width, len(m.ego_first_frame.data)) for m in masks[1:]
    ] == [(0, 0, 0)] * (FRAMES - 1)
    for index, message in enumerate(masks):
        assert (message.window_id, message.frame_index, message.num_frames) == (0, index, FRAMES)
        assert to_ns(message.header.stamp) == stamps_ns[index]
        assert message.header.frame_id == "ego_camera" and message.exo_mask.header.frame_id == "exo_camera"
        assert [to_ns(s) for s in message.exo_stamps] == stamps_ns[: index + 1]
        for image in (message.mask, message.exo_mask):
            assert (image.encoding, image.height, image.width, image.step) == ("mono8", SIZE, SIZE, SIZE)
        assert message.exo_mask_source == "segmenter" and message.latency_s > 0
        assert message.model_id.startswith("maskpred:")

    video = outputs.video
    assert video.window_id == 0 and video.instruction == "open the red box"
    assert to_ns(video.header.stamp) == stamps_ns[0] and video.header.frame_id == "ego_camera"
    assert [to_ns(s) for s in video.stamps] == stamps_ns
    assert [(f.encoding, f.height, f.width, f.header.frame_id) for f in video.frames] == [
        ("rgb8", SIZE, SIZE, "ego_camera")
    ] * (FRAMES - 1)
    assert [m.encoding for m in video.masks] == ["mono8"] * FRAMES
    assert (video.num_frames, video.fps, video.backend, video.device) == (FRAMES, 8.0, "torch", "cpu")
    assert (video.sampler, video.steps, video.seed) == ("dpmpp", STEPS, SEED)
    assert {"mask_predictor", "video_stage", "video_node"} <= set(video.timing_names)

    # The same prediction as `egoexo predict` on the same clip, seed and backend.
    np.testing.assert_array_equal(np.stack([image_to_array(m.mask) for m in masks]), predicted.ego_masks)
    np.testing.assert_array_equal(np.stack([image_to_array(m) for m in video.masks]), predicted.ego_masks)
    np.testing.assert_array_equal(np.stack([image_to_array(f) for f in video.frames]), predicted.frames)


def test_one_process_streams_masks_then_the_video_of_egoexo_predict(weights, clip_dir, predicted):
    context = Context()
    rclpy.init(
        context=context,
        args=["test", "--ros-args", "--params-file", str(PARAMS_FILE), *node_arguments(weights)],
    )
    try:
        with RunningNodes([MaskNode, VideoNode], context=context):
            outputs, stamps = run_client(context, clip_dir)
    finally:
        rclpy.shutdown(context=context)
    check_messages(outputs, stamps, predicted, read_clip(clip_dir))


@pytest.mark.slow
def test_two_processes_egoexo_ros_serves_a_separate_client_and_stops_cleanly(weights, clip_dir, predicted):
    command = [sys.executable, "-m", "egoexo_models.cli", "ros", *node_arguments(weights)]
    nodes = subprocess.Popen(
        command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    context = Context()
    rclpy.init(context=context, args=["test"])
    try:
        outputs, stamps = run_client(context, clip_dir)
    finally:
        rclpy.shutdown(context=context)
        nodes.send_signal(signal.SIGINT)
        log = nodes.communicate(timeout=60)[0].decode()
    check_messages(outputs, stamps, predicted, read_clip(clip_dir))
    assert nodes.returncode == 0, log
    assert "active: torch on cpu" in log


def test_the_demo_plays_clips_through_the_nodes_writes_predictions_and_evaluates_them(
    weights, clip_dir, tmp_path
):
    from egoexo_ros.demo import run_demo

    status = run_demo(clip_dir.parent, tmp_path, ros_args=node_arguments(weights))

    assert status == 0
    prediction = read_prediction(tmp_path / "pred" / "clip")
    assert prediction.frames.shape == (FRAMES - 1, SIZE, SIZE, 3) and prediction.info["source"] == "ros"
    assert (tmp_path / "pred" / "clip" / "preview.gif").is_file()
    assert '"clip"' in (tmp_path / "evaluation.json").read_text()
