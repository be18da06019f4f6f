"""egoexo ros: not implemented yet (see the open issues)."""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("egoexo ros is not implemented yet.")
    return 2
