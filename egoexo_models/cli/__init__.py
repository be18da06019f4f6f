"""The `egoexo` command: the front door to the models, the training side and the ROS nodes.

Each subcommand is a module of this package with `add_arguments(parser)` and `run(args) -> int`.
The modules import nothing heavy at import time; training-side subcommands (sim, annotate, export) reach
into training/ and `ros` into egoexo_ros only when they run, so egoexo_models itself stays free
of both.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Order is the order of `egoexo --help`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("egoexo_models.cli.demo", "the main job: play the sample clips through the nodes and evaluate"),
    "sim": ("egoexo_models.cli.sim", "generate paired ego/exo clips in the MuJoCo sim world"),
    "predict": ("egoexo_models.cli.predict", "predict ego masks and frames for one clip"),
    "evaluate": ("egoexo_models.cli.evaluate", "score prediction directories against ground truth"),
    "annotate": ("egoexo_models.cli.annotate", "HOI masks for clips without them (prompters + SAM-2)"),
    "export": ("egoexo_models.cli.export", "export ONNX graphs (and TensorRT engines where available)"),
    "ros": ("egoexo_models.cli.ros", "run the ROS 2 nodes in one process (no `ros2 launch` needed)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="egoexo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `egoexo ros` passes unknown arguments (--ros-args ...) through to rclpy.
    parser = build_parser()
    if argv[:1] == ["ros"]:
        args, extra = parser.parse_known_args(argv)
        args.ros_args = extra
    else:
        args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
