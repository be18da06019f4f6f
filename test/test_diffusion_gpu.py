"""Φgen on a CUDA GPU: half precision and the CUDA-graph UNet step agree with float32 eager (skipped without a GPU)."""

import numpy as np
import pytest
import torch

from egoexo_models.diffusion.generator import torch_generator
from egoexo_models.diffusion.model import VideoDiffusionModel
from egoexo_models.diffusion.sampling import SamplerSettings
from egoexo_models.diffusion.text_encoder import load_text_encoder
from egoexo_models.diffusion.tiny import (
    randomize_zero_layers,
    tiny_diffusion_config,
    tiny_vae_config,
    write_tiny_text_encoder,
)
from egoexo_models.diffusion.vae import FrameVAE
from training.export.diffusion import video_psnr

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
SIZE, FRAMES = 32, 4


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    config = tiny_diffusion_config(
        text_path=str(write_tiny_text_encoder(tmp_path_factory.mktemp("text"))), num_frames=FRAMES, size=SIZE
    )
    torch.manual_seed(0)
    return (
        randomize_zero_layers(VideoDiffusionModel(config)).eval(),
        FrameVAE(tiny_vae_config()).eval(),
        load_text_encoder(config.text),
    )


def sample(generator) -> np.ndarray:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    masks = rng.integers(0, 3, (FRAMES, SIZE, SIZE), dtype=np.uint8)
    return generator.generate(
        frame, "open the drawer", masks, settings=SamplerSettings(steps=4, guidance_scale=2.0), seed=0
    ).frames


@pytest.mark.parametrize("half", [None, torch.float16, torch.bfloat16])
def test_cuda_graph_and_half_precision_match_float32_eager(parts, half):
    model, vae, text = parts
    reference = sample(torch_generator(model, vae, text, device="cuda"))
    candidate = sample(torch_generator(model, vae, text, device="cuda", half_dtype=half, cuda_graph=True))
    assert video_psnr(reference, candidate) >= (40.0 if half is None else 25.0)


def test_cuda_matches_cpu(parts):
    model, vae, text = parts
    assert (
        video_psnr(
            sample(torch_generator(model, vae, text)),
            sample(torch_generator(model, vae, text, device="cuda")),
        )
        >= 35.0
    )
