"""What a node reports about itself: input rates, rate-limited warnings and counters for /diagnostics.

Plain Python (no rclpy), thread-safe, driven by explicit clock values so tests control time.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


class RateTracker:
    """Messages per second over a sliding window of the last `window_s` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 2.0) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self._window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float) -> None:
        with self._lock:
            self._times.append(now)
            self._forget_before(now - self._window_s)

    def rate_hz(self, now: float) -> float:
        with self._lock:
            self._forget_before(now - self._window_s)
            return len(self._times) / self._window_s

    def _forget_before(self, oldest: float) -> None:
        while self._times and self._times[0] < oldest:
            self._times.popleft()


@dataclass(frozen=True)
class LoggedWarning:
    """A warning to log now: its kind, its text, and how many of this kind were suppressed since the last one."""

    kind: str
    message: str
    suppressed: int

    def text(self) -> str:
        if self.suppressed:
            return f"{self.message} ({self.suppressed} more of this kind since the last warning)"
        return self.message


class WarningLimiter:
    """Lets through at most one warning per kind every `period_s` seconds and counts every occurrence."""

    def __init__(self, period_s: float) -> None:
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        self._period_s = period_s
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._last_message: dict[str, str] = {}
        self._lock = threading.Lock()

    def report(self, kind: str, message: str, now: float) -> LoggedWarning | None:
        """Count one occurrence of `kind`; return the warning to log, or None while rate-limited."""
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._last_message[kind] = message
            last = self._last_logged.get(kind)
            if last is not None and now - last < self._period_s:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return None
            self._last_logged[kind] = now
            return LoggedWarning(kind, message, self._suppressed.pop(kind, 0))

    def counts(self) -> dict[str, int]:
        """Occurrences of each kind since start."""
        with self._lock:
            return dict(self._counts)

    def last_messages(self) -> dict[str, str]:
        with self._lock:
            return dict(self._last_message)


class Counters:
    """Named, thread-safe event counters (windows started, completed, dropped, ...)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._values = dict.fromkeys(names, 0)
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            if name not in self._values:
                raise KeyError(f"unknown counter {name!r}; known: {', '.join(self._values)}")
            self._values[name] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)
