"""The articulated hand and arm of the actor, as MJCF, and the finger-closure search for grasps.

Hand frame (origin at the wrist): +x points along the fingers, +z is the palm normal (fingers curl
toward +z), +y = z × x. The thumb sits on the -y side of a right hand and the +y side of a left one.
Each finger has three hinges driven together by one closure value in [0, 1]; the thumb has three.
The hand, its fingers and the forearm are bodies named `hand_*` (label 1); the upper arm, torso and
head are background.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from training.sim.transforms import frame_from_axes, quat_from_matrix

FINGERS = ("thumb", "index", "middle", "ring", "little")
# Phalanx lengths (m) and capsule radii at hand scale 1.
_PHALANGES = {
    "thumb": ((0.036, 0.03, 0.026), 0.0098),
    "index": ((0.042, 0.026, 0.021), 0.0088),
    "middle": ((0.046, 0.029, 0.022), 0.0088),
    "ring": ((0.043, 0.027, 0.021), 0.0084),
    "little": ((0.034, 0.021, 0.019), 0.0077),
}
_FINGER_Y = {"index": 0.029, "middle": 0.0095, "ring": -0.0095, "little": -0.028}  # toward the thumb = +
PALM_LENGTH, PALM_HALF_WIDTH, PALM_HALF_THICKNESS = 0.09, 0.041, 0.014
# Joint angles (rad) of the three hinges at closure 1.
_FULL_CURL = {
    "thumb": (0.5, 0.9, 0.9),
    "index": (1.5, 1.7, 1.2),
    "middle": (1.5, 1.7, 1.2),
    "ring": (1.5, 1.7, 1.2),
    "little": (1.5, 1.7, 1.2),
}
FOREARM_LENGTH, UPPER_ARM_LENGTH = 0.27, 0.3


def thumb_sign(side: str) -> float:
    """+1 when the thumb is on the hand frame's +y side (left hand), -1 for a right hand."""
    return -1.0 if side == "right" else 1.0


def _f(values) -> str:
    return " ".join(f"{v:.5f}" for v in np.ravel(values))


def hand_xml(prefix: str, side: str, scale: float, skin_rgb, sleeve_rgb, hidden_group: int) -> str:
    """MJCF of one hand (mocap body `{prefix}hand_palm` with finger chains) and its forearm.

    The forearm is its own mocap body (`{prefix}hand_forearm`, a capsule along its local z) that the
    world places between elbow and wrist every frame; the upper arm likewise (`{prefix}upper_arm`),
    in geom group `hidden_group` that the ego camera does not draw.
    """
    sign = thumb_sign(side)
    skin = f'rgba="{_f(skin_rgb)} 1"'
    parts = [
        f'<body name="{prefix}hand_palm" mocap="true">',
        f'<geom name="{prefix}palm" type="box" size="{_f(np.array([PALM_LENGTH / 2, PALM_HALF_WIDTH, PALM_HALF_THICKNESS]) * scale)}" '
        f'pos="{_f(np.array([PALM_LENGTH / 2, 0, 0]) * scale)}" {skin}/>',
        f'<geom type="capsule" size="{0.022 * scale:.5f}" fromto="{_f(np.array([0, -0.022, 0]) * scale)} {_f(np.array([0, 0.022, 0]) * scale)}" {skin}/>',
    ]
    for finger in FINGERS:
        lengths, radius = _PHALANGES[finger]
        if finger == "thumb":
            base = np.array([0.022, sign * 0.036, -0.004]) * scale
            direction = np.array([0.62, sign * 0.78, 0.12])
            rotation = frame_from_axes(
                direction, np.array([0.0, 0.0, 1.0]) - 0.6 * sign * np.array([0, 1.0, 0])
            )
        else:
            base = np.array([PALM_LENGTH, sign * _FINGER_Y[finger], 0.0]) * scale
            rotation = np.eye(3)
        parts.append(
            f'<body name="{prefix}hand_{finger}0" pos="{_f(base)}" quat="{_f(quat_from_matrix(rotation))}">'
        )
        for k, length in enumerate(lengths):
            if k > 0:
                parts.append(f'<body name="{prefix}hand_{finger}{k}" pos="{lengths[k - 1] * scale:.5f} 0 0">')
            parts.append(f'<joint name="{prefix}{finger}{k}" type="hinge" axis="0 -1 0"/>')
            r = radius * scale * (1.0 - 0.07 * k)
            parts.append(
                f'<geom type="capsule" size="{r:.5f}" fromto="0 0 0 {length * scale:.5f} 0 0" {skin}/>'
            )
        parts.append("</body>" * len(lengths))
    parts.append("</body>")
    sleeve = f'rgba="{_f(sleeve_rgb)} 1"'
    parts.append(
        f'<body name="{prefix}hand_forearm" mocap="true"><geom type="capsule" size="{0.027 * scale:.5f}" '
        f'fromto="0 0 {-FOREARM_LENGTH / 2:.5f} 0 0 {FOREARM_LENGTH / 2:.5f}" {sleeve}/></body>'
    )
    parts.append(
        f'<body name="{prefix}upper_arm" mocap="true"><geom type="capsule" size="0.037" group="{hidden_group}" '
        f'fromto="0 0 {-UPPER_ARM_LENGTH / 2:.5f} 0 0 {UPPER_ARM_LENGTH / 2:.5f}" {sleeve}/></body>'
    )
    return "\n".join(parts)


