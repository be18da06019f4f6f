"""egoexo demo: the main job. Plays the committed sample clips through the ROS 2 nodes and scores them.

    egoexo demo [--clips samples/test] [--out outputs/demo] [--params-file config/predict.yaml]

The nodes (mask and video) start in this process; the sample clips are published as real camera
topics at their frame rate; the predictions come back over /egoexo/hoi_masks and /egoexo/pred_video,
are written as prediction directories with preview GIFs, and are scored against the ground truth
beside the baselines. When a shipped model is not there yet, the demo says so and runs the same
path with an untrained (random) stand-in for that model beside the trained ones, so everything
still runs for real; the numbers of a random stage then mean nothing about quality.
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_PARTS = ("maskpred", "exo_segmenter", "vae", "video_unet")
VIDEO_PARTS = ("vae", "video_unet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--clips",
        type=Path,
        default=REPO_ROOT / "samples" / "test",
        help="clip directory root (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "outputs" / "demo",
        help="where predictions and metrics go (default: %(default)s)",
    )
    parser.add_argument(
        "--params-file",
        type=Path,
        default=REPO_ROOT / "config" / "predict.yaml",
        help="node parameters (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds to wait for one clip's prediction (default: %(default)s)",
    )


def missing_shipped_weights() -> list[str]:
    """Names of the shipped models whose weights are not in egoexo_models/weights/ yet."""
    from egoexo_models.weights import SHIPPED_WEIGHTS_ROOT

    return [
        name for name in SHIPPED_PARTS if not (SHIPPED_WEIGHTS_ROOT / name / "model.safetensors").is_file()
    ]


def stand_in_weights_root(missing: list[str], height: int, num_frames: int) -> tuple[Path, list[str]]:
    """A weights root with the shipped models that exist and random stand-ins for the missing ones.

    The VAE and the video UNet are replaced together (a random UNet fits only its own VAE).
    Returns the root and the names of the models that are random there.
    """
    from egoexo_models.pipeline import write_random_weights
    from egoexo_models.weights import SHIPPED_WEIGHTS_ROOT

    root = Path(tempfile.mkdtemp(prefix="egoexo-demo-weights-"))
    write_random_weights(root, size=height, num_frames=num_frames)
    random_parts = set(missing)
    if random_parts & set(VIDEO_PARTS):
        random_parts |= set(VIDEO_PARTS)
    for name in SHIPPED_PARTS:
        if name not in random_parts:
            shutil.rmtree(root / name)
            (root / name).symlink_to(SHIPPED_WEIGHTS_ROOT / name, target_is_directory=True)
    return root, [name for name in SHIPPED_PARTS if name in random_parts]


def run(args: argparse.Namespace) -> int:
    from egoexo_models.clip import list_clips

    started = time.monotonic()
    clips = list_clips(args.clips)
    if not clips:
        print(f"demo: no clips under {args.clips}; regenerate the samples with scripts/make_samples.sh")
        return 1
    if not args.params_file.is_file():
        print(f"demo: parameters file {args.params_file} not found; pass --params-file PATH")
        return 2
    ros_args: list[str] = []
    missing = missing_shipped_weights()
    if missing:
        from egoexo_models.clip import read_meta

        meta = read_meta(clips[0])
        root, random_parts = stand_in_weights_root(missing, meta.height, meta.num_frames)
        ros_args = ["-p", f"weights_dir:={root}"]
        trained = [name for name in SHIPPED_PARTS if name not in random_parts]
        print(
            f"demo: NOT THERE YET: trained weights for {', '.join(missing)} are not shipped. Running the "
            f"whole path with the trained {', '.join(trained) or 'nothing'} and UNTRAINED random "
            f"{', '.join(random_parts)} ({root}): metrics of the random stages measure nothing but the plumbing.",
            flush=True,
        )

    from egoexo_ros.demo import run_demo

    status = run_demo(
        args.clips, args.out, params_file=args.params_file, ros_args=ros_args, timeout_s=args.timeout
    )
    print(f"demo: finished in {time.monotonic() - started:.0f} s (exit status {status})")
    return status
