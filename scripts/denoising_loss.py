#!/usr/bin/env python3
"""Φgen's denoising loss (Eq. 4) on clips of a latent cache, with and without the HOI masks.

    .venv/bin/python scripts/denoising_loss.py CACHE [--weights DIR] [--first N | --last N]

CACHE is a latent cache that training wrote (outputs/cache/video_diffusion/clips_*.safetensors or
val_*.safetensors). The loss is the trainer's validation loss: timesteps 100..900, the same noise
at every call. Comparing the clips a model trained on with clips it never saw shows over-fitting;
`mask_gain` is what ψ's masks save on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--weights", type=Path, help="video_unet weights (default: shipped)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--first", type=int, help="the cache's first N clips")
    which.add_argument("--last", type=int, help="the cache's last N clips")
    args = parser.parse_args()
    if not args.cache.is_file():
        parser.error(f"{args.cache} does not exist (training writes its latent caches under outputs/cache/)")

    import torch

    from egoexo_models.diffusion.model import load_video_diffusion
    from training.trainers.video_diffusion import PER_CLIP_TENSORS, load_latent_cache, validation_losses

    torch.set_num_threads(1)
    data = load_latent_cache(args.cache, torch.device("cpu"))
    count = data["latents"].shape[0]
    chosen = (
        slice(0, args.first) if args.first else slice(count - args.last, count) if args.last else slice(None)
    )
    data = {key: value[chosen] if key in PER_CLIP_TENSORS else value for key, value in data.items()}
    model = load_video_diffusion(args.weights)
    scores = validation_losses(model, data, with_masks=model.has_mask_encoder and "masks" in data)
    clips = range(count)[chosen]
    print(json.dumps({"cache": str(args.cache), "clips": f"{clips.start}..{clips.stop - 1}", **scores}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
