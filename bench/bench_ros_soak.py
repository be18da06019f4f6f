"""Soak: camera topics at 30 Hz through the nodes for minutes; the nodes' memory must stay flat.

    .venv/bin/python bench/bench_ros_soak.py [--minutes 10] [--rate 30] [--size 640x480]
        [--ros-args -p weights_dir:=... ...]

Starts `egoexo ros` in its own process (continuous trigger, Fast DDS large-image profile), sends
one instruction, then publishes exo and ego frames (a sample clip scaled to --size, looped, with
increasing stamps) at --rate Hz. Every --sample seconds it reads the nodes' resident memory
(/proc/PID/status VmRSS) and their /diagnostics, and at the end prints the memory over time, its
growth after the first minute, and what the nodes did: windows started, completed, dropped,
videos published.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String

from egoexo_models.clip import list_clips, read_clip
from egoexo_ros.demo import DemoClient
from egoexo_ros.images import array_to_image
from egoexo_ros.node_support import to_time
from egoexo_ros.params import default_params_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ros_latency import PROFILE, ROOT, scaled


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def videos_received(client: DemoClient) -> int:
    return sum(window.video is not None for window in list(client.windows.values()))


class DiagnosticsListener:
    """Keeps the latest key/values of each node's DiagnosticStatus."""

    def __init__(self, node) -> None:
        self.latest: dict[str, dict[str, str]] = {}
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, message: DiagnosticArray) -> None:
        for status in message.status:
            self.latest[status.name] = {kv.key: kv.value for kv in status.values}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--size", default="640x480", help="camera resolution WIDTHxHEIGHT")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between memory samples")
    args, ros_args = parser.parse_known_args()
    width, height = (int(v) for v in args.size.split("x"))
    clip = scaled(read_clip(list_clips(ROOT / "samples" / "test")[0]), height, width)
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
    os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE)
    node_args = ["-p", "trigger:=continuous", *ros_args]
    command = [
        sys.executable,
        "-m",
        "egoexo_models.cli",
        "ros",
        "--params-file",
        str(default_params_file()),
        *node_args,
    ]
    nodes = subprocess.Popen(command, cwd=ROOT)
    rclpy.init(args=["soak"])
    client = DemoClient()
    diagnostics = DiagnosticsListener(client)
    executor = SingleThreadedExecutor()
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    samples: list[tuple[float, float]] = []
    try:
        if not client.wait_for_nodes(timeout_s=180.0):
            print("the nodes did not come up within 180 s", flush=True)
            return 1
        client.instruction_pub.publish(String(data=clip.meta.instruction))
        time.sleep(0.5)
        print(f"soak: {args.minutes:g} min of {width}x{height} rgb8 exo+ego at {args.rate:g} Hz", flush=True)
        start, start_ns = time.monotonic(), client.get_clock().now().nanoseconds
        next_sample, index = start, 0
        while (now := time.monotonic()) < start + args.minutes * 60:
            if now >= next_sample:
                samples.append((now - start, rss_mb(nodes.pid)))
                print(
                    f"  {now - start:6.0f} s  nodes RSS {samples[-1][1]:7.1f} MB  videos {videos_received(client)}",
                    flush=True,
                )
                next_sample += args.sample
            frame = index % clip.num_frames
            stamp = to_time(start_ns + round(index * 1e9 / args.rate))
            client.ego_pub.publish(
                array_to_image(clip.ego[frame], "rgb8", stamp=stamp, frame_id="ego_camera")
            )
            client.exo_pub.publish(
                array_to_image(clip.exo[frame], "rgb8", stamp=stamp, frame_id="exo_camera")
            )
            index += 1
            time.sleep(max(0.0, start + index / args.rate - time.monotonic()))
        samples.append((time.monotonic() - start, rss_mb(nodes.pid)))
        time.sleep(2 * 1.0)  # one more round of /diagnostics
    finally:
        executor.shutdown()
        spinner.join()
        client.destroy_node()
        rclpy.try_shutdown()  # a signal may have shut the context down already
        nodes.send_signal(signal.SIGINT)
        exit_code = nodes.wait(timeout=120)
    after_first_minute = [rss for t, rss in samples if t >= 60] or [samples[-1][1]]
    print(f"frames published: {index} per camera ({index / (samples[-1][0] or 1):.1f} Hz)")
    print(
        f"nodes RSS: start {samples[0][1]:.1f} MB, after 1 min {after_first_minute[0]:.1f} MB, "
        f"end {samples[-1][1]:.1f} MB, max {max(r for _, r in samples):.1f} MB; growth after the first "
        f"minute {after_first_minute[-1] - after_first_minute[0]:+.1f} MB"
    )
    for name, values in sorted(diagnostics.latest.items()):
        keys = [
            k for k in values if k.startswith(("windows_", "videos_", "frames_", "mask_steps", "problems."))
        ]
        print(f"{name}: " + ", ".join(f"{k}={values[k]}" for k in keys))
    print(f"videos received: {videos_received(client)}; nodes exited with {exit_code}")
    return 0 if exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
