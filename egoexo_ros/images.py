"""sensor_msgs/Image <-> numpy, without cv_bridge.

Supported encodings: rgb8, bgr8, rgba8, bgra8, mono8, mono16, 16UC1, 32FC1. Reading honours
`step` (row padding) and `is_bigendian`, and returns a view of the message's buffer whenever the
byte order is the machine's (padding included: the view strides over it); only a foreign byte
order costs a copy. Writing makes one copy of the array into the message (unavoidable: the
message owns its buffer).

Arrays are (H,W) for one channel and (H,W,C) otherwise, in the encoding's own channel order.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header


@dataclass(frozen=True)
class Encoding:
    """Memory layout of one image encoding: element type and channels per pixel."""

    dtype: np.dtype
    channels: int

    @property
    def bytes_per_pixel(self) -> int:
        return self.dtype.itemsize * self.channels


ENCODINGS: dict[str, Encoding] = {
    "rgb8": Encoding(np.dtype(np.uint8), 3),
    "bgr8": Encoding(np.dtype(np.uint8), 3),
    "rgba8": Encoding(np.dtype(np.uint8), 4),
    "bgra8": Encoding(np.dtype(np.uint8), 4),
    "mono8": Encoding(np.dtype(np.uint8), 1),
    "mono16": Encoding(np.dtype(np.uint16), 1),
    "16UC1": Encoding(np.dtype(np.uint16), 1),
    "32FC1": Encoding(np.dtype(np.float32), 1),
}
# Encodings a camera image for the models may have; 16UC1 and 32FC1 are depth, not intensity.
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16")
_MACHINE_IS_BIGENDIAN = sys.byteorder == "big"


class ImageConversionError(ValueError):
    """An Image message cannot be read as an array, or an array cannot be written as one.

    `kind` names the problem in a few words (for rate-limited warnings and diagnostics).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def image_to_array(msg: Image) -> np.ndarray:
    """The pixels of `msg` as an (H,W) or (H,W,C) array in the encoding's dtype and channel order.

    A view of msg.data when the byte order is the machine's (it keeps the buffer alive and writes
    through to it); a native-order copy otherwise.

    Raises:
        ImageConversionError: unsupported encoding, zero size, `step` shorter than a row, or a
            buffer whose length is not step * height.
    """
    encoding = _encoding_of(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(
            "zero_size", f"image is {width}x{height} ({msg.encoding}): it holds no pixels"
        )
    row_bytes = width * encoding.bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError(
            "wrong_step",
            f"step {step} is shorter than a row of {width} {msg.encoding} pixels ({row_bytes} bytes); "
            f"the publisher must set step >= width * bytes per pixel",
        )
    size = len(msg.data)
    if size != step * height:
        raise ImageConversionError(
            "wrong_buffer_size",
            f"data holds {size} bytes, but a {width}x{height} {msg.encoding} image with step {step} needs "
            f"step * height = {step * height} (truncated or padded buffer)",
        )
    big_endian = bool(msg.is_bigendian) and encoding.dtype.itemsize > 1
    dtype = encoding.dtype.newbyteorder(">" if big_endian else "<")
    shape = (height, width) if encoding.channels == 1 else (height, width, encoding.channels)
    strides = (
        (step, encoding.bytes_per_pixel)
        if encoding.channels == 1
        else (
            step,
            encoding.bytes_per_pixel,
            encoding.dtype.itemsize,
        )
    )
    pixels = np.ndarray(shape, dtype=dtype, buffer=memoryview(msg.data).cast("B"), strides=strides)
    if encoding.dtype.itemsize > 1 and big_endian != _MACHINE_IS_BIGENDIAN:
        return pixels.astype(encoding.dtype.newbyteorder("="))
    return pixels


def array_to_image(
    pixels: np.ndarray, encoding: str, *, stamp: Time | None = None, frame_id: str = ""
) -> Image:
    """An Image message holding a copy of `pixels`, rows unpadded, in the machine's byte order.

    Raises:
        ImageConversionError: unsupported encoding, or a dtype or shape that does not fit it.
    """
    layout = _encoding_of(encoding)
    expected_ndim = 2 if layout.channels == 1 else 3
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype.newbyteorder("=") != layout.dtype
        or pixels.ndim != expected_ndim
        or (expected_ndim == 3 and pixels.shape[2] != layout.channels)
    ):
        got = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        want = "(H,W)" if layout.channels == 1 else f"(H,W,{layout.channels})"
        raise ImageConversionError(
            "wrong_array", f"{encoding} needs a {layout.dtype} array of shape {want}, got {got}"
        )
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise ImageConversionError(
            "zero_size", f"cannot publish a {width}x{height} image: it holds no pixels"
        )
    native = np.ascontiguousarray(pixels, dtype=layout.dtype.newbyteorder("="))
    data = array.array("B")
    data.frombytes(memoryview(native).cast("B"))
    message = Image(
        header=Header(stamp=stamp if stamp is not None else Time(), frame_id=frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(_MACHINE_IS_BIGENDIAN),
        step=width * layout.bytes_per_pixel,
    )
    # Assigned, not passed to Image(): the constructor copies an array.array element by element
    # (about 1 ms for 640x480 rgb8), the setter keeps it as is.
    message.data = data
    return message


def camera_pixels(msg: Image) -> np.ndarray:
    """The pixels of a camera image, as image_to_array, after checking the encoding is a colour or mono one.

    Raises:
        ImageConversionError: as image_to_array, or a depth encoding (16UC1, 32FC1) that is no camera image.
    """
    if msg.encoding not in COLOUR_ENCODINGS:
        what = "is depth, not a camera image" if msg.encoding in ENCODINGS else "is not supported"
        raise ImageConversionError(
            "unsupported_encoding",
            f"encoding {msg.encoding!r} {what}; use one of {', '.join(COLOUR_ENCODINGS)}",
        )
    return image_to_array(msg)


def to_rgb8(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Camera pixels in `encoding` as uint8 RGB (H,W,3), the models' input (mono is replicated, mono16 scaled by 1/256)."""
    if encoding not in COLOUR_ENCODINGS:
        raise ImageConversionError("unsupported_encoding", f"cannot make RGB of {encoding!r} pixels")
    if encoding == "rgb8":
        return pixels
    if encoding == "bgr8":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    if encoding == "mono16":
        pixels = (pixels >> 8).astype(np.uint8)
    return np.repeat(pixels[:, :, None], 3, axis=2)


def image_to_rgb8(msg: Image) -> np.ndarray:
    """A camera image as uint8 RGB (H,W,3): camera_pixels, then to_rgb8."""
    return to_rgb8(camera_pixels(msg), msg.encoding)


def _encoding_of(name: str) -> Encoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise ImageConversionError(
            "unsupported_encoding", f"encoding {name!r} is not supported; use one of {', '.join(ENCODINGS)}"
        ) from None
