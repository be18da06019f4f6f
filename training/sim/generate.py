"""Generate sim clips: one clip from (split, seed, index), and many into a directory with worker processes.

Clip directory names are `sim_<split>_<seed:06d>_<index:06d>`, and each clip depends only on
(split, seed, index, frames, size, fps, depth), so a run can be resumed or spread over processes.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported (headless rendering)

import numpy as np

from egoexo_models.clip import CameraInfo, Clip, ClipMeta, write_clip
from training.sim.actions import FrameState, idle_arm, plan_action
from training.sim.cameras import ego_camera_path
from training.sim.instruction import instruction
from training.sim.render import WorldRenderer
from training.sim.scene import Scene, sample_scene, scene_rng
from training.sim.splits import SPLITS, get_split
from training.sim.transforms import intrinsics
from training.sim.world import ACTIVE, IDLE, SimWorld

DEFAULT_FPS = 8.0  # 16 frames cover two seconds of action
MIN_SIZE, MAX_SIZE = 16, 1024


def clip_name(split: str, seed: int, index: int) -> str:
    return f"sim_{split}_{seed:06d}_{index:06d}"


class ClipSimulation:
    """One clip's scene, world and per-frame states; `pose_frame(i)` puts the world at frame i."""

    def __init__(
        self,
        split: str,
        seed: int,
        index: int,
        *,
        frames: int = 16,
        size: int = 128,
        fps: float = DEFAULT_FPS,
    ):
        self.scene: Scene = sample_scene(split, seed, index)
        self.frames, self.size, self.fps = frames, size, fps
        self.world = SimWorld(self.scene, size, size)
        choreography_rng = scene_rng(get_split(split), seed, index).spawn(1)[0]
        plan = plan_action(self.world, choreography_rng)
        self.states: list[FrameState] = [plan.state(i / (frames - 1)) for i in range(frames)]
        hands = np.array([state.active.palm[:3, 3] for state in self.states])
        targets = np.array([state.target[:3, 3] for state in self.states])
        self.ego_path = ego_camera_path(self.scene, hands, targets, fps)
        self._idle = idle_arm(self.scene)
        self._still = [self.world.object_pose(i) for i in range(len(self.scene.objects))]

    def pose_frame(self, i: int) -> None:
        state = self.states[i]
        self.world.set_arm(ACTIVE, state.active)
        self.world.set_arm(IDLE, self._idle)
        self.world.set_object(0, state.target, state.lid)
        for k in range(1, len(self.scene.objects)):
            lid = np.radians(35.0) if self.scene.objects[k].shape.lid is not None and k % 2 else 0.0
            self.world.set_object(k, self._still[k], lid)
        self.world.set_ego_camera(self.ego_path[i])
        self.world.forward()

    def render(self, *, depth: bool = False) -> Clip:
        n, size = self.frames, self.size
        views = {
            name: (np.empty((n, size, size, 3), np.uint8), np.empty((n, size, size), np.uint8))
            for name in ("exo", "ego")
        }
        depths = {name: np.empty((n, size, size), np.float32) for name in ("exo", "ego")} if depth else {}
        poses = {"exo": np.empty((n, 4, 4)), "ego": np.empty((n, 4, 4))}
        cameras = {"exo": self.world.exo_camera, "ego": self.world.ego_camera}
        with WorldRenderer(self.world, size, size) as renderer:
            for i in range(n):
                self.pose_frame(i)
                for name, (rgb, labels) in views.items():
                    rgb[i], labels[i], metres = renderer.render(name, depth=depth)
                    if depth:
                        depths[name][i] = metres
                    poses[name][i] = self.world.camera_pose_opencv(cameras[name])
        scene = self.scene
        meta = ClipMeta(
            instruction=instruction(scene),
            fps=self.fps,
            num_frames=n,
            height=size,
            width=size,
            source="sim",
            ego_camera=CameraInfo(K=intrinsics(scene.ego_fovy, size, size), T_world_cam=poses["ego"]),
            exo_camera=CameraInfo(K=intrinsics(scene.exo_fovy, size, size), T_world_cam=poses["exo"]),
            extra={
                "action": scene.action,
                "hand": scene.side,
                "target": scene.objects[0].description,
                "target_shape": scene.objects[0].shape.name,
                "target_colour": scene.objects[0].colour,
                "destination": scene.destination,
                "objects": [obj.description for obj in scene.objects],
                "exo_azimuth_deg": round(scene.exo_azimuth_deg, 2),
                "split": scene.split,
                "seed": scene.seed,
                "index": scene.index,
                "generator": "egoexo-sim/1",
            },
        )
        return Clip(
            meta=meta,
            exo=views["exo"][0],
            ego=views["ego"][0],
            exo_masks=views["exo"][1],
            ego_masks=views["ego"][1],
            exo_depth=depths.get("exo"),
            ego_depth=depths.get("ego"),
        )


