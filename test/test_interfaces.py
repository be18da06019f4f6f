"""The msg/ interfaces are built into the venv and survive rclpy serialization unchanged."""

import re
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from egoexo_ros.msg import HOIMasks, PredictedVideo
from rclpy import serialization as rclpy_serialization
from sensor_msgs.msg import Image

MSG_DIR = Path(__file__).resolve().parents[1] / "msg"


def mono8(height: int, width: int, seed: int) -> Image:
    labels = np.random.default_rng(seed).integers(0, 3, (height, width), dtype=np.uint8)
    return Image(
        height=height, width=width, encoding="mono8", is_bigendian=0, step=width, data=labels.tobytes()
    )


def round_trip(message):
    data = rclpy_serialization.serialize_message(message)
    return rclpy_serialization.deserialize_message(data, type(message))


def test_hoi_masks_round_trips_through_serialization():
    message = HOIMasks()
    message.header.stamp = Time(sec=12, nanosec=345)
    message.header.frame_id = "ego_camera"
    message.window_id = 7
    message.frame_index = 0  # the message that carries the window's ego frame
    message.num_frames = 16
    message.exo_stamps = [Time(sec=12, nanosec=345)]
    message.instruction = "C opens the blue box with the left hand"
    message.ego_first_frame = Image(
        height=4, width=6, encoding="rgb8", step=18, data=bytes(range(72)), header=message.header
    )
    message.mask = mono8(4, 6, seed=1)
    message.exo_mask = mono8(4, 6, seed=2)
    message.exo_mask_source = "segmenter"
    message.latency_s = 0.25
    message.model_id = "maskpred:0123abcd"

    back = round_trip(message)

    assert back == message
    assert bytes(back.mask.data) == bytes(message.mask.data)
    assert bytes(back.ego_first_frame.data) == bytes(range(72))
    assert back.instruction == "C opens the blue box with the left hand"


def test_predicted_video_round_trips_through_serialization():
    frames = [Image(height=4, width=6, encoding="rgb8", step=18, data=bytes(range(72))) for _ in range(3)]
    message = PredictedVideo(
        window_id=2,
        instruction="C opens the blue box with the left hand",
        stamps=[Time(sec=1, nanosec=i * 1000) for i in range(4)],
        frames=frames,
        masks=[mono8(4, 6, seed=i) for i in range(4)],
        num_frames=4,
        fps=8.0,
        timing_names=["mask_predictor", "diffusion"],
        timing_values_s=[0.5, 3.25],
        backend="onnxruntime",
        device="cpu",
        sampler="dpmpp",
        steps=20,
        guidance_scale=2.5,
        seed=-1,
        model_id="maskpred:0123abcd video_unet:89ef",
    )
    message.header.frame_id = "ego_camera"

    back = round_trip(message)

    assert back == message
    assert [bytes(f.data) for f in back.frames] == [bytes(f.data) for f in frames]


@pytest.mark.parametrize("name", ["HOIMasks.msg", "PredictedVideo.msg"])
def test_every_field_is_commented(name):
    """Fields come in blank-line-separated blocks, and every block opens with a comment."""
    blocks = (MSG_DIR / name).read_text().strip().split("\n\n")
    for block in blocks:
        lines = block.splitlines()
        assert lines[0].startswith("#"), f"{name}: block without a comment: {block!r}"
        for line in lines:
            assert line.startswith("#") or re.fullmatch(r"[\w/]+(\[\])? \w+", line), f"{name}: {line!r}"
