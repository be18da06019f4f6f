"""egoexo ros: run the mask node and the video node in one process, for machines without `ros2 launch`.

    egoexo ros [--params-file config/predict.yaml] [--ros-args -p steps:=10 -r __ns:=/robot1 ...]

Both nodes share one pipeline (the models load once) and spin on a MultiThreadedExecutor; Ctrl-C
stops them and frees the models. Arguments egoexo does not know are passed to ROS unchanged.
"""

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params-file",
        type=Path,
        default=None,
        help="ROS 2 parameters file of the nodes (default: config/predict.yaml)",
    )


def run(args: argparse.Namespace) -> int:
    from egoexo_ros.mask_node import MaskNode
    from egoexo_ros.params import default_params_file
    from egoexo_ros.runner import run_nodes
    from egoexo_ros.video_node import VideoNode

    params_file = args.params_file or default_params_file()
    if not params_file.is_file():
        print(f"egoexo ros: parameters file {params_file} not found; pass --params-file PATH")
        return 2

    ros_args = list(getattr(args, "ros_args", []))
    argv = ["egoexo", "--ros-args", "--params-file", str(params_file), *ros_args]
    return run_nodes([MaskNode, VideoNode], args=argv)