def generate_clip(
    split: str,
    seed: int,
    index: int,
    *,
    frames: int = 16,
    size: int = 128,
    fps: float = DEFAULT_FPS,
    depth: bool = False,
) -> Clip:
    """Simulate and render clip `index` of (split, seed) in memory."""
    return ClipSimulation(split, seed, index, frames=frames, size=size, fps=fps).render(depth=depth)


@dataclass(frozen=True)
class SimJob:
    """Arguments of a batch of clips, validated by `validate`."""

    out: Path
    clips: int
    seed: int
    frames: int = 16
    size: int = 128
    split: str = "train"
    workers: int = 1
    depth: bool = False
    fps: float = DEFAULT_FPS

    def validate(self) -> None:
        """Raise ValueError naming the bad argument before anything is written."""
        if self.clips < 1:
            raise ValueError(f"--clips must be at least 1, got {self.clips}")
        if self.seed < 0:
            raise ValueError(f"--seed must be non-negative, got {self.seed}")
        if self.frames < 2:
            raise ValueError(
                f"--frames must be at least 2 (an action needs a start and an end), got {self.frames}"
            )
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {self.size}")
        if self.split not in SPLITS:
            raise ValueError(f"--split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {self.workers}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        _check_writable(self.out)


def _check_writable(out: Path) -> None:
    """Create `out` if needed and prove a file can be made in it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ValueError(
            f"output directory {out} is not writable ({error.strerror or error}); choose another --out"
        ) from None


def _make_one(job: SimJob, index: int) -> tuple[str, float, bool]:
    """Generate and write one clip unless it already exists; returns (name, seconds, written)."""
    name = clip_name(job.split, job.seed, index)
    target = job.out / name
    if (target / "meta.json").is_file():
        return name, 0.0, False
    start = time.perf_counter()
    clip = generate_clip(
        job.split, job.seed, index, frames=job.frames, size=job.size, fps=job.fps, depth=job.depth
    )
    write_clip(target, clip)
    return name, time.perf_counter() - start, True


def _worker_make(args: tuple[SimJob, int]) -> tuple[str, float, bool]:
    return _make_one(*args)


def run_job(job: SimJob, *, log=print) -> list[Path]:
    """Write `job.clips` clips into `job.out` (existing complete clips are kept, so a run resumes)."""
    job.validate()
    start = time.perf_counter()
    tasks = [(job, index) for index in range(job.clips)]
    written = kept = 0
    if job.workers == 1:
        results = (_make_one(*task) for task in tasks)
        pool = None
    else:
        # spawn, not fork: a forked OpenGL context hangs; each worker makes its own on first render.
        pool = multiprocessing.get_context("spawn").Pool(job.workers)
        results = pool.imap(_worker_make, tasks)
    try:
        for count, (name, _seconds, was_written) in enumerate(results, start=1):
            written += was_written
            kept += not was_written
            if count == job.clips or count % 50 == 0:
                log(f"[sim] {count}/{job.clips} clips ({name}), {time.perf_counter() - start:.1f} s")
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    elapsed = time.perf_counter() - start
    log(
        f"[sim] wrote {written} clip(s), kept {kept} existing, in {job.out} ({elapsed:.1f} s, {written / max(elapsed, 1e-9):.2f} clips/s)"
    )
    return [job.out / clip_name(job.split, job.seed, index) for index in range(job.clips)]
