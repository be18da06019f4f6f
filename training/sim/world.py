"""The MuJoCo model of one scene, and setting it to a pose of the choreography.

Everything that moves is kinematic: the hands, arms, objects and ego head are mocap bodies (finger
and lid hinges are joints) whose poses the choreography sets frame by frame; `mj_kinematics` then
places the geoms and cameras. There is no dynamics step, so a clip is exactly reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from egoexo_models.clip import LABEL_BACKGROUND, LABEL_HAND, LABEL_OBJECT
from training.sim.hand import HandJoints, hand_xml
from training.sim.layout import (
    COUNTER_HALF,
    COUNTER_TOP,
    EYE,
    HEAD_CENTRE,
    HEAD_RADIUS,
    TORSO_BOTTOM,
    TORSO_RADIUS,
    TORSO_TOP,
)
from training.sim.objects import Geom, SceneObject, knob_geom
from training.sim.scene import Scene
from training.sim.textures import TEXTURE_SIZE, make_texture
from training.sim.transforms import look_at_mujoco, matrix_from_quat, quat_from_matrix

HEAD_GROUP = 3  # head, torso, upper arms: hidden from the ego camera, which sits inside the head
ACTIVE, IDLE = "a_", "i_"  # body-name prefixes of the acting and the resting arm
SHOULDER_BAR = np.array([-0.18, -0.02, -0.02])  # from the top of the torso to the left shoulder


def _f(values) -> str:
    return " ".join(f"{v:.5f}" for v in np.ravel(values))


def _geom_xml(geom: Geom, rgb) -> str:
    shade = np.asarray(rgb) * (0.6 if geom.accent else 1.0)
    return f'<geom type="{geom.type}" size="{_f(geom.size)}" pos="{_f(geom.pos)}" rgba="{_f(shade)} 1"/>'


def _object_xml(obj: SceneObject, body: str) -> str:
    parts = [f'<body name="{body}" mocap="true" pos="{obj.xy[0]:.5f} {obj.xy[1]:.5f} {COUNTER_TOP:.5f}">']
    parts += [_geom_xml(g, obj.rgb) for g in obj.shape.geoms]
    parts.append("</body>")
    lid = obj.shape.lid
    if lid is not None:
        # The lid is a separate hinged body, attached to a mocap carrier that follows the object.
        parts.append(
            f'<body name="{body}_carrier" mocap="true"><body name="{body}_lid" pos="{_f(lid.hinge)}">'
        )
        parts.append(f'<joint name="{body}_hinge" type="hinge" axis="1 0 0"/>')
        parts += [_geom_xml(g, obj.rgb) for g in (*lid.geoms, knob_geom(lid))]
        parts.append("</body></body>")
    return "\n".join(parts)


def world_xml(scene: Scene, width: int, height: int) -> str:
    """The MJCF of `scene`; offscreen buffers sized for width x height renders."""
    active, idle = scene.side, ("left" if scene.side == "right" else "right")
    lights = "\n".join(
        f'<light pos="{_f(light.pos)}" dir="{_f(light.dir)}" diffuse="{light.diffuse:.3f} {light.diffuse:.3f} {light.diffuse:.3f}" '
        f'specular="0.1 0.1 0.1" directional="{"true" if light.directional else "false"}" castshadow="false"/>'
        for light in scene.lights
    )
    objects = "\n".join(
        _object_xml(obj, "target" if i == 0 else f"object{i}") for i, obj in enumerate(scene.objects)
    )
    counter_size = f"{COUNTER_HALF[0]} {COUNTER_HALF[1]} 0.02"
    leg = 'type="box" size="0.03 0.03 0.44" rgba="0.25 0.25 0.25 1"'
    shirt = f'rgba="{_f(scene.shirt)} 1"'
    skin = f'rgba="{_f(scene.skin)} 1"'
    return f"""
