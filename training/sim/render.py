"""Offscreen rendering of a SimWorld: RGB, per-pixel labels and metric depth from one camera.

One OpenGL context is made per process, on first use, and kept: creating a context costs about
100 ms (shader compilation), while a MuJoCo render context for a new model within it costs a few
ms. Contexts must never cross a fork, so worker pools use spawn and render only inside workers.
MUJOCO_GL (egl or osmesa) must be set before mujoco is imported; generate.py makes sure of it.
"""

from __future__ import annotations

import atexit

import mujoco
import numpy as np

from training.sim.world import HEAD_GROUP, SimWorld

_gl_context = None


def _shared_gl_context(width: int, height: int):
    """This process's OpenGL context (created on first call, made current on every call)."""
    global _gl_context
    if _gl_context is None:
        from mujoco import gl_context

        if gl_context.GLContext is None:
            raise RuntimeError(
                "no offscreen OpenGL backend: set MUJOCO_GL=egl or MUJOCO_GL=osmesa before importing mujoco"
            )
        _gl_context = gl_context.GLContext(width, height)
        atexit.register(_free_shared_gl_context)  # while the GL bindings can still run (not in __del__)
    _gl_context.make_current()
    return _gl_context


def _free_shared_gl_context() -> None:
    global _gl_context
    if _gl_context is not None:
        _gl_context.free()
        _gl_context = None


class WorldRenderer:
    """Renders views of one SimWorld; close() it (or use `with`) to free the render context."""

    def __init__(self, world: SimWorld, width: int, height: int) -> None:
        self.world, self.width, self.height = world, width, height
        _shared_gl_context(max(width, 64), max(height, 64))
        self._context = mujoco.MjrContext(world.model, mujoco.mjtFontScale.mjFONTSCALE_50.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._context)
        self._context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(world.model, maxgeom=400)
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._options = {}
        for name, camera in (("ego", world.ego_camera), ("exo", world.exo_camera)):
            option = mujoco.MjvOption()
            option.geomgroup[HEAD_GROUP] = name == "exo"  # the ego camera sits inside the head
            view = mujoco.MjvCamera()
            view.type = mujoco.mjtCamera.mjCAMERA_FIXED
            view.fixedcamid = camera
            self._options[name] = (option, view)
        extent = world.model.stat.extent
        self._near = world.model.vis.map.znear * extent
        self._far = world.model.vis.map.zfar * extent

    def render(self, view: str, *, depth: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """RGB uint8 (H,W,3), labels uint8 (H,W) and, if asked, depth float32 metres (H,W) of `view`."""
        option, camera = self._options[view]
        model, data = self.world.model, self.world.data
        _shared_gl_context(self.width, self.height)
        mujoco.mjv_updateScene(
            model, data, option, None, camera, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene
        )
        rgb = np.empty((self.height, self.width, 3), dtype=np.uint8)
        mujoco.mjr_render(self._rect, self._scene, self._context)
        mujoco.mjr_readPixels(rgb, None, self._rect, self._context)

        self._scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = True
        self._scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = True
        ids = np.empty((self.height, self.width, 3), dtype=np.uint8)
        buffer = np.empty((self.height, self.width), dtype=np.float32) if depth else None
        try:
            mujoco.mjr_render(self._rect, self._scene, self._context)
            mujoco.mjr_readPixels(ids, buffer, self._rect, self._context)
        finally:
            self._scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = False
            self._scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = False
        segment = (
            ids[..., 0].astype(np.int64)
            | (ids[..., 1].astype(np.int64) << 8)
            | (ids[..., 2].astype(np.int64) << 16)
        )
        labels = self._labels(segment)
        metres = None
        if depth:
            metres = self._metres(buffer)
            metres[segment == 0] = 0.0  # the sky: no depth
        # OpenGL rows run bottom-up.
        return rgb[::-1].copy(), labels[::-1].copy(), None if metres is None else metres[::-1].copy()

    def _labels(self, segment: np.ndarray) -> np.ndarray:
        """Per-pixel label from segment ids (scene geom index + 1; 0 where nothing was drawn)."""
        lookup = np.zeros(self._scene.ngeom + 1, dtype=np.uint8)
        for geom in self._scene.geoms[: self._scene.ngeom]:
            if geom.segid >= 0 and geom.objtype == mujoco.mjtObj.mjOBJ_GEOM:
                lookup[geom.segid + 1] = self.world.geom_labels[geom.objid]
        if segment.max() >= lookup.size:
            raise RuntimeError(f"segmentation id {segment.max()} beyond the {self._scene.ngeom} geoms drawn")
        return lookup[segment]

    def _metres(self, buffer: np.ndarray) -> np.ndarray:
        """Camera-z distance from the reversed-z depth buffer (1 at the near plane, 0 at the far one)."""
        near, far = self._near, self._far
        return (near * far / (near + buffer.astype(np.float64) * (far - near))).astype(np.float32)

    def close(self) -> None:
        if self._context is not None:
            _shared_gl_context(self.width, self.height)
            self._context.free()
            self._context = None

    def __enter__(self) -> WorldRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
