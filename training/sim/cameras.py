"""The ego camera's path: a head that bobs with the actor's steps and turns, with a lag, toward the hand."""

from __future__ import annotations

import numpy as np

from training.sim.layout import COUNTER_TOP, EYE, side_sign
from training.sim.scene import Scene
from training.sim.transforms import look_at_mujoco, pose

BOB_HZ = 1.7  # vertical bobbing frequency; sideways sway runs at half of it
GAZE_LAG = 0.55  # fraction of the way the gaze moves toward its goal each frame
# Where the head looks: mostly at the target object (eyes lead the hand), some at the hand and the work area.
GAZE_WEIGHTS = {"work": 0.25, "target": 0.5, "hand": 0.25}


def ego_camera_path(
    scene: Scene, hand_positions: np.ndarray, target_positions: np.ndarray, fps: float
) -> list[np.ndarray]:
    """MuJoCo-convention camera poses (4x4) of the ego camera, one per frame (positions are (N,3))."""
    offset = np.asarray(scene.head_offset)
    work = np.array([side_sign(scene.side) * 0.08, -0.12, COUNTER_TOP]) + offset * [1, 1, 0]
    gaze = work.copy()
    poses = []
    for i, (hand, target) in enumerate(zip(hand_positions, target_positions, strict=True)):
        goal = GAZE_WEIGHTS["work"] * work + GAZE_WEIGHTS["target"] * target + GAZE_WEIGHTS["hand"] * hand
        gaze = goal if i == 0 else gaze + GAZE_LAG * (goal - gaze)
        t = i / fps
        bob = scene.bob_amplitude * np.array(
            [
                0.5 * np.sin(np.pi * BOB_HZ * t + scene.bob_phase),
                0.0,
                np.sin(2 * np.pi * BOB_HZ * t + scene.bob_phase),
            ]
        )
        lean = 0.06 * np.array([gaze[0] - work[0], 0.0, 0.0])
        eye = EYE + offset + bob + lean
        poses.append(pose(look_at_mujoco(eye, gaze), eye))
    return poses
