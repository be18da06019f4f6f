"""The object catalogue of the sim world: shapes built from MuJoCo primitives, their names and colours.

Every object stands on the counter with its body origin at the centre of its footprint, on the
counter surface. Sizes are in metres and scale by a per-object factor drawn by the scene sampler.
A container (chest, tin) has a lid on a hinge along its back edge (+y in the object frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Colour names used in instructions, with their base RGB.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10),
    "green": (0.12, 0.62, 0.20),
    "blue": (0.12, 0.30, 0.85),
    "yellow": (0.95, 0.85, 0.10),
    "orange": (0.96, 0.50, 0.06),
    "purple": (0.52, 0.20, 0.70),
    "pink": (0.96, 0.48, 0.72),
    "white": (0.93, 0.93, 0.93),
    "black": (0.08, 0.08, 0.08),
    "brown": (0.48, 0.28, 0.12),
    "cyan": (0.10, 0.78, 0.85),
    "grey": (0.50, 0.50, 0.50),
}


@dataclass(frozen=True)
class Geom:
    """One primitive of a shape, in the object (or lid) frame. size follows MuJoCo's per-type meaning."""

    type: str
    size: tuple[float, ...]
    pos: tuple[float, float, float]
    accent: bool = False  # drawn in a darker shade of the object colour (handles, caps, knobs)


@dataclass(frozen=True)
class Lid:
    """A lid hinged about the x axis through `hinge` (object frame); its geoms are in the hinge frame."""

    hinge: tuple[float, float, float]
    geoms: tuple[Geom, ...]
    knob: tuple[float, float, float]  # knob centre in the hinge frame, where the hand pinches


@dataclass(frozen=True)
class Shape:
    """An object kind: its noun, primitives (at scale 1) and what the actions may do with it."""

    name: str
    geoms: tuple[Geom, ...]
    height: float  # top of the object above the counter
    radius: float  # horizontal half-extent used for spacing and side grasps
    graspable: bool = True
    pourable: bool = False
    stack_base: bool = False  # has a flat top that another object can stand on
    lid: Lid | None = None

    def scaled(self, scale: float) -> Shape:
        """This shape with all lengths multiplied by `scale`."""

        def scale_geoms(geoms: tuple[Geom, ...]) -> tuple[Geom, ...]:
            return tuple(
                Geom(g.type, tuple(scale * s for s in g.size), tuple(scale * p for p in g.pos), g.accent)
                for g in geoms
            )

        lid = None
        if self.lid is not None:
            lid = Lid(
                hinge=tuple(scale * p for p in self.lid.hinge),
                geoms=scale_geoms(self.lid.geoms),
                knob=tuple(scale * p for p in self.lid.knob),
            )
        return Shape(
            self.name,
            scale_geoms(self.geoms),
            self.height * scale,
            self.radius * scale,
            self.graspable,
            self.pourable,
            self.stack_base,
            lid,
        )


SHAPES: dict[str, Shape] = {
    shape.name: shape
    for shape in (
        # --- shapes of the train/val/test distribution
        Shape(
            "cup",
            (
                Geom("cylinder", (0.034, 0.045), (0, 0, 0.045)),
                Geom("box", (0.007, 0.005, 0.024), (-0.041, 0, 0.048), True),
            ),
            height=0.09,
            radius=0.036,
            pourable=True,
        ),
        Shape(
            "can",
            (Geom("cylinder", (0.029, 0.058), (0, 0, 0.058)),),
            height=0.116,
            radius=0.03,
            pourable=True,
        ),
        Shape(
            "box",
            (Geom("box", (0.05, 0.036, 0.03), (0, 0, 0.03)),),
            height=0.06,
            radius=0.05,
            stack_base=True,
        ),
        Shape("ball", (Geom("sphere", (0.034,), (0, 0, 0.034)),), height=0.068, radius=0.034),
        Shape("block", (Geom("box", (0.027, 0.027, 0.027), (0, 0, 0.027)),), height=0.054, radius=0.03),
        Shape(
            "chest",
            (Geom("box", (0.07, 0.05, 0.035), (0, 0, 0.035)),),
            height=0.086,
            radius=0.075,
            graspable=False,
            lid=Lid(
                hinge=(0, 0.05, 0.07),
                geoms=(Geom("box", (0.072, 0.051, 0.008), (0, -0.05, 0.008)),),
                knob=(0, -0.088, 0.026),
            ),
        ),
        # --- shapes seen only in the shift split
        Shape(
            "bottle",
            (
                Geom("cylinder", (0.03, 0.05), (0, 0, 0.05)),
                Geom("cylinder", (0.013, 0.03), (0, 0, 0.125)),
                Geom("cylinder", (0.015, 0.008), (0, 0, 0.158), True),
            ),
            height=0.166,
            radius=0.031,
            pourable=True,
        ),
        Shape("egg", (Geom("ellipsoid", (0.03, 0.03, 0.042), (0, 0, 0.042)),), height=0.084, radius=0.031),
        Shape(
            "book",
            (Geom("box", (0.075, 0.055, 0.016), (0, 0, 0.016)),),
            height=0.032,
            radius=0.075,
            stack_base=True,
        ),
        Shape(
            "tin",
            (Geom("cylinder", (0.055, 0.03), (0, 0, 0.03)),),
            height=0.072,
            radius=0.058,
            graspable=False,
            lid=Lid(
                hinge=(0, 0.056, 0.06),
                geoms=(Geom("cylinder", (0.057, 0.006), (0, -0.056, 0.006)),),
                knob=(0, -0.1, 0.022),
            ),
        ),
    )
}
# The knob geom every lid carries (a short vertical cylinder near the lid's front edge), in the hinge frame.
KNOB_RADIUS, KNOB_HALF_HEIGHT = 0.009, 0.01


def knob_geom(lid: Lid) -> Geom:
    return Geom("cylinder", (KNOB_RADIUS, KNOB_HALF_HEIGHT), lid.knob, True)


@dataclass(frozen=True)
class SceneObject:
    """One placed object: its (scaled) shape, colour, position on the counter (x, y) and yaw."""

    shape: Shape
    colour: str
    rgb: tuple[float, float, float]
    xy: tuple[float, float]
    yaw: float

    @property
    def description(self) -> str:
        return f"{self.colour} {self.shape.name}"


def jittered_colour(name: str, rng: np.random.Generator) -> tuple[float, float, float]:
    base = np.asarray(COLOURS[name])
    return tuple(float(c) for c in np.clip(base + rng.uniform(-0.05, 0.05, 3), 0.0, 1.0))