<mujoco model="egoexo_sim">
  <visual>
    <global offwidth="{max(width, 64)}" offheight="{max(height, 64)}"/>
    <quality shadowsize="0" offsamples="0" numslices="16" numstacks="8"/>
    <headlight ambient="{scene.ambient:.3f} {scene.ambient:.3f} {scene.ambient:.3f}" diffuse="0.15 0.15 0.15" specular="0 0 0"/>
    <map znear="0.01" zfar="50"/>
  </visual>
  <statistic extent="2" center="0 0 1"/>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="{_f(scene.sky[0])}" rgb2="{_f(scene.sky[1])}" width="32" height="32"/>
    <texture name="counter_tex" type="2d" builtin="flat" rgb1="1 1 1" width="{TEXTURE_SIZE}" height="{TEXTURE_SIZE}"/>
    <texture name="floor_tex" type="2d" builtin="flat" rgb1="1 1 1" width="{TEXTURE_SIZE}" height="{TEXTURE_SIZE}"/>
    <material name="counter" texture="counter_tex" texrepeat="2 2" texuniform="true" specular="0.2"/>
    <material name="floor" texture="floor_tex" texrepeat="2 2" texuniform="true" specular="0.05"/>
  </asset>
  <worldbody>
    {lights}
    <geom name="floor" type="plane" size="4 4 0.1" material="floor"/>
    <body name="counter" pos="0 0 {COUNTER_TOP - 0.02:.4f}">
      <geom type="box" size="{counter_size}" material="counter"/>
      <geom {leg} pos="{COUNTER_HALF[0] - 0.05} {COUNTER_HALF[1] - 0.05} -0.46"/>
      <geom {leg} pos="{-COUNTER_HALF[0] + 0.05} {COUNTER_HALF[1] - 0.05} -0.46"/>
      <geom {leg} pos="{COUNTER_HALF[0] - 0.05} {-COUNTER_HALF[1] + 0.05} -0.46"/>
      <geom {leg} pos="{-COUNTER_HALF[0] + 0.05} {-COUNTER_HALF[1] + 0.05} -0.46"/>
    </body>
    <body name="actor" pos="{_f(scene.head_offset)}">
      <geom type="capsule" size="{TORSO_RADIUS}" fromto="{_f(TORSO_BOTTOM)} {_f(TORSO_TOP)}" group="{HEAD_GROUP}" {shirt}/>
      <geom type="capsule" size="0.05" fromto="{_f(TORSO_TOP + SHOULDER_BAR)} {_f(TORSO_TOP + SHOULDER_BAR * [-1, 1, 1])}" group="{HEAD_GROUP}" {shirt}/>
      <geom type="capsule" size="0.055" fromto="{_f(TORSO_BOTTOM * [1, 1, 0])} {_f(TORSO_BOTTOM)}" rgba="0.2 0.2 0.3 1"/>
    </body>
    <body name="head" mocap="true" pos="{_f(HEAD_CENTRE)}">
      <geom type="sphere" size="{HEAD_RADIUS}" group="{HEAD_GROUP}" {skin}/>
      <geom type="capsule" size="0.045" fromto="0 0 -0.15 0 0 -0.05" group="{HEAD_GROUP}" {skin}/>
    </body>
    <camera name="ego" mode="fixed" fovy="{scene.ego_fovy:.3f}" pos="0 0 1.5"/>
    <camera name="exo" mode="fixed" fovy="{scene.exo_fovy:.3f}" pos="{_f(scene.exo_eye)}"
            quat="{_f(quat_from_matrix(look_at_mujoco(np.asarray(scene.exo_eye), np.asarray(scene.exo_target))))}"/>
    {hand_xml(ACTIVE, active, scene.hand_scale, scene.skin, scene.sleeve, HEAD_GROUP)}
    {hand_xml(IDLE, idle, scene.hand_scale, scene.skin, scene.sleeve, HEAD_GROUP)}
    {objects}
  </worldbody>
</mujoco>
"""


def _body_labels(model: mujoco.MjModel) -> np.ndarray:
    """Label of every body: 1 for hands and forearms, 2 for the target (and its lid), else 0."""
    labels = np.full(model.nbody, LABEL_BACKGROUND, dtype=np.uint8)
    for body in range(model.nbody):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, body) or ""
        if name.startswith((ACTIVE + "hand_", IDLE + "hand_")):
            labels[body] = LABEL_HAND
        elif name == "target" or name.startswith("target_"):
            labels[body] = LABEL_OBJECT
    return labels


@dataclass
class ArmPose:
    """World poses (4x4) of one arm's mocap parts, and its five finger closures."""

    palm: np.ndarray
    forearm: np.ndarray
    upper_arm: np.ndarray
    closure: np.ndarray


