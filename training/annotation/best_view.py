"""The paper's choice among several exo cameras: the view with the largest hand-mask proportion.

A clip of a take with several exo cameras keeps them as CLIP/exo_views/<camera>/000000.png ...
(exo/ holds one of them, as clip format v1 requires). After annotation the view whose masks cover
the largest mean fraction of hand pixels becomes exo/ and exo_masks/, and meta.json records the
choice under "exo_view".
"""

from __future__ import annotations

import numpy as np

from egoexo_models.clip import LABEL_HAND

RULE = "largest mean hand-mask proportion over the clip's frames (EgoExo-Gen, implementation details)"


def hand_fraction(labels: np.ndarray) -> float:
    """Mean fraction of hand pixels in label maps (N,H,W)."""
    return float((labels == LABEL_HAND).mean())


def select_best_exo_view(masks_per_view: dict[str, np.ndarray]) -> tuple[str, dict[str, object]]:
    """The chosen camera name and the meta.json record of the choice (ties go to the first name in order)."""
    if not masks_per_view:
        raise ValueError("no exo views to choose from")
    fractions = {name: hand_fraction(masks) for name, masks in sorted(masks_per_view.items())}
    best = max(fractions, key=lambda name: fractions[name])
    return best, {
        "selected": best,
        "rule": RULE,
        "hand_fraction": {k: round(v, 6) for k, v in fractions.items()},
    }
