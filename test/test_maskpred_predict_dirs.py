"""Mask-only prediction directories, readable by `egoexo evaluate`, with given or segmented exo masks."""

import json

import numpy as np
import pytest
import torch

from egoexo_models.clip import Clip, ClipMeta, write_clip
from egoexo_models.maskpred import HOISegmenter, MaskPredictor, SegmenterConfig
from egoexo_models.maskpred.config import tiny_mask_predictor_config
from egoexo_models.maskpred.predict_masks import main, predict_mask_dirs
from egoexo_models.prediction_dir import read_prediction
from egoexo_models.weights import save_weights

SIZE = (32, 32)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    torch.manual_seed(0)
    config = tiny_mask_predictor_config(SIZE[0])
    save_weights(
        root / "maskpred", kind="maskpred", config=config, state_dict=MaskPredictor(config).state_dict()
    )
    segmenter = SegmenterConfig(
        image_size=SIZE, stem_width=8, encoder_widths=(8, 8, 16), decoder_widths=(16, 8, 8)
    )
    save_weights(
        root / "exo_seg",
        kind="exo_segmenter",
        config=segmenter,
        state_dict=HOISegmenter(segmenter).state_dict(),
    )
    rng = np.random.default_rng(0)
    for index, with_exo_masks in enumerate((True, False)):
        labels = rng.integers(0, 3, (4, *SIZE), dtype=np.uint8)
        write_clip(
            root / "clips" / f"clip_{index}",
            Clip(
                meta=ClipMeta(
                    instruction="push the box", fps=8.0, num_frames=4, height=32, width=32, source="sim"
                ),
                exo=rng.integers(0, 256, (4, *SIZE, 3), dtype=np.uint8),
                ego=rng.integers(0, 256, (4, *SIZE, 3), dtype=np.uint8),
                exo_masks=labels if with_exo_masks else None,
                ego_masks=labels,
            ),
        )
    return root


def test_with_the_exo_segmenter_every_clip_gets_a_prediction_directory(setup, tmp_path):
    written = predict_mask_dirs(
        setup / "clips",
        tmp_path / "out",
        weights_dir=setup / "maskpred",
        exo_masks="segmenter",
        segmenter_weights=setup / "exo_seg",
    )
    assert [p.name for p in written] == ["clip_0", "clip_1"]
    prediction = read_prediction(written[0])
    assert prediction.ego_masks.shape == (4, 32, 32) and prediction.frames is None
    info = json.loads((written[0] / "pred.json").read_text())
    assert info["exo_masks"] == "segmenter" and info["exo_segmenter"].startswith("exo_segmenter:")


def test_given_exo_masks_are_required_unless_the_segmenter_is_asked_for(setup, tmp_path):
    with pytest.raises(ValueError, match=r"clip_1: no exo_masks/; use --exo-masks segmenter"):
        main(
            [
                "--clips",
                str(setup / "clips"),
                "--out",
                str(tmp_path / "out"),
                "--weights",
                str(setup / "maskpred"),
            ]
        )
    assert (
        main(
            [
                "--clips",
                str(setup / "clips" / "clip_0"),
                "--out",
                str(tmp_path / "one"),
                "--weights",
                str(setup / "maskpred"),
            ]
        )
        == 0
    )
    assert read_prediction(tmp_path / "one" / "clip_0").num_frames == 4
