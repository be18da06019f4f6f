"""egoexo demo: the main job. Plays the committed sample clips through the nodes and evaluates.

At this stage it runs what exists and says plainly what is not there yet.
"""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("egoexo demo: the pipeline is not built yet; nothing to run.")
    return 0
