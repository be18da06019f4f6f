"""Problem: input the nodes dropped or a window they gave up, keyed by kind for warnings and /diagnostics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """What was dropped and why; `dropped_window` is the window's id when a whole window was dropped."""

    kind: str
    message: str
    dropped_window: int | None = None


def seconds(nanoseconds: float) -> str:
    """Nanoseconds as seconds, for messages."""
    return f"{nanoseconds / 1e9:.3f} s"
