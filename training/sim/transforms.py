"""Rigid-body helpers for the sim world: rotations, 4x4 poses, look-at frames and smooth interpolation."""

from __future__ import annotations

import numpy as np

WORLD_UP = np.array([0.0, 0.0, 1.0])


def normalize(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v)
    if norm < 1e-12:
        raise ValueError(f"cannot normalize a zero-length vector {v}")
    return v / norm


def frame_from_axes(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Rotation matrix whose columns are x, y = z × x and z, after making z orthogonal to x."""
    x = normalize(np.asarray(x, dtype=np.float64))
    z = normalize(z - np.dot(z, x) * x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def look_at_mujoco(eye: np.ndarray, target: np.ndarray, up: np.ndarray = WORLD_UP) -> np.ndarray:
    """Rotation of a MuJoCo camera at `eye` looking at `target` (columns: right, up, backwards)."""
    forward = normalize(np.asarray(target, dtype=np.float64) - eye)
    right = normalize(np.cross(forward, up))
    cam_up = np.cross(right, forward)
    return np.stack([right, cam_up, -forward], axis=1)


def rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix of `angle` radians about `axis` (Rodrigues)."""
    k = normalize(np.asarray(axis, dtype=np.float64))
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


def pose(rotation: np.ndarray, position: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = rotation
    T[:3, 3] = position
    return T


def invert(T: np.ndarray) -> np.ndarray:
    R, t = T[:3, :3], T[:3, 3]
    return pose(R.T, -R.T @ t)


def quat_from_matrix(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of rotation matrix R, with w >= 0."""
    R = np.asarray(R, dtype=np.float64)
    trace = np.trace(R)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = np.array([0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s])
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = np.array([(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s])
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = np.array([(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = np.array([(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s])
    q = q / np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation between unit quaternions, s in [0, 1]."""
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + s * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1 - s) * theta) * q0 + np.sin(s * theta) * q1) / np.sin(theta)


def min_jerk(s: float) -> float:
    """Minimum-jerk profile: 0 at s<=0, 1 at s>=1, zero velocity and acceleration at both ends."""
    s = min(max(s, 0.0), 1.0)
    return s**3 * (10 - 15 * s + 6 * s * s)


def interpolate_pose(T0: np.ndarray, T1: np.ndarray, s: float) -> np.ndarray:
    """Pose between T0 (s=0) and T1 (s=1): linear position, spherical rotation."""
    q = slerp(quat_from_matrix(T0[:3, :3]), quat_from_matrix(T1[:3, :3]), s)
    return pose(matrix_from_quat(q), (1 - s) * T0[:3, 3] + s * T1[:3, 3])


def intrinsics(fovy_deg: float, height: int, width: int) -> np.ndarray:
    """Pinhole K of a MuJoCo camera with vertical field of view `fovy_deg`; pixel centres at integers."""
    f = (height / 2) / np.tan(np.radians(fovy_deg) / 2)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