class SimWorld:
    """A compiled scene: model, data, geom labels, and setters for the mocap and joint state."""

    def __init__(self, scene: Scene, width: int, height: int) -> None:
        self.scene = scene
        self.model = mujoco.MjModel.from_xml_string(world_xml(scene, width, height))
        self.data = mujoco.MjData(self.model)
        self._paint_textures()
        self.geom_labels = _body_labels(self.model)[self.model.geom_bodyid]
        self.hands = {prefix: HandJoints.find(self.model, prefix) for prefix in (ACTIVE, IDLE)}
        self.ego_camera = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "ego")
        self.exo_camera = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "exo")
        self._mocap = {
            mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, b): self.model.body_mocapid[b]
            for b in range(self.model.nbody)
            if self.model.body_mocapid[b] >= 0
        }
        self.target_geoms = np.flatnonzero(self.geom_labels == LABEL_OBJECT)
        self.lid_qpos = {}
        for i, obj in enumerate(scene.objects):
            if obj.shape.lid is not None:
                body = "target" if i == 0 else f"object{i}"
                joint = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, f"{body}_hinge")
                self.lid_qpos[i] = self.model.jnt_qposadr[joint]

    def _paint_textures(self) -> None:
        rng = np.random.default_rng(self.scene.texture_seed)
        for name, family in (
            ("counter_tex", self.scene.counter_texture),
            ("floor_tex", self.scene.floor_texture),
        ):
            tex = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_TEXTURE, name)
            start = self.model.tex_adr[tex]
            image = make_texture(family, rng, TEXTURE_SIZE)
            self.model.tex_data[start : start + image.size] = image.ravel()

    def set_mocap(self, body: str, T: np.ndarray) -> None:
        mocap = self._mocap[body]
        self.data.mocap_pos[mocap] = T[:3, 3]
        self.data.mocap_quat[mocap] = quat_from_matrix(T[:3, :3])

    def set_arm(self, prefix: str, arm: ArmPose) -> None:
        self.set_mocap(prefix + "hand_palm", arm.palm)
        self.set_mocap(prefix + "hand_forearm", arm.forearm)
        self.set_mocap(prefix + "upper_arm", arm.upper_arm)
        self.hands[prefix].set_closure(self.data, arm.closure)

    def set_object(self, index: int, T: np.ndarray, lid_angle: float = 0.0) -> None:
        body = "target" if index == 0 else f"object{index}"
        self.set_mocap(body, T)
        if index in self.lid_qpos:
            self.set_mocap(body + "_carrier", T)
            self.data.qpos[self.lid_qpos[index]] = -lid_angle  # positive angle lifts the front edge

    def set_ego_camera(self, T_cam_mujoco: np.ndarray) -> None:
        """Pose of the ego camera (MuJoCo convention: looks along its -z); the head follows it."""
        self.model.cam_pos[self.ego_camera] = T_cam_mujoco[:3, 3]
        self.model.cam_quat[self.ego_camera] = quat_from_matrix(T_cam_mujoco[:3, :3])
        head = T_cam_mujoco[:3, 3] + (HEAD_CENTRE - EYE)
        T_head = np.eye(4)
        T_head[:3, 3] = head
        self.set_mocap("head", T_head)

    def forward(self) -> None:
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)

    def camera_pose_opencv(self, camera: int) -> np.ndarray:
        """T_world_cam of `camera` in the OpenCV convention (x right, y down, z forward)."""
        T = np.eye(4)
        T[:3, :3] = self.data.cam_xmat[camera].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        T[:3, 3] = self.data.cam_xpos[camera]
        return T

    def object_pose(self, index: int) -> np.ndarray:
        """Initial world pose of object `index`: on the counter at its xy, turned by its yaw."""
        obj = self.scene.objects[index]
        T = np.eye(4)
        yaw = obj.yaw
        T[:3, :3] = matrix_from_quat(np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]))
        T[:3, 3] = (obj.xy[0], obj.xy[1], COUNTER_TOP)
        return T
