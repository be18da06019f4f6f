"""End-to-end latency through the ROS nodes, and the ROS layer's share of it.

    .venv/bin/python bench/bench_ros_latency.py [--processes 1|2] [--windows 4] [--warmup 1]
        [--size 640x480] [--clip samples/test/<clip>] [--ros-args -p steps:=10 ...]

Plays a sample clip, scaled to --size, as exo and ego camera topics at the clip's fps, once per
window (each started by the clip's instruction; the --warmup windows first, not measured), and
measures per window the time from publishing its last exo frame to receiving its PredictedVideo.
The models' share of that time is the mask step of the last frame (HOIMasks.latency_s) plus the
video stage (PredictedVideo timing "video_stage"); the rest is the ROS layer: conversion,
resizing, queues, serialization, transport, and waiting for the GIL. With --processes 2 the
nodes run in a separate `egoexo ros` process (with the Fast DDS large-image profile), as on a
robot; with 1 they share this process.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor

from egoexo_models.clip import Clip, list_clips, read_clip
from egoexo_ros.demo import DemoClient
from egoexo_ros.mask_node import MaskNode
from egoexo_ros.params import default_params_file
from egoexo_ros.resize import resize_rgb
from egoexo_ros.runner import RunningNodes
from egoexo_ros.video_node import VideoNode

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "fastdds_large_images.xml"


def scaled(clip: Clip, height: int, width: int) -> Clip:
    """The clip's exo and ego frames resized to height x width (bilinear)."""
    exo = np.stack([resize_rgb(f, (height, width)) for f in clip.exo])
    ego = np.stack([resize_rgb(f, (height, width)) for f in clip.ego])
    meta = dataclasses.replace(clip.meta, height=height, width=width)
    return dataclasses.replace(clip, meta=meta, exo=exo, ego=ego, exo_masks=None, ego_masks=None)


def measure(client: DemoClient, clip: Clip, windows: int, timeout_s: float) -> list[dict[str, float]]:
    results = []
    for window_id in range(windows):
        last_exo_at = client.play(clip)
        outputs = client.wait_for_video(window_id, timeout_s)
        if outputs is None:
            print(f"window {window_id}: no PredictedVideo within {timeout_s:.0f} s", flush=True)
            continue
        video = outputs.video
        timings = dict(zip(video.timing_names, video.timing_values_s, strict=True))
        end_to_end = outputs.video_at - last_exo_at
        last_mask = outputs.masks[clip.num_frames - 1].latency_s
        model = last_mask + timings["video_stage"]
        results.append({"end_to_end": end_to_end, "model": model, "ros": end_to_end - model})
        print(
            f"window {window_id}: {end_to_end:.3f} s from the last exo frame to PredictedVideo; models "
            f"{model:.3f} s (last mask step {last_mask:.3f} + video stage {timings['video_stage']:.3f}); "
            f"ROS layer {end_to_end - model:.3f} s",
            flush=True,
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, choices=(1, 2), default=1)
    parser.add_argument("--windows", type=int, default=4, help="windows measured")
    parser.add_argument(
        "--warmup", type=int, default=1, help="windows played first, not measured (first calls)"
    )
    parser.add_argument("--size", default="640x480", help="camera resolution WIDTHxHEIGHT")
    parser.add_argument("--clip", type=Path, default=None, help="default: the first clip under samples/test")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for each window's video"
    )
    args, ros_args = parser.parse_known_args()
    width, height = (int(v) for v in args.size.split("x"))
    clip = scaled(read_clip(args.clip or list_clips(ROOT / "samples" / "test")[0]), height, width)
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
    os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE)
    argv = ["bench", "--ros-args", "--params-file", str(default_params_file()), *ros_args]
    nodes_process = None
    if args.processes == 2:
        command = [
            sys.executable,
            "-m",
            "egoexo_models.cli",
            "ros",
            "--params-file",
            str(default_params_file()),
            *ros_args,
        ]
        nodes_process = subprocess.Popen(command, cwd=ROOT)
    rclpy.init(args=argv)
    try:
        running = RunningNodes([MaskNode, VideoNode]) if nodes_process is None else None
        if running is not None:
            running.__enter__()
        client = DemoClient()
        executor = SingleThreadedExecutor()
        executor.add_node(client)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            if not client.wait_for_nodes(timeout_s=120.0):
                print("the nodes did not come up within 120 s", flush=True)
                return 1
            print(
                f"{args.processes} process(es), {width}x{height} rgb8 cameras at {clip.meta.fps:g} fps, "
                f"windows of {clip.num_frames} frames",
                flush=True,
            )
            results = measure(client, clip, args.warmup + args.windows, args.timeout)[args.warmup :]
        finally:
            executor.shutdown()
            spinner.join()
            client.destroy_node()
            if running is not None:
                running.close()
    finally:
        rclpy.try_shutdown()  # a signal may have shut the context down already
        if nodes_process is not None:
            nodes_process.send_signal(signal.SIGINT)
            nodes_process.wait(timeout=60)
    if not results:
        return 1
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print(
        f"median over {len(results)} windows: end-to-end {median['end_to_end']:.3f} s, models {median['model']:.3f} s, "
        f"ROS layer {median['ros']:.3f} s = {100 * median['ros'] / median['model']:.2f} % of the model time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
