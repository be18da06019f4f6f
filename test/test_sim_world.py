"""The sim world: reproducible clips, geometrically exact labels, every action carried out, true narrations."""

from __future__ import annotations

import re

import mujoco
import numpy as np
import pytest

from egoexo_models.clip import LABEL_BACKGROUND, LABEL_HAND, LABEL_OBJECT, read_clip, write_clip
from training.sim.actions import plan_action
from training.sim.generate import ClipSimulation, SimJob, run_job
from training.sim.hand import FINGERS
from training.sim.layout import COUNTER_TOP
from training.sim.scene import ACTIONS, sample_scene
from training.sim.splits import SPLITS
from training.sim.world import ACTIVE, HEAD_GROUP

TINY = dict(frames=4, size=40)


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run_job(SimJob(out=tmp_path / name, clips=2, seed=seed, **TINY, depth=True), log=lambda _: None)
    first, second, other = (_files(tmp_path / n) for n in "abc")
    assert len(first) == 2 * (1 + 6 * TINY["frames"])  # meta + 6 views of 4 frames, per clip
    assert first == second
    assert [v for k, v in sorted(first.items()) if k.name == "meta.json"] != [
        v for k, v in sorted(other.items()) if k.name == "meta.json"
    ]


def test_equal_seeds_of_different_splits_give_different_worlds():
    scenes = {split: sample_scene(split, 0, 0) for split in ("train", "val", "test")}
    layouts = {split: tuple(obj.xy for obj in scene.objects) for split, scene in scenes.items()}
    assert len(set(layouts.values())) == 3


