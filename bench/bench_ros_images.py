"""Image conversion cost per 640x480 frame: sensor_msgs/Image <-> numpy for each encoding.

    .venv/bin/python bench/bench_ros_images.py [--repeats 200]

Reads: image_to_array (the raw layout; a view when the byte order is the machine's) and
image_to_rgb8 (what the nodes feed the models). Writes: array_to_image (one copy into the
message). Prints the median time per frame in microseconds, after a warm-up: the first
allocations of a frame-sized buffer cost page faults (about 0.7 ms at this size) that a
long-running node pays once.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from egoexo_ros.images import COLOUR_ENCODINGS, ENCODINGS, array_to_image, image_to_array, image_to_rgb8

HEIGHT, WIDTH = 480, 640


def median_us(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def sample(encoding: str, rng: np.random.Generator) -> np.ndarray:
    layout = ENCODINGS[encoding]
    shape = (HEIGHT, WIDTH) if layout.channels == 1 else (HEIGHT, WIDTH, layout.channels)
    if layout.dtype == np.float32:
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, np.iinfo(layout.dtype).max, shape, dtype=layout.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    messages = {encoding: array_to_image(sample(encoding, rng), encoding) for encoding in ENCODINGS}
    for encoding, message in messages.items():  # warm-up: the allocator settles (first-touch page faults)
        for _ in range(10):
            array_to_image(image_to_array(message), encoding)
    print(f"{WIDTH}x{HEIGHT}, median of {args.repeats} runs after a warm-up, microseconds per frame")
    print(f"{'encoding':>9} {'image_to_array':>15} {'image_to_rgb8':>14} {'array_to_image':>15}")
    for encoding, message in messages.items():
        pixels = image_to_array(message)
        read = median_us(lambda m=message: image_to_array(m), args.repeats)
        rgb = (
            f"{median_us(lambda m=message: image_to_rgb8(m), args.repeats):14.1f}"
            if encoding in COLOUR_ENCODINGS
            else f"{'(depth)':>14}"
        )
        write = median_us(lambda p=pixels, e=encoding: array_to_image(p, e), args.repeats)
        print(f"{encoding:>9} {read:15.1f} {rgb} {write:15.1f}")


if __name__ == "__main__":
    main()
