"""Ego-Exo4D-style narrations of a sim scene: "C picks up the red cup with the right hand."."""

from __future__ import annotations

from training.sim.scene import Scene

_TEMPLATES = {
    "pick_place": "C picks up the {target} and puts it down {destination} with the {side} hand.",
    "push": "C pushes the {target} {destination} with the {side} hand.",
    "pour": "C lifts the {target} and tilts it to pour with the {side} hand.",
    "stack": "C stacks the {target} on the {destination} with the {side} hand.",
    "open_lid": "C opens the lid of the {target} with the {side} hand.",
    "close_lid": "C closes the lid of the {target} with the {side} hand.",
}


def instruction(scene: Scene) -> str:
    """The narration of `scene`: it names the action, the target by colour and shape, and the hand."""
    return _TEMPLATES[scene.action].format(
        target=scene.objects[0].description, destination=scene.destination, side=scene.side
    )
