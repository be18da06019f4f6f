"""egoexo annotate: HOI masks for clips without them (per-frame prompters + SAM-2), paper §2.4.

Same as `python training/annotate.py CLIP_ROOT [...]`; `egoexo annotate -- --help` lists its options.
"""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "arguments", nargs=argparse.REMAINDER, help="CLIP_ROOT and the options of training/annotate.py"
    )


def run(args: argparse.Namespace) -> int:
    from training.annotate import main

    arguments = args.arguments[1:] if args.arguments[:1] == ["--"] else args.arguments
    return main(arguments)
