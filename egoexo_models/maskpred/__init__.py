"""The cross-view HOI mask predictor Φseg (paper §2.2), its streaming runner and the HOI segmenters.

Layers, from weights to stream: config.py (frozen sizes) -> model.py / segmenter.py (stateless
nn.Modules) -> step.py (the one-frame graph that is exported) -> runtime (egoexo_models.runtime)
-> streaming.py / segmenting.py (runners holding no per-stream state; MaskMemoryState in memory.py
carries it) -> loading.py (builders).
"""

from egoexo_models.maskpred.config import MaskPredictorConfig, SegmenterConfig
from egoexo_models.maskpred.inputs import MaskInputError
from egoexo_models.maskpred.loading import (
    build_mask_predictor,
    build_segmenter,
    load_ego_segmenter,
    load_exo_segmenter,
    load_mask_predictor,
)
from egoexo_models.maskpred.memory import MaskMemoryState
from egoexo_models.maskpred.model import MaskPredictor
from egoexo_models.maskpred.segmenter import HOISegmenter
from egoexo_models.maskpred.segmenting import EgoSegmenter, ExoSegmenter
from egoexo_models.maskpred.streaming import StreamingMaskPredictor

__all__ = [
    "EgoSegmenter",
    "ExoSegmenter",
    "HOISegmenter",
    "MaskInputError",
    "MaskMemoryState",
    "MaskPredictor",
    "MaskPredictorConfig",
    "SegmenterConfig",
    "StreamingMaskPredictor",
    "build_mask_predictor",
    "build_segmenter",
    "load_ego_segmenter",
    "load_exo_segmenter",
    "load_mask_predictor",
]
