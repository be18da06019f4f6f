"""Fixed dimensions of the sim kitchen: the counter, the actor's body and where the ego camera sits.

World frame: z up, metres. The counter top is centred on the origin's vertical; the actor stands on
its -y side facing +y, so the actor's left is -x and right is +x.
"""

from __future__ import annotations

import numpy as np

COUNTER_TOP = 0.9
COUNTER_HALF = (0.6, 0.4)  # half extents along x, y
OBJECT_REGION_Y = (-0.24, 0.06)  # where objects stand (near the actor, within reach)
OBJECT_REGION_X = 0.42

TORSO_BOTTOM = np.array([0.0, -0.64, 0.98])
TORSO_TOP = np.array([0.0, -0.47, 1.36])
TORSO_RADIUS = 0.13
HEAD_CENTRE = np.array([0.0, -0.45, 1.56])
HEAD_RADIUS = 0.095
EYE = np.array([0.0, -0.37, 1.56])  # ego camera centre when the head is still


def shoulder(side: str) -> np.ndarray:
    """Shoulder joint of the given arm ("left" or "right")."""
    return np.array([0.18 if side == "right" else -0.18, -0.44, 1.34])


def side_sign(side: str) -> float:
    """+1 for the right side of the actor (+x), -1 for the left."""
    return 1.0 if side == "right" else -1.0
