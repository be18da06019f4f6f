"""`egoexo export` for the mask models: ONNX files with parity figures, TensorRT status, clear failures."""

import argparse
import importlib.util
import json

import numpy as np
import pytest
import torch

from egoexo_models.clip import Clip, ClipMeta, write_clip
from egoexo_models.maskpred import HOISegmenter, MaskPredictor, SegmenterConfig
from egoexo_models.maskpred.config import tiny_mask_predictor_config
from egoexo_models.weights import save_weights

SIZE = (32, 32)
MASKPRED = tiny_mask_predictor_config(SIZE[0], memory_ring=3)


def tiny_clip(seed: int) -> Clip:
    rng = np.random.default_rng(seed)
    frames = 5
    labels = rng.integers(0, 3, (frames, *SIZE), dtype=np.uint8)
    return Clip(
        meta=ClipMeta(
            instruction="pick up the cup", fps=8.0, num_frames=frames, height=32, width=32, source="sim"
        ),
        exo=rng.integers(0, 256, (frames, *SIZE, 3), dtype=np.uint8),
        ego=rng.integers(0, 256, (frames, *SIZE, 3), dtype=np.uint8),
        exo_masks=labels,
        ego_masks=labels[::-1].copy(),
    )


@pytest.fixture(scope="module")
def weights_and_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    save_weights(
        root / "maskpred", kind="maskpred", config=MASKPRED, state_dict=MaskPredictor(MASKPRED).state_dict()
    )
    for view in ("exo", "ego"):
        config = SegmenterConfig(
            image_size=SIZE, view=view, stem_width=8, encoder_widths=(8, 8, 16), decoder_widths=(16, 8, 8)
        )
        save_weights(
            root / f"{view}_segmenter",
            kind=f"{view}_segmenter",
            config=config,
            state_dict=HOISegmenter(config).state_dict(),
        )
    for index in range(2):
        write_clip(root / "clips" / f"clip_{index}", tiny_clip(index))
    return root


@pytest.mark.slow
def test_export_writes_every_mask_model_with_parity_figures_and_a_report(weights_and_clips, tmp_path, capsys):
    from egoexo_models.cli import export

    root = weights_and_clips
    args = argparse.Namespace(
        out=tmp_path / "out",
        fp16=False,
        only="mask",
        clips=root / "clips",
        maskpred_weights=root / "maskpred",
        exo_segmenter_weights=root / "exo_segmenter",
        ego_segmenter_weights=root / "ego_segmenter",
    )
    assert export.run(args) == 0
    report = json.loads((tmp_path / "out" / "export_report.json").read_text())
    mask_records = {
        r["name"]: r for r in report if r["name"] in ("maskpred_step", "exo_segmenter", "ego_segmenter")
    }
    assert sorted(mask_records) == ["ego_segmenter", "exo_segmenter", "maskpred_step"]
    for record in mask_records.values():
        assert (tmp_path / "out" / f"{record['name']}.onnx").is_file()
        assert record["opset"] >= 17 and record["parity_ok"]
        assert record["parity"]["max_abs_logit_diff"] < 1e-3
        assert record["parity"]["argmax_agreement"] >= 0.999
    assert mask_records["maskpred_step"]["parity"]["pixels"] == 2 * 5 * 32 * 32  # every frame of both clips
    if importlib.util.find_spec("tensorrt") is None:
        assert "TensorRT is not importable here" in mask_records["maskpred_step"]["tensorrt"]
    assert "max |logit diff|" in capsys.readouterr().out


@pytest.mark.slow
def test_models_without_shipped_weights_are_skipped_with_the_reason(weights_and_clips, tmp_path, monkeypatch):
    from training.export import maskpred as export_module

    monkeypatch.setattr(export_module, "shipped_weights_dir", lambda name: tmp_path / "shipped" / name)
    records = export_module.export_mask_models(
        tmp_path / "out",
        clip_root=weights_and_clips / "clips",
        weights={"maskpred": weights_and_clips / "maskpred"},
    )
    skipped = {r["name"]: r["skipped"] for r in records if "skipped" in r}
    assert sorted(skipped) == ["ego_segmenter", "exo_segmenter"]
    assert "pass --ego-segmenter-weights" in skipped["ego_segmenter"]
    assert [r["name"] for r in records if "parity" in r] == ["maskpred_step"]


def test_export_without_usable_parity_clips_is_a_named_error(weights_and_clips, tmp_path):
    from training.export.maskpred import export_mask_models

    root = weights_and_clips
    write_clip(
        tmp_path / "clips" / "big",
        Clip(
            meta=ClipMeta(instruction="x", fps=8.0, num_frames=2, height=16, width=16, source="sim"),
            exo=np.zeros((2, 16, 16, 3), np.uint8),
            ego=np.zeros((2, 16, 16, 3), np.uint8),
            exo_masks=np.zeros((2, 16, 16), np.uint8),
        ),
    )
    with pytest.raises(ValueError, match="no clips of size 32x32 with exo_masks/"):
        export_mask_models(
            tmp_path / "out", clip_root=tmp_path / "clips", weights={"maskpred": root / "maskpred"}
        )
