"""Choreography of the six actions: keyframed palm poses, finger closures and object motion.

A plan is a list of keyframes at clip fractions u in [0, 1]. Between two keyframes the palm moves on
a minimum-jerk profile (position linear, rotation spherical). From the keyframe where the fingers
have closed to the one where they open, the target moves rigidly with the palm; for the lid actions
the lid angle is keyframed instead and the palm rides on the lid's knob. Grasps are found in the
world: the palm slides along its approach until it nearly touches the object, then each finger
closes until it touches (see hand.contact_closure).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import mujoco
import numpy as np

from training.sim.hand import FINGERS, FOREARM_LENGTH, UPPER_ARM_LENGTH, contact_closure
from training.sim.layout import COUNTER_TOP, shoulder, side_sign
from training.sim.objects import KNOB_HALF_HEIGHT
from training.sim.scene import Scene
from training.sim.transforms import (
    frame_from_axes,
    interpolate_pose,
    invert,
    min_jerk,
    normalize,
    pose,
    rotation_about,
)
from training.sim.world import ACTIVE, ArmPose, SimWorld

OPEN = np.full(len(FINGERS), 0.08)  # fingers nearly straight, ready to grasp
RELAXED = np.array([0.25, 0.22, 0.25, 0.28, 0.3])  # a resting hand
PUSHING = np.full(len(FINGERS), 0.12)
UP = np.array([0.0, 0.0, 1.0])


@dataclass
class Key:
    """One keyframe: palm pose, finger closures, lid angle (rad), and whether the target is held."""

    u: float
    palm: np.ndarray
    closure: np.ndarray
    held: bool = False
    lid: float = 0.0


@dataclass
class FrameState:
    """Everything that moves, at one instant."""

    active: ArmPose
    target: np.ndarray  # world pose of the target object
    lid: float


class ActionPlan:
    """Keyframes of one clip and the target's pose at the first key; `state(u)` interpolates."""

    def __init__(
        self, world: SimWorld, keys: list[Key], target_start: np.ndarray, *, rides_lid: bool
    ) -> None:
        if any(b.u <= a.u for a, b in itertools.pairwise(keys)):
            raise ValueError(f"keyframes must be strictly increasing in u, got {[k.u for k in keys]}")
        self.world, self.keys, self.rides_lid = world, keys, rides_lid
        self.side = world.scene.side
        self.shoulder = shoulder(self.side) + np.asarray(world.scene.head_offset)
        # The target pose at every key: carried along while held, left where it was put otherwise.
        self._targets = [target_start]
        self._grip = None
        for previous, key in itertools.pairwise(keys):
            current = self._targets[-1]
            if previous.held and key.held and not rides_lid:
                if self._grip is None:
                    self._grip = invert(previous.palm) @ current
                current = key.palm @ self._grip
            self._targets.append(current)

    def state(self, u: float) -> FrameState:
        keys = self.keys
        if u <= keys[0].u:
            k0, k1, s, i = keys[0], keys[0], 0.0, 0
        elif u >= keys[-1].u:
            k0, k1, s, i = keys[-1], keys[-1], 0.0, len(keys) - 1
        else:
            i = max(j for j, k in enumerate(keys) if k.u <= u)
            k0, k1 = keys[i], keys[i + 1]
            s = min_jerk((u - k0.u) / (k1.u - k0.u))
        palm = interpolate_pose(k0.palm, k1.palm, s)
        closure = (1 - s) * k0.closure + s * k1.closure
        lid = (1 - s) * k0.lid + s * k1.lid
        target = self._targets[i]
        if k0.held and k1.held and not self.rides_lid and self._grip is not None:
            target = palm @ self._grip
        if self.rides_lid and k0.held and k1.held:
            palm = knob_frame(self.world, lid) @ invert(knob_frame(self.world, k0.lid)) @ k0.palm
        return FrameState(active=arm_pose(self.shoulder, palm, closure, self.side), target=target, lid=lid)


def arm_pose(shoulder_pos: np.ndarray, palm: np.ndarray, closure: np.ndarray, side: str) -> ArmPose:
    """Place forearm and upper arm between shoulder and wrist by two-link inverse kinematics."""
    wrist = palm[:3, 3]
    to_wrist = wrist - shoulder_pos
    distance = np.linalg.norm(to_wrist)
    axis = to_wrist / distance
    l1, l2 = UPPER_ARM_LENGTH, FOREARM_LENGTH
    along = np.clip((l1 * l1 - l2 * l2 + distance * distance) / (2 * distance), -l1, l1)
    height = np.sqrt(max(l1 * l1 - along * along, 0.0))
    pole = np.array([side_sign(side) * 0.8, -0.1, -1.0])
    bend = normalize(pole - np.dot(pole, axis) * axis)
    elbow = shoulder_pos + along * axis + height * bend
    return ArmPose(
        palm=palm, forearm=_segment(elbow, wrist), upper_arm=_segment(shoulder_pos, elbow), closure=closure
    )


