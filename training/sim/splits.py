"""The four splits of the sim world. train, val and test share one distribution and differ only in
their random streams; `shift` uses object shapes, textures and exo viewpoints that train never shows
(the counterpart of the paper's Ego-Exo4D -> H2O zero-shot transfer)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SplitSpec:
    """What a split may draw. Angles in degrees, lengths in metres."""

    name: str
    code: int  # mixed into every random stream, so equal seeds of two splits give disjoint worlds
    shapes: tuple[str, ...]  # objects that may be picked, pushed, poured or stacked
    containers: tuple[str, ...]  # objects with a hinged lid
    stack_bases: tuple[str, ...]
    textures: tuple[str, ...]
    exo_azimuth_sectors: tuple[tuple[float, float], ...]  # around the counter centre; the actor stands at -90
    exo_height: tuple[float, float]  # above the floor
    exo_radius: tuple[float, float]


_SAME_DISTRIBUTION = dict(
    shapes=("cup", "can", "box", "ball", "block"),
    containers=("chest",),
    stack_bases=("box",),
    textures=("checker", "planks", "plain", "gradient", "tiles"),
    exo_azimuth_sectors=((-45.0, 30.0), (60.0, 120.0), (150.0, 225.0)),
    exo_height=(1.35, 1.75),
    exo_radius=(0.95, 1.3),
)

SPLITS: dict[str, SplitSpec] = {
    "train": SplitSpec(name="train", code=1, **_SAME_DISTRIBUTION),
    "val": SplitSpec(name="val", code=2, **_SAME_DISTRIBUTION),
    "test": SplitSpec(name="test", code=3, **_SAME_DISTRIBUTION),
    "shift": SplitSpec(
        name="shift",
        code=4,
        shapes=("bottle", "egg", "book"),
        containers=("tin",),
        stack_bases=("book",),
        textures=("marble", "dots", "diagonal"),
        exo_azimuth_sectors=((30.0, 60.0), (120.0, 150.0)),
        exo_height=(1.85, 2.1),
        exo_radius=(0.85, 1.05),
    ),
}


def get_split(name: str) -> SplitSpec:
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}: choose one of {', '.join(SPLITS)}")
    return SPLITS[name]
