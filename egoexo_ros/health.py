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


LEVEL_OK, LEVEL_WARN, LEVEL_ERROR = 0, 1, 2  # as diagnostic_msgs/DiagnosticStatus


class NodeHealth:
    """Everything a node reports in /diagnostics: rates, counters, problems by kind, last latency and error.

    A problem or an error in the last `recent_s` seconds makes the status WARN or ERROR.
    """

    def __init__(
        self,
        *,
        warning_period_s: float,
        counters: tuple[str, ...],
        rates: tuple[str, ...],
        recent_s: float = 10.0,
    ) -> None:
        self.counters = Counters(counters)
        self.rates = {name: RateTracker() for name in rates}
        self._limiter = WarningLimiter(warning_period_s)
        self._recent_s = recent_s
        self._last_latency_s: float | None = None
        self._last_error = ""
        self._last_error_at: float | None = None
        self._last_problem = ""
        self._last_problem_at: float | None = None
        self._lock = threading.Lock()

    def problem(self, kind: str, message: str, now: float) -> LoggedWarning | None:
        """Record dropped input of `kind`; returns the warning to log unless rate-limited."""
        with self._lock:
            self._last_problem, self._last_problem_at = f"{kind}: {message}", now
        return self._limiter.report(kind, message, now)

    def error(self, message: str, now: float) -> LoggedWarning | None:
        """Record a failure (a model call raised, say); returns the warning to log unless rate-limited."""
        with self._lock:
            self._last_error, self._last_error_at = message, now
        return self._limiter.report("error", message, now)

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._last_latency_s = seconds

    def status(self, now: float, facts: dict[str, str]) -> tuple[int, str, list[tuple[str, str]]]:
        """(level, one-line message, key/value pairs) for a DiagnosticStatus; `facts` come first."""
        with self._lock:
            error_recent = self._last_error_at is not None and now - self._last_error_at < self._recent_s
            problem_recent = (
                self._last_problem_at is not None and now - self._last_problem_at < self._recent_s
            )
            last_latency = "" if self._last_latency_s is None else f"{self._last_latency_s:.4f}"
            last_error, last_problem = self._last_error, self._last_problem
        if error_recent:
            level, message = LEVEL_ERROR, f"error: {last_error}"
        elif problem_recent:
            level, message = LEVEL_WARN, f"dropping input: {last_problem}"
        else:
            level, message = LEVEL_OK, "ok"
        values = list(facts.items())
        values += [(f"{name}_rate_hz", f"{rate.rate_hz(now):.2f}") for name, rate in self.rates.items()]
        values += [(name, str(count)) for name, count in self.counters.snapshot().items()]
        values += [
            ("last_latency_s", last_latency),
            ("last_error", last_error),
            ("last_problem", last_problem),
        ]
        values += [(f"problems.{kind}", str(count)) for kind, count in sorted(self._limiter.counts().items())]
        return level, message, values