def _ray_hits(world, origin: np.ndarray, points: np.ndarray, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Geom label and distance of the first surface on the ray from origin through each point."""
    groups = np.array([1, 1, 1, view == "exo", 0, 0], dtype=np.uint8)
    labels, distances = [], []
    geom = np.zeros(1, dtype=np.int32)
    for point in points:
        direction = (point - origin) / np.linalg.norm(point - origin)
        distance = mujoco.mj_ray(world.model, world.data, origin, direction, groups, 1, -1, geom)
        labels.append(world.geom_labels[geom[0]] if distance >= 0 else LABEL_BACKGROUND)
        distances.append(distance)
    return np.array(labels), np.array(distances)


@pytest.mark.parametrize("index", [0, 4])  # pick-and-place, open a lid
def test_labelled_pixels_reproject_onto_the_hand_or_target(tmp_path, index):
    sim = ClipSimulation("train", 0, index, **TINY)
    clip = read_clip(write_clip(tmp_path / "clip", sim.render(depth=True)), load_depth=True)
    checked = {LABEL_HAND: 0, LABEL_OBJECT: 0}
    for frame in range(clip.num_frames):
        sim.pose_frame(frame)
        for view in ("exo", "ego"):
            labels, depth = getattr(clip, f"{view}_masks")[frame], getattr(clip, f"{view}_depth")[frame]
            camera = getattr(clip.meta, f"{view}_camera")
            v, u = np.nonzero((labels != LABEL_BACKGROUND) & (depth > 0))
            # Unproject with the written intrinsics, depth and pose (OpenCV convention) into the world.
            rays = np.linalg.inv(camera.K) @ np.stack([u, v, np.ones_like(u)]).astype(float)
            points_cam = rays * depth[v, u]
            T = camera.T_world_cam[frame]
            points = (T[:3, :3] @ points_cam).T + T[:3, 3]
            hit_labels, hit_distances = _ray_hits(sim.world, T[:3, 3], points, view)
            expected_distances = np.linalg.norm(points - T[:3, 3], axis=1)
            agree = (hit_labels == labels[v, u]) & (np.abs(hit_distances - expected_distances) < 0.006)
            assert agree.mean() > 0.95, (
                f"frame {frame} {view}: only {agree.mean():.1%} of labelled pixels reproject"
            )
            for label in checked:
                checked[label] += int((labels[v, u] == label).sum())
    assert checked[LABEL_HAND] > 50 and checked[LABEL_OBJECT] > 20


def test_every_action_appears_in_six_consecutive_clips():
    assert {sample_scene("train", 11, i).action for i in range(6)} == set(ACTIONS)
    assert {sample_scene("shift", 5, i).action for i in range(6)} == set(ACTIONS)


def _finger_clearances(sim: ClipSimulation) -> np.ndarray:
    world = sim.world
    joints = world.hands[ACTIVE]
    return np.array(
        [
            min(
                mujoco.mj_geomDistance(world.model, world.data, int(g), int(t), 0.2, None)
                for g in joints.geoms[finger]
                for t in world.target_geoms
            )
            for finger in FINGERS
        ]
    )


@pytest.mark.parametrize("index", range(6))
def test_each_action_moves_the_target_as_narrated(index):
    sim = ClipSimulation("train", 21, index, frames=9, size=32)
    scene, first, last = sim.scene, sim.states[0], sim.states[-1]
    target = scene.objects[0]
    if scene.action in ("pick_place", "push", "stack"):
        assert np.linalg.norm(last.target[:2, 3] - scene.goal_xy) < 0.01
        assert np.linalg.norm(last.target[:2, 3] - first.target[:2, 3]) > 0.05
        base_height = scene.objects[1].shape.height if scene.action == "stack" else 0.0
        assert last.target[2, 3] == pytest.approx(COUNTER_TOP + base_height, abs=1e-6)
    elif scene.action == "pour":
        tilt = np.degrees(np.arccos(np.clip(last.target[2, 2], -1, 1)))
        assert tilt == pytest.approx(scene.tilt_deg, abs=1.0)
        assert last.target[2, 3] > COUNTER_TOP + 0.05  # lifted off the counter
    else:
        opened = np.radians(scene.lid_open_deg)
        assert (first.lid, last.lid) == pytest.approx(
            (0.0, opened) if scene.action == "open_lid" else (opened, 0.0)
        )
        assert target.shape.lid is not None


@pytest.mark.parametrize("index", [0, 2, 4])  # side grasps and a knob pinch
def test_fingers_close_on_the_target_when_it_is_grasped(index):
    sim = ClipSimulation("train", 8, index, frames=4, size=32)
    plan = plan_action(sim.world, np.random.default_rng(0))
    grasped = plan.state(sim.scene.timing.close)
    sim.world.set_arm(ACTIVE, grasped.active)
    sim.world.set_object(0, grasped.target, grasped.lid)
    sim.world.forward()
    clearances = _finger_clearances(sim)
    assert (grasped.active.closure > 0.15).sum() >= 3, grasped.active.closure
    assert (np.abs(clearances) < 0.004).sum() >= 2, clearances  # at least two fingers touch it
    assert (clearances > -0.003).all(), clearances  # and none sinks into it


def test_the_named_hand_is_the_one_on_that_side_of_the_actor():
    for index in (0, 2, 6, 8):  # pick_place and pour, both hands drawn at random
        sim = ClipSimulation("train", 1, index, frames=4, size=32)
        grasped = sim.states[0]
        plan = plan_action(sim.world, np.random.default_rng(0))
        grasped = plan.state(sim.scene.timing.close)
        palm_x, target_x = grasped.active.palm[0, 3], grasped.target[0, 3]
        # The actor faces +y, so the right hand grasps from the +x side of the object.
        assert np.sign(palm_x - target_x) == (1 if sim.scene.side == "right" else -1)


_VERBS = {
    "pick_place": "picks up",
    "push": "pushes",
    "pour": "to pour",
    "stack": "stacks",
    "open_lid": "opens the lid of",
    "close_lid": "closes the lid of",
}


def test_instruction_names_the_action_the_target_and_the_hand(tmp_path):
    paths = run_job(SimJob(out=tmp_path, clips=6, seed=2, frames=2, size=16), log=lambda _: None)
    for path in paths:
        meta = read_clip(path).meta
        extra = meta.extra
        assert re.fullmatch(r"C [a-z ]+ with the (left|right) hand\.", meta.instruction), meta.instruction
        assert _VERBS[extra["action"]] in meta.instruction
        assert f"the {extra['target_colour']} {extra['target_shape']}" in meta.instruction
        assert f"with the {extra['hand']} hand" in meta.instruction
        assert extra["objects"].count(extra["target"]) == 1  # the description picks out one object
        assert 3 <= len(extra["objects"]) <= 6


def test_masks_label_hands_and_target_in_both_views(tmp_path):
    clip = ClipSimulation("train", 0, 1, frames=6, size=48).render()
    for masks in (clip.exo_masks, clip.ego_masks):
        assert set(np.unique(masks)) == {LABEL_BACKGROUND, LABEL_HAND, LABEL_OBJECT}
        assert (masks == LABEL_HAND).any(axis=(1, 2)).all()  # a hand in every frame
    assert clip.meta.ego_camera.T_world_cam.shape == (6, 4, 4)
    assert not np.allclose(
        clip.meta.ego_camera.T_world_cam[0], clip.meta.ego_camera.T_world_cam[-1]
    )  # the head moves
    assert np.allclose(
        clip.meta.exo_camera.T_world_cam[0], clip.meta.exo_camera.T_world_cam[-1]
    )  # the exo camera does not


def test_ego_camera_does_not_see_the_head():
    sim = ClipSimulation("train", 0, 0, frames=2, size=32)
    sim.pose_frame(0)
    head = [g for g in range(sim.world.model.ngeom) if sim.world.model.geom_group[g] == HEAD_GROUP]
    assert head, "the head and torso geoms live in HEAD_GROUP"
    clip = sim.render()
    assert clip.ego.std() > 10  # an image, not the inside of a sphere


def test_shift_split_draws_shapes_textures_and_viewpoints_train_never_shows():
    train, shift = SPLITS["train"], SPLITS["shift"]
    assert not set(shift.shapes + shift.containers) & set(train.shapes + train.containers)
    assert not set(shift.textures) & set(train.textures)
    for index in range(12):
        scene = sample_scene("shift", 0, index)
        assert scene.objects[0].shape.name in shift.shapes + shift.containers
        assert {scene.counter_texture, scene.floor_texture} <= set(shift.textures)
        azimuth = scene.exo_azimuth_deg
        assert any(lo <= azimuth <= hi for lo, hi in shift.exo_azimuth_sectors)
        assert not any(lo < azimuth < hi for lo, hi in train.exo_azimuth_sectors)
        assert scene.exo_eye[2] > train.exo_height[1]
