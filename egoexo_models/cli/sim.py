"""egoexo sim: not implemented yet (see the open issues)."""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("egoexo sim is not implemented yet.")
    return 2