def finger_angles(closure: np.ndarray) -> dict[str, np.ndarray]:
    """Hinge angles of each finger's three joints for per-finger closures (5,) in [0, 1]."""
    return {finger: closure[i] * np.asarray(_FULL_CURL[finger]) for i, finger in enumerate(FINGERS)}


@dataclass
class HandJoints:
    """qpos addresses of one hand's finger joints and the geoms of each finger, looked up once."""

    qpos: dict[str, np.ndarray]
    geoms: dict[str, np.ndarray]
    hand_geoms: np.ndarray  # palm and all fingers (not the forearm)

    @classmethod
    def find(cls, model: mujoco.MjModel, prefix: str) -> HandJoints:
        qpos, geoms = {}, {}
        for finger in FINGERS:
            joint_ids = [
                mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"{prefix}{finger}{k}") for k in range(3)
            ]
            qpos[finger] = np.array([model.jnt_qposadr[j] for j in joint_ids])
            bodies = [model.jnt_bodyid[j] for j in joint_ids]
            geoms[finger] = np.flatnonzero(np.isin(model.geom_bodyid, bodies))
        names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b) or "" for b in range(model.nbody)]
        hand_bodies = [
            b for b, n in enumerate(names) if n.startswith(prefix + "hand_") and n != prefix + "hand_forearm"
        ]
        return cls(qpos, geoms, np.flatnonzero(np.isin(model.geom_bodyid, hand_bodies)))

    def set_closure(self, data: mujoco.MjData, closure: np.ndarray) -> None:
        for finger, angles in finger_angles(closure).items():
            data.qpos[self.qpos[finger]] = angles


def contact_closure(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    joints: HandJoints,
    target_geoms: np.ndarray,
    *,
    gap: float = 0.0015,
    iterations: int = 10,
) -> np.ndarray:
    """Per-finger closure at which each finger first touches `target_geoms`, by bisection.

    The wrist and the object must already be posed in `data`. A finger that never touches the object
    closes fully (1.0); one that already touches it when open stays at 0. Leaves `data` at the result.
    """
    closure = np.zeros(len(FINGERS))
    for i, finger in enumerate(FINGERS):

        def clearance(c: float, finger=finger, i=i) -> float:
            closure[i] = c
            joints.set_closure(data, closure)
            mujoco.mj_kinematics(model, data)
            return min(
                mujoco.mj_geomDistance(model, data, int(g), int(t), 0.05, None)
                for g in joints.geoms[finger]
                for t in target_geoms
            )

        if clearance(1.0) > gap:
            closure[i] = 1.0
            continue
        low, high = 0.0, 1.0
        if clearance(low) <= gap:
            closure[i] = 0.0
            continue
        for _ in range(iterations):
            middle = 0.5 * (low + high)
            if clearance(middle) > gap:
                low = middle
            else:
                high = middle
        closure[i] = low
    joints.set_closure(data, closure)
    mujoco.mj_kinematics(model, data)
    return closure
