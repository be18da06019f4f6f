"""Random-init weights at the shipped models' sizes, for timing the ROS nodes before trained weights exist.

    .venv/bin/python bench/bench_ros_weights.py OUT_DIR
    .venv/bin/python bench/bench_ros_latency.py -p weights_dir:=OUT_DIR

Builds every stage from the `model:` section of its training config (config/train/maskpred.yaml,
exo_segmenter.yaml, vae.yaml, video_diffusion_phase2.yaml) with random weights: the compute per
call, hence the latency, is that of the trained models; the predictions are noise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def model_section(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / "train" / f"{name}.yaml").read_text())["model"]


def write_shipped_size_weights(root: Path) -> Path:
    from egoexo_models.diffusion.model import VIDEO_UNET_KIND, VideoDiffusionConfig, VideoDiffusionModel
    from egoexo_models.diffusion.tiny import randomize_zero_layers
    from egoexo_models.diffusion.vae import VAE_KIND, FrameVAE, VAEConfig
    from egoexo_models.maskpred.config import MaskPredictorConfig, SegmenterConfig
    from egoexo_models.maskpred.model import MaskPredictor
    from egoexo_models.maskpred.segmenter import HOISegmenter
    from egoexo_models.weights import config_from_dict, save_weights

    torch.manual_seed(0)
    mask_config = config_from_dict(MaskPredictorConfig, model_section("maskpred"), "maskpred.yaml model")
    save_weights(
        root / "maskpred",
        kind="maskpred",
        config=mask_config,
        state_dict=MaskPredictor(mask_config).state_dict(),
    )
    segmenter_config = config_from_dict(
        SegmenterConfig, model_section("exo_segmenter"), "exo_segmenter.yaml model"
    )
    segmenter = HOISegmenter(segmenter_config)
    save_weights(
        root / "exo_segmenter",
        kind="exo_segmenter",
        config=segmenter_config,
        state_dict=segmenter.state_dict(),
    )
    vae_config = config_from_dict(VAEConfig, model_section("vae"), "vae.yaml model")
    save_weights(
        root / VAE_KIND,
        kind=VAE_KIND,
        config=vae_config,
        state_dict=FrameVAE(vae_config).autoencoder.state_dict(),
    )
    video_config = config_from_dict(
        VideoDiffusionConfig, model_section("video_diffusion_phase2"), "video_diffusion_phase2.yaml model"
    )
    model = randomize_zero_layers(VideoDiffusionModel(video_config))
    save_weights(
        root / VIDEO_UNET_KIND, kind=VIDEO_UNET_KIND, config=video_config, state_dict=model.state_dict()
    )
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    print(f"wrote {write_shipped_size_weights(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
