"""Procedural RGB textures for the counter and the floor, drawn with numpy (no image files)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

TEXTURE_SIZE = 128  # texels per side; the counter repeats it about twice across its width

Palette = tuple[np.ndarray, np.ndarray]


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    v, u = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return u, v


def _mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return a[None, None, :] * (1 - weight[..., None]) + b[None, None, :] * weight[..., None]


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Bilinearly upsampled, periodic value noise in [0, 1]."""
    coarse = rng.random((cells, cells)).astype(np.float32)
    u, v = _grid(size)
    x, y = u * cells, v * cells
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    x1, y1 = (x0 + 1) % cells, (y0 + 1) % cells
    top = coarse[y0, x0] * (1 - fx) + coarse[y0, x1] * fx
    bottom = coarse[y1, x0] * (1 - fx) + coarse[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def checker(rng: np.random.Generator, palette: Palette, size: int) -> np.ndarray:
    u, v = _grid(size)
    cells = int(rng.choice([4, 8]))
    weight = ((np.floor(u * cells) + np.floor(v * cells)) % 2).astype(np.float32)
    return _mix(*palette, weight)


def planks(rng: np.random.Generator, palette: Palette, size: int) -> np.ndarray:
    """Wood-like boards: stripes along u with grain noise and a shade per board."""
    u, v = _grid(size)
    boards = int(rng.choice([4, 8]))
    board = np.floor(v * boards).astype(int)
    shade = rng.uniform(0.0, 0.35, boards).astype(np.float32)[board]
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (u * 3 + 0.15 * _smooth_noise(rng, size, 8)) * 6)
    seam = (np.abs(v * boards - np.round(v * boards)) < 0.04).astype(np.float32)
    return _mix(*palette, np.clip(0.3 * grain + shade + seam, 0, 1))


def plain(rng: np.random.Generator, palette: Palette, size: int) -> np.ndarray:
    return _mix(*palette, 0.1 * _smooth_noise(rng, size, 16))


def gradient(rng: np.random.Generator, palette: Palette, size: int) -> np.ndarray:
    """A smooth symmetric ramp (periodic, so repeats do not show seams)."""
    u, v = _grid(size)
    axis = u if rng.random() < 0.5 else v
    return _mix(*palette, 0.5 - 0.5 * np.cos(2 * np.pi * axis))


def tiles(rng: np.random.Generator, palette: Palette, size: int) -> np.ndarray:
    u, v = _grid(size)
    cells = int(rng.choice([4, 8]))
    grout = (
        np.minimum(np.abs(u * cells - np.round(u * cells)), np.abs(v * cells - np.round(v * cells))) < 0.06
    ).astype(np.float32)
    return _mix(*palette, np.clip(grout + 0.08 * _smooth_noise(rng, size, 8), 0, 1))


def marble(rng: np.random.Generator, palette: Palette, size: int) -> np.ndarray:
    """Veined stone: a sine of a turbulent coordinate (shift split only)."""
    u, v = _grid(size)
    turbulence = (
        _smooth_noise(rng, size, 4) + 0.5 * _smooth_noise(rng, size, 8) + 0.25 * _smooth_noise(rng, size, 16)
    )
    veins = np.abs(np.sin(2 * np.pi * (u + v + 1.2 * turbulence)))
    return _mix(*palette, veins**0.3)


def dots(rng: np.random.Generator, palette: Palette, size: int) -> np.ndarray:
    """Polka dots on a plain ground (shift split only)."""
    u, v = _grid(size)
    cells = int(rng.choice([4, 8]))
    du, dv = u * cells - np.floor(u * cells) - 0.5, v * cells - np.floor(v * cells) - 0.5
    return _mix(*palette, (du * du + dv * dv < 0.09).astype(np.float32))


def diagonal(rng: np.random.Generator, palette: Palette, size: int) -> np.ndarray:
    """Diagonal stripes (shift split only)."""
    u, v = _grid(size)
    stripes = int(rng.choice([4, 8]))
    return _mix(*palette, ((np.floor((u + v) * stripes)) % 2).astype(np.float32))


TEXTURES: dict[str, Callable[[np.random.Generator, Palette, int], np.ndarray]] = {
    "checker": checker,
    "planks": planks,
    "plain": plain,
    "gradient": gradient,
    "tiles": tiles,
    "marble": marble,
    "dots": dots,
    "diagonal": diagonal,
}


def make_texture(name: str, rng: np.random.Generator, size: int = TEXTURE_SIZE) -> np.ndarray:
    """A (size, size, 3) uint8 texture of family `name` with a random two-colour palette."""
    base = rng.uniform(0.15, 0.9, 3).astype(np.float32)
    second = np.clip(base * rng.uniform(0.35, 0.8) + rng.uniform(-0.1, 0.1, 3), 0, 1).astype(np.float32)
    image = TEXTURES[name](rng, (base, second), size)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