def _segment(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pose of a capsule along its local z from a to b (centred between them)."""
    direction = normalize(b - a)
    helper = np.array([1.0, 0.0, 0.0]) if abs(direction[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    rotation = frame_from_axes(direction, helper)[:, [1, 2, 0]]  # a cyclic column shift puts a->b on z
    return pose(rotation, 0.5 * (a + b))


def rest_palm(side: str, offset: np.ndarray) -> np.ndarray:
    """A hand resting palm-down on the near edge of the counter, on its own side."""
    sign = side_sign(side)
    fingers = normalize(np.array([-sign * 0.25, 1.0, -0.08]))
    rotation = frame_from_axes(fingers, -UP)
    return pose(rotation, np.array([sign * 0.24, -0.4, COUNTER_TOP + 0.032]) + offset * [1, 1, 0])


def knob_frame(world: SimWorld, lid_angle: float) -> np.ndarray:
    """World pose of the target's lid knob at a lid opening angle (rad)."""
    lid = world.scene.objects[0].shape.lid
    hinge = world.object_pose(0) @ pose(np.eye(3), np.asarray(lid.hinge))
    return hinge @ pose(rotation_about(np.array([1.0, 0.0, 0.0]), -lid_angle), np.asarray(lid.knob))


def _pose_world(
    world: SimWorld, palm: np.ndarray, closure: np.ndarray, target: np.ndarray, lid: float = 0.0
) -> None:
    world.set_arm(ACTIVE, arm_pose(shoulder(world.scene.side), palm, closure, world.scene.side))
    world.set_object(0, target, lid)
    world.forward()


def _clearance(world: SimWorld) -> float:
    """Smallest distance between the acting hand (palm and fingers) and the target."""
    model, data = world.model, world.data
    return min(
        mujoco.mj_geomDistance(model, data, int(h), int(t), 1.0, None)
        for h in world.hands[ACTIVE].hand_geoms
        for t in world.target_geoms
    )


def slide_to_contact(
    world: SimWorld,
    palm: np.ndarray,
    direction: np.ndarray,
    target: np.ndarray,
    closure: np.ndarray,
    lid: float = 0.0,
    gap: float = 0.003,
) -> np.ndarray:
    """Move `palm` along `direction` until the hand is `gap` metres from the target (either way)."""
    palm = palm.copy()
    for _ in range(6):
        _pose_world(world, palm, closure, target, lid)
        distance = _clearance(world)
        if abs(distance - gap) < 5e-4:
            break
        palm[:3, 3] += (distance - gap) * direction
    return palm


def _grasp_closure(world: SimWorld, palm: np.ndarray, target: np.ndarray, lid: float = 0.0) -> np.ndarray:
    _pose_world(world, palm, OPEN, target, lid)
    return np.maximum(contact_closure(world.model, world.data, world.hands[ACTIVE], world.target_geoms), OPEN)


def _side_grasp(world: SimWorld, target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Palm beside the object on the hand's own side, fingers forward and wrapping round the front."""
    obj = world.scene.objects[0]
    sign = side_sign(world.scene.side)
    yaw = sign * np.radians(rng.uniform(-10, 25))
    fingers = rotation_about(UP, yaw) @ np.array([0.0, 1.0, 0.0])
    palm_normal = rotation_about(UP, yaw) @ np.array([-sign, 0.0, 0.0])
    rotation = frame_from_axes(fingers, palm_normal)
    height = float(np.clip(0.55 * obj.shape.height, 0.05, 0.085))
    # Start well outside the object, with its centre level with the knuckles, then slide in.
    centre = target[:3, 3] + np.array([0.0, 0.0, height])
    start = centre - 0.065 * fingers - (obj.shape.radius + 0.06) * palm_normal
    return slide_to_contact(world, pose(rotation, start), palm_normal, target, OPEN)


def _push_contact(world: SimWorld, target: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Palm upright behind the object, facing the push direction, fingers up and slightly forward."""
    obj = world.scene.objects[0]
    rotation = frame_from_axes(normalize(UP + 0.25 * direction), direction)
    start = target[:3, 3] + np.array([0.0, 0.0, 0.04]) - (obj.shape.radius + 0.08) * direction
    return slide_to_contact(world, pose(rotation, start), direction, target, PUSHING)


def _knob_grasp(world: SimWorld, lid: float) -> np.ndarray:
    """Palm over the lid knob, palm facing the lid, fingers toward the hinge."""
    knob = knob_frame(world, lid)
    lid_normal = knob[:3, 2]  # the lid's local +z
    toward_hinge = -knob[:3, 1]
    rotation = frame_from_axes(toward_hinge, -lid_normal)
    start = knob[:3, 3] - (0.085) * toward_hinge + (KNOB_HALF_HEIGHT + 0.06) * lid_normal
    return slide_to_contact(world, pose(rotation, start), -lid_normal, world.object_pose(0), OPEN, lid)


def _lifted(T: np.ndarray, dz: float) -> np.ndarray:
    out = T.copy()
    out[2, 3] += dz
    return out


def _moved(T: np.ndarray, dxyz: np.ndarray) -> np.ndarray:
    out = T.copy()
    out[:3, 3] += dxyz
    return out


def plan_action(world: SimWorld, rng: np.random.Generator) -> ActionPlan:
    """Keyframes of the scene's action, with grasps solved in `world`."""
    scene: Scene = world.scene
    t = scene.timing
    offset = np.asarray(scene.head_offset)
    rest = rest_palm(scene.side, offset)
    target = world.object_pose(0)
    sign = side_sign(scene.side)
    back_off = np.array([0.0, -0.07, 0.05])
    if scene.action in ("open_lid", "close_lid"):
        opened = np.radians(scene.lid_open_deg)
        first, last = (0.0, opened) if scene.action == "open_lid" else (opened, 0.0)
        grasp = _knob_grasp(world, first)
        closure = _grasp_closure(world, grasp, target, first)
        approach = _moved(grasp, knob_frame(world, first)[:3, 2] * 0.05 + np.array([0, -0.03, 0]))
        release = knob_frame(world, last) @ invert(knob_frame(world, first)) @ grasp
        keys = [
            Key(0.0, rest, RELAXED, lid=first),
            Key(t.start, rest, RELAXED, lid=first),
            Key(t.reach - 0.06, approach, OPEN, lid=first),
            Key(t.reach, grasp, OPEN, lid=first),
            Key(t.close, grasp, closure, held=True, lid=first),
            Key(t.move, release, closure, held=True, lid=last),
            Key(t.release, release, OPEN, lid=last),
            Key(1.0, _moved(release, back_off), RELAXED, lid=last),
        ]
        return ActionPlan(world, keys, target, rides_lid=True)

    if scene.action == "push":
        direction = np.array([*(np.asarray(scene.goal_xy) - target[:2, 3]), 0.0])
        distance = np.linalg.norm(direction)
        direction /= distance
        contact = _push_contact(world, target, direction)
        approach = _moved(contact, -0.06 * direction + np.array([0, 0, 0.04]))
        pushed = _moved(contact, distance * direction)
        keys = [
            Key(0.0, rest, RELAXED),
            Key(t.start, rest, RELAXED),
            Key(t.reach, approach, PUSHING),
            Key(t.close, contact, PUSHING, held=True),
            Key(t.move, pushed, PUSHING, held=True),
            Key(t.release, _moved(pushed, -0.03 * direction), RELAXED),
            Key(1.0, _moved(pushed, back_off - 0.03 * direction), RELAXED),
        ]
        return ActionPlan(world, keys, target, rides_lid=False)

    grasp = _side_grasp(world, target, rng)
    closure = _grasp_closure(world, grasp, target)
    fingers = grasp[:3, 0]
    palm_normal = grasp[:3, 2]
    approach = _moved(grasp, -0.05 * palm_normal - 0.03 * fingers + np.array([0, 0, 0.03]))
    lift = rng.uniform(0.08, 0.12)
    if scene.action == "pour":
        lifted = _lifted(grasp, lift)
        tilt = rotation_about(fingers, -sign * np.radians(scene.tilt_deg))
        pivot = target[:3, 3] + np.array([0.0, 0.0, lift + 0.5 * scene.objects[0].shape.height])
        tilted = pose(tilt @ lifted[:3, :3], pivot + tilt @ (lifted[:3, 3] - pivot))
        keys = [
            Key(0.0, rest, RELAXED),
            Key(t.start, rest, RELAXED),
            Key(t.reach - 0.06, approach, OPEN),
            Key(t.reach, grasp, OPEN),
            Key(t.close, grasp, closure, held=True),
            Key(0.5 * (t.close + t.move), lifted, closure, held=True),
            Key(t.move, tilted, closure, held=True),
            Key(1.0, tilted, closure, held=True),
        ]
        return ActionPlan(world, keys, target, rides_lid=False)

    # pick_place and stack: lift, carry, lower onto the goal, let go, withdraw.
    drop = scene.objects[1].shape.height if scene.action == "stack" else 0.0
    shift = np.array([scene.goal_xy[0] - target[0, 3], scene.goal_xy[1] - target[1, 3], drop])
    placed = _moved(grasp, shift)
    carried = _lifted(placed, lift)
    keys = [
        Key(0.0, rest, RELAXED),
        Key(t.start, rest, RELAXED),
        Key(t.reach - 0.06, approach, OPEN),
        Key(t.reach, grasp, OPEN),
        Key(t.close, grasp, closure, held=True),
        Key(t.close + 0.3 * (t.move - t.close), _lifted(grasp, lift), closure, held=True),
        Key(t.close + 0.75 * (t.move - t.close), carried, closure, held=True),
        Key(t.move, placed, closure, held=True),
        Key(t.release, placed, OPEN),
        Key(1.0, _moved(placed, -0.05 * palm_normal + back_off), RELAXED),
    ]
    return ActionPlan(world, keys, target, rides_lid=False)


def idle_arm(scene: Scene) -> ArmPose:
    """The resting arm of the other side: palm down on the counter edge, fingers relaxed."""
    idle_side = "left" if scene.side == "right" else "right"
    offset = np.asarray(scene.head_offset)
    return arm_pose(shoulder(idle_side) + offset, rest_palm(idle_side, offset), RELAXED, idle_side)
