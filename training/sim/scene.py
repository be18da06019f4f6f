"""Random scene specifications: which action, hand, objects, materials, lights and cameras a clip has.

`sample_scene(split, seed, index)` is a pure function of its arguments: the random stream is seeded
with (split code, seed, index), so a clip is reproducible on its own and two splits never share one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.sim.layout import COUNTER_HALF, OBJECT_REGION_X, OBJECT_REGION_Y, shoulder, side_sign
from training.sim.objects import COLOURS, SHAPES, SceneObject, jittered_colour
from training.sim.splits import SplitSpec, get_split

ACTIONS = ("pick_place", "push", "pour", "stack", "open_lid", "close_lid")
SIDES = ("right", "left")
SKIN_TONES = (
    (0.94, 0.76, 0.64),
    (0.87, 0.66, 0.52),
    (0.72, 0.52, 0.38),
    (0.55, 0.37, 0.25),
    (0.38, 0.25, 0.17),
)
# Destination directions of pick-and-place and push, in the actor's frame, as world (dx, dy).
DIRECTIONS = {
    "to the left": (-1.0, 0.0),
    "to the right": (1.0, 0.0),
    "forward": (0.0, 1.0),
    "closer": (0.0, -1.0),
}
MAX_REACH = 0.56  # shoulder to wrist, a little under upper arm + forearm


@dataclass(frozen=True)
class Light:
    pos: tuple[float, float, float]
    dir: tuple[float, float, float]
    diffuse: float
    directional: bool


@dataclass(frozen=True)
class Timing:
    """Phase boundaries as fractions of the clip (0 = first frame, 1 = last)."""

    start: float  # the hand starts moving
    reach: float  # the hand is at the object
    close: float  # the fingers have closed
    move: float  # the object is at its destination
    release: float  # the fingers have opened again


@dataclass(frozen=True)
class Scene:
    """Everything random about one clip. objects[0] is the target; for `stack`, objects[1] is the base."""

    split: str
    seed: int
    index: int
    action: str
    side: str
    objects: tuple[SceneObject, ...]
    destination: str  # pick_place/push: a DIRECTIONS key; stack: the base; pour: "" ; lids: ""
    goal_xy: tuple[float, float]  # where the target ends (pick_place, push, stack)
    tilt_deg: float  # pour
    lid_open_deg: float  # open_lid/close_lid: the lid's open angle
    counter_texture: str
    floor_texture: str
    texture_seed: int
    sky: tuple[tuple[float, float, float], tuple[float, float, float]]
    ambient: float
    lights: tuple[Light, ...]
    skin: tuple[float, float, float]
    sleeve: tuple[float, float, float]
    shirt: tuple[float, float, float]
    hand_scale: float
    exo_eye: tuple[float, float, float]
    exo_target: tuple[float, float, float]
    exo_fovy: float
    exo_azimuth_deg: float
    ego_fovy: float
    head_offset: tuple[float, float, float]  # the actor's standing position relative to the default
    bob_amplitude: float
    bob_phase: float
    timing: Timing


def scene_rng(split: SplitSpec, seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([split.code, seed, index])


def _target_shapes(split: SplitSpec, action: str) -> tuple[str, ...]:
    if action in ("open_lid", "close_lid"):
        return split.containers
    if action == "pour":
        return tuple(s for s in split.shapes if SHAPES[s].pourable)
    if action == "stack":
        return tuple(s for s in split.shapes if s not in split.stack_bases)
    return split.shapes


def _reachable(xy: np.ndarray, side: str, height: float = 0.06) -> bool:
    wrist = np.array([xy[0] + 0.07 * side_sign(side), xy[1] - 0.03, 0.9 + height])
    return np.linalg.norm(wrist - shoulder(side)) < MAX_REACH


def _free(xy: np.ndarray, radius: float, placed: list[SceneObject], margin: float = 0.03) -> bool:
    return all(np.linalg.norm(xy - np.asarray(o.xy)) > radius + o.shape.radius + margin for o in placed)


def _on_counter(xy: np.ndarray, radius: float) -> bool:
    return abs(xy[0]) + radius < COUNTER_HALF[0] - 0.03 and abs(xy[1]) + radius < COUNTER_HALF[1] - 0.03


def _place(rng, shape_name, colour, placed, *, region, side=None, yaw=None, tries=200) -> SceneObject | None:
    scale = rng.uniform(1.1, 1.35)  # a little larger than life, to read at 128 px
    shape = SHAPES[shape_name].scaled(scale)
    for _ in range(tries):
        xy = np.array([rng.uniform(*region[0]), rng.uniform(*region[1])])
        if _free(xy, shape.radius, placed) and (side is None or _reachable(xy, side, shape.height)):
            return SceneObject(
                shape=shape,
                colour=colour,
                rgb=jittered_colour(colour, rng),
                xy=(float(xy[0]), float(xy[1])),
                yaw=float(rng.uniform(-0.35, 0.35) if yaw is None else yaw),
            )
    return None


def sample_scene(split_name: str, seed: int, index: int) -> Scene:
    """Draw the scene of clip `index` of the stream (split, seed). The action cycles with seed + index."""
    split = get_split(split_name)
    rng = scene_rng(split, seed, index)
    action = ACTIONS[(seed + index) % len(ACTIONS)]
    side = SIDES[int(rng.integers(2))]
    sign = side_sign(side)
    colours = list(rng.permutation(list(COLOURS)))
    for _attempt in range(50):
        placed: list[SceneObject] = []
        hand_region = (sorted((sign * -0.08, sign * 0.32)), (OBJECT_REGION_Y[0], OBJECT_REGION_Y[1] - 0.04))
        target_shape = str(rng.choice(_target_shapes(split, action)))
        is_container = action in ("open_lid", "close_lid")
        target = _place(
            rng,
            target_shape,
            colours[0],
            placed,
            region=hand_region,
            side=side,
            yaw=0.0 if is_container else None,
        )
        if target is None:
            continue
        placed.append(target)
        destination, goal = "", target.xy
        if action == "stack":
            base = _place(
                rng, str(rng.choice(split.stack_bases)), colours[1], placed, region=hand_region, side=side
            )
            if base is None:
                continue
            placed.append(base)
            destination, goal = base.description, base.xy
        elif action in ("pick_place", "push"):
            options = (
                list(DIRECTIONS)
                if action == "pick_place"
                else ["forward", "to the left" if side == "right" else "to the right"]
            )
            rng.shuffle(options)
            distance = rng.uniform(0.14, 0.22) if action == "pick_place" else rng.uniform(0.1, 0.15)
            for name in options:
                candidate = np.asarray(target.xy) + distance * np.asarray(DIRECTIONS[name])
                if (
                    _on_counter(candidate, target.shape.radius)
                    and _reachable(candidate, side, target.shape.height)
                    and candidate[1] < OBJECT_REGION_Y[1] + 0.06
                ):
                    destination, goal = name, (float(candidate[0]), float(candidate[1]))
                    break
            if not destination:
                continue
        # Distractors, kept clear of the target's destination; 3-6 objects in all.
        keep_clear = SceneObject(target.shape, "", target.rgb, goal, 0.0)
        count = int(rng.integers(3, 7))
        pool = split.shapes + split.containers
        for k in range(len(placed), count):
            distractor = _place(
                rng,
                str(rng.choice(pool)),
                colours[k],
                [*placed, keep_clear],
                region=((-OBJECT_REGION_X, OBJECT_REGION_X), (OBJECT_REGION_Y[0], OBJECT_REGION_Y[1] + 0.2)),
                yaw=None,
            )
            if distractor is not None:
                placed.append(distractor)
        if len(placed) >= 3:
            break
    else:
        raise RuntimeError(
            f"could not lay out a {action} scene for split {split_name} seed {seed} index {index}"
        )

    az = _draw_azimuth(rng, split)
    radius, height = rng.uniform(*split.exo_radius), rng.uniform(*split.exo_height)
    exo_eye = (radius * np.cos(np.radians(az)), radius * np.sin(np.radians(az)), height)
    action_centre = 0.5 * (np.asarray(placed[0].xy) + np.asarray(goal))
    exo_target = (
        float(0.6 * action_centre[0] + rng.uniform(-0.04, 0.04)),
        float(0.5 * action_centre[1] - 0.1 + rng.uniform(-0.04, 0.04)),
        float(1.0 + rng.uniform(-0.03, 0.05)),
    )
    reach = rng.uniform(0.24, 0.34)
    close = reach + rng.uniform(0.07, 0.1)
    move = rng.uniform(0.7, 0.78)
    timing = Timing(
        start=rng.uniform(0.0, 0.06),
        reach=reach,
        close=close,
        move=move,
        release=move + rng.uniform(0.06, 0.09),
    )
    sky_top = rng.uniform(0.3, 0.8, 3)
    return Scene(
        split=split.name,
        seed=seed,
        index=index,
        action=action,
        side=side,
        objects=tuple(placed),
        destination=destination,
        goal_xy=(float(goal[0]), float(goal[1])),
        tilt_deg=float(rng.uniform(80, 110)),
        lid_open_deg=float(rng.uniform(80, 105)),
        counter_texture=str(rng.choice(split.textures)),
        floor_texture=str(rng.choice(split.textures)),
        texture_seed=int(rng.integers(2**31)),
        sky=(tuple(float(v) for v in sky_top), tuple(float(v) for v in sky_top * rng.uniform(0.2, 0.5))),
        ambient=float(rng.uniform(0.15, 0.35)),
        lights=_draw_lights(rng),
        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        sleeve=tuple(float(v) for v in rng.uniform(0.05, 0.9, 3)),
        shirt=tuple(float(v) for v in rng.uniform(0.05, 0.9, 3)),
        hand_scale=float(rng.uniform(0.93, 1.07)),
        exo_eye=tuple(float(v) for v in exo_eye),
        exo_target=exo_target,
        exo_fovy=float(rng.uniform(40, 48)),
        exo_azimuth_deg=float(az),
        ego_fovy=float(rng.uniform(66, 76)),
        head_offset=(
            float(rng.uniform(-0.04, 0.04)),
            float(rng.uniform(-0.03, 0.03)),
            float(rng.uniform(-0.05, 0.05)),
        ),
        bob_amplitude=float(rng.uniform(0.004, 0.012)),
        bob_phase=float(rng.uniform(0, 2 * np.pi)),
        timing=timing,
    )


def _draw_azimuth(rng: np.random.Generator, split: SplitSpec) -> float:
    widths = np.array([hi - lo for lo, hi in split.exo_azimuth_sectors])
    lo, hi = split.exo_azimuth_sectors[int(rng.choice(len(widths), p=widths / widths.sum()))]
    return float(rng.uniform(lo, hi))


def _draw_lights(rng: np.random.Generator) -> tuple[Light, ...]:
    lights = []
    for k in range(int(rng.integers(1, 3))):
        az = rng.uniform(0, 2 * np.pi)
        pos = np.array([1.5 * np.cos(az), 1.5 * np.sin(az), rng.uniform(2.2, 3.0)])
        direction = np.array([0.0, 0.0, 0.9]) - pos
        direction /= np.linalg.norm(direction)
        lights.append(
            Light(
                pos=tuple(float(v) for v in pos),
                dir=tuple(float(v) for v in direction),
                diffuse=float(rng.uniform(0.45, 0.8) if k == 0 else rng.uniform(0.15, 0.35)),
                directional=bool(k == 0),
            )
        )
    return tuple(lights)
