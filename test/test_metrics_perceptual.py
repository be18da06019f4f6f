"""LPIPS and FVD: strict loading of user-given weight files, and the math that can be checked offline."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from scipy import linalg

from egoexo_models.metrics.fvd import MIN_FVD_FRAMES, I3d, frechet_distance
from egoexo_models.metrics.lpips import ALEXNET_CHANNELS, AlexNetFeatures, LpipsAlex
from egoexo_models.metrics.state_files import read_state_dict
from egoexo_models.weights import WeightsError


def write_lpips_files(tmp_path, head_value: float | None = None):
    """A torchvision-style AlexNet checkpoint (features + classifier) and lpips-style heads, random."""
    torch.manual_seed(0)
    backbone = AlexNetFeatures().state_dict()
    backbone["classifier.1.weight"] = torch.zeros(4, 9216)  # present in full ImageNet checkpoints
    heads = {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1)
        if head_value is None
        else torch.full((1, c, 1, 1), head_value)
        for i, c in enumerate(ALEXNET_CHANNELS)
    }
    torch.save(backbone, tmp_path / "alexnet.pth")
    torch.save(heads, tmp_path / "alex_heads.pth")
    return tmp_path / "alexnet.pth", tmp_path / "alex_heads.pth"


def test_lpips_of_identical_frames_is_zero_and_of_different_frames_positive(tmp_path):
    model = LpipsAlex.from_files(*write_lpips_files(tmp_path))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    assert np.allclose(model.distances(a, a), 0.0, atol=1e-6)
    assert (model.distances(a, b) > 0).all()


def test_lpips_with_unit_heads_sums_one_minus_cosine_over_layers(tmp_path):
    """|x/|x| - y/|y||² = 2 - 2 cos(x, y): an independent way to write the same distance."""
    model = LpipsAlex.from_files(*write_lpips_files(tmp_path, head_value=1.0))
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32))
    b = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32))
    taps_a = model.backbone((a - model.shift) / model.scale)
    taps_b = model.backbone((b - model.shift) / model.scale)
    expected = sum(
        (2 - 2 * F.cosine_similarity(x, y, dim=1, eps=1e-20)).mean()
        for x, y in zip(taps_a, taps_b, strict=True)
    )
    with torch.no_grad():
        assert model(a, b).item() == pytest.approx(expected.item(), rel=1e-4)


def test_lpips_backbone_with_wrong_keys_is_rejected_naming_them(tmp_path):
    _, heads = write_lpips_files(tmp_path)
    state = AlexNetFeatures().state_dict()
    state["features.1.weight"] = state.pop("features.0.weight")
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(
        WeightsError, match=r"missing key\(s\): \['features.0.weight'\].*unexpected.*features.1.weight"
    ):
        LpipsAlex.from_files(tmp_path / "bad.pth", heads)


def test_lpips_heads_with_wrong_keys_are_rejected_naming_them(tmp_path):
    backbone, _ = write_lpips_files(tmp_path)
    save_file({"lins.0.weight": torch.zeros(1, 64, 1, 1)}, tmp_path / "heads.safetensors")
    with pytest.raises(WeightsError, match=r"lin0.model.1.weight.*unexpected \['lins.0.weight'\]"):
        LpipsAlex.from_files(backbone, tmp_path / "heads.safetensors")


def test_a_missing_weight_file_is_named(tmp_path):
    with pytest.raises(WeightsError, match=r"nowhere\.pth does not exist"):
        read_state_dict(tmp_path / "nowhere.pth", "LPIPS heads")


def test_a_file_that_is_not_a_state_dict_is_rejected(tmp_path):
    torch.save({"epoch": 3, "weight": torch.zeros(2)}, tmp_path / "checkpoint.pt")
    with pytest.raises(WeightsError, match="flat state dict"):
        read_state_dict(tmp_path / "checkpoint.pt", "FVD I3D")
    (tmp_path / "weights.npz").write_bytes(b"x")
    with pytest.raises(WeightsError, match=r"suffix '\.npz'"):
        read_state_dict(tmp_path / "weights.npz", "FVD I3D")
    (tmp_path / "garbage.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="not a readable weight file"):
        read_state_dict(tmp_path / "garbage.safetensors", "FVD I3D")


def test_frechet_distance_agrees_with_the_scipy_sqrtm_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 12))
    b = rng.normal(0.5, 1.0, size=(50, 12)) @ rng.normal(size=(12, 12))
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * linalg.sqrtm(cov_a @ cov_b).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_of_a_set_with_itself_is_zero_and_of_a_shifted_set_its_squared_shift():
    features = np.random.default_rng(1).normal(size=(40, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(features, features + 2.0) == pytest.approx(8 * 4.0, rel=1e-6)


def test_frechet_distance_needs_two_samples_per_set():
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(np.zeros((1, 4)), np.zeros((5, 4)))


def test_i3d_loads_a_checkpoint_without_batch_norm_counters(tmp_path):
    state = {k: v for k, v in I3d().state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(state, tmp_path / "i3d.safetensors")
    model = I3d.from_file(tmp_path / "i3d.safetensors")
    assert not model.training
    assert torch.equal(model.logits.conv3d.bias, state["logits.conv3d.bias"])


def test_i3d_with_wrong_keys_is_rejected_naming_them(tmp_path):
    state = I3d().state_dict()
    state["Mixed_3b.b0.conv.weight"] = state.pop("Mixed_3b.b0.conv3d.weight")
    torch.save(state, tmp_path / "i3d.pt")
    with pytest.raises(WeightsError, match=r"missing key\(s\): \['Mixed_3b.b0.conv3d.weight'\]"):
        I3d.from_file(tmp_path / "i3d.pt")


def test_i3d_rejects_videos_shorter_than_its_temporal_footprint():
    with pytest.raises(ValueError, match=f"at least {MIN_FVD_FRAMES} frames"):
        I3d().eval().video_features([np.zeros((MIN_FVD_FRAMES - 1, 32, 32, 3), np.uint8)])
