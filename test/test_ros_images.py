"""sensor_msgs/Image <-> numpy: every encoding, step padding, byte order, zero-copy, bad buffers."""

import sys

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image

from egoexo_ros.images import ENCODINGS, ImageConversionError, array_to_image, image_to_array, image_to_rgb8

RNG = np.random.default_rng(0)


def sample(encoding: str, height: int = 5, width: int = 7) -> np.ndarray:
    layout = ENCODINGS[encoding]
    shape = (height, width) if layout.channels == 1 else (height, width, layout.channels)
    if layout.dtype == np.float32:
        return RNG.standard_normal(shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(layout.dtype).max, shape, dtype=layout.dtype, endpoint=True)


def padded_message(pixels: np.ndarray, encoding: str, padding: int, *, big_endian: bool) -> Image:
    """An Image built by hand: rows padded with `padding` junk bytes, in the given byte order."""
    height, width = pixels.shape[:2]
    ordered = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = ordered.reshape(height, -1).view(np.uint8).reshape(height, -1)
    junk = np.full((height, padding), 0xAB, np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    return Image(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=data.shape[1],
        data=data.tobytes(),
    )


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_every_encoding_round_trips_through_a_serialized_message(encoding):
    pixels = sample(encoding)
    message = array_to_image(pixels, encoding, stamp=Time(sec=3, nanosec=4), frame_id="cam")

    received = deserialize_message(serialize_message(message), Image)

    assert received.encoding == encoding
    assert received.header.frame_id == "cam" and received.header.stamp == Time(sec=3, nanosec=4)
    assert received.step == pixels.shape[1] * ENCODINGS[encoding].bytes_per_pixel
    np.testing.assert_array_equal(image_to_array(received), pixels)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("big_endian", [False, True])
def test_padded_rows_and_either_byte_order_read_back_exactly(encoding, big_endian):
    pixels = sample(encoding)
    message = padded_message(pixels, encoding, padding=3, big_endian=big_endian)

    np.testing.assert_array_equal(image_to_array(message), pixels)


def test_reading_in_the_machines_byte_order_is_a_view_of_the_message_buffer_even_with_padding():
    pixels = sample("mono16")
    message = padded_message(pixels, "mono16", padding=2, big_endian=sys.byteorder == "big")

    view = image_to_array(message)
    view[0, 0] = 12345

    assert np.frombuffer(message.data, np.uint16)[0] == 12345


@pytest.mark.parametrize(
    ("encoding", "convert"),
    [
        ("rgb8", lambda p: p),
        ("bgr8", lambda p: p[:, :, ::-1]),
        ("rgba8", lambda p: p[:, :, :3]),
        ("bgra8", lambda p: p[:, :, 2::-1]),
        ("mono8", lambda p: np.repeat(p[:, :, None], 3, axis=2)),
        ("mono16", lambda p: np.repeat((p >> 8).astype(np.uint8)[:, :, None], 3, axis=2)),
    ],
)
def test_camera_encodings_become_rgb8_for_the_models(encoding, convert):
    pixels = sample(encoding)

    rgb = image_to_rgb8(array_to_image(pixels, encoding))

    assert rgb.dtype == np.uint8 and rgb.shape == (*pixels.shape[:2], 3)
    np.testing.assert_array_equal(rgb, convert(pixels))


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_depth_encodings_are_refused_as_camera_images(encoding):
    with pytest.raises(ImageConversionError, match="depth, not a camera image") as error:
        image_to_rgb8(array_to_image(sample(encoding), encoding))
    assert error.value.kind == "unsupported_encoding"


def bad(message: Image, kind: str, match: str) -> None:
    with pytest.raises(ImageConversionError, match=match) as error:
        image_to_array(message)
    assert error.value.kind == kind


def test_an_unknown_encoding_is_named_with_the_supported_ones():
    message = array_to_image(sample("rgb8"), "rgb8")
    message.encoding = "yuv422"
    bad(message, "unsupported_encoding", r"'yuv422' is not supported; use one of rgb8, bgr8")


def test_a_step_shorter_than_a_row_is_refused():
    message = array_to_image(sample("rgb8"), "rgb8")
    message.step = 20
    bad(message, "wrong_step", r"step 20 is shorter than a row of 7 rgb8 pixels \(21 bytes\)")


@pytest.mark.parametrize("size", [0, 50, 104])
def test_a_truncated_or_overlong_buffer_is_refused(size):
    message = array_to_image(sample("rgb8"), "rgb8")
    message.data = bytes(size)
    bad(message, "wrong_buffer_size", rf"data holds {size} bytes, but .* needs step \* height = 105")


def test_a_zero_size_image_is_refused_both_ways():
    bad(Image(height=0, width=4, encoding="mono8", step=4), "zero_size", "holds no pixels")
    with pytest.raises(ImageConversionError, match="holds no pixels"):
        array_to_image(np.zeros((0, 4), np.uint8), "mono8")


def test_an_array_that_does_not_fit_the_encoding_is_refused():
    with pytest.raises(
        ImageConversionError, match=r"rgb8 needs a uint8 array of shape \(H,W,3\), got float32"
    ):
        array_to_image(np.zeros((2, 2, 3), np.float32), "rgb8")
