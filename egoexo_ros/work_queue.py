"""A bounded, thread-safe FIFO of work items that belong to prediction windows.

Callbacks put, one worker thread gets. When more than `max_windows` windows have items waiting,
the oldest window's items are dropped as a whole (a window with a frame missing is worthless),
and later items of a dropped window are refused, so the queue never grows without bound and the
freshest windows win.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class WindowWorkQueue(Generic[T]):
    def __init__(self, max_windows: int) -> None:
        if max_windows < 1:
            raise ValueError(f"max_windows must be at least 1, got {max_windows}")
        self._max_windows = max_windows
        self._items: deque[tuple[int, T]] = deque()
        self._dropped: deque[int] = deque(maxlen=256)
        self._closed = False
        self._condition = threading.Condition()

    def put(self, window_id: int, item: T) -> list[int]:
        """Queue `item` of window `window_id`; returns the ids of windows dropped to make room."""
        with self._condition:
            if self._closed or window_id in self._dropped:
                return []
            self._items.append((window_id, item))
            dropped = []
            while len(self._waiting_windows()) > self._max_windows:
                oldest = self._items[0][0]
                self._remove(oldest)
                dropped.append(oldest)
            self._condition.notify()
            return dropped

    def drop_window(self, window_id: int) -> None:
        """Forget the items of `window_id` and refuse its later ones."""
        with self._condition:
            self._remove(window_id)

    def get(self, timeout_s: float) -> tuple[int, T] | None:
        """The oldest item, waiting up to `timeout_s`; None on timeout or once closed."""
        with self._condition:
            self._condition.wait_for(lambda: self._items or self._closed, timeout=timeout_s)
            if self._closed or not self._items:
                return None
            return self._items.popleft()

    def close(self) -> None:
        """Wake the worker and refuse everything from now on."""
        with self._condition:
            self._closed = True
            self._items.clear()
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        with self._condition:
            return self._closed

    def was_dropped(self, window_id: int) -> bool:
        """Whether `window_id` is one of the (recently) dropped windows."""
        with self._condition:
            return window_id in self._dropped

    def waiting_windows(self) -> int:
        with self._condition:
            return len(self._waiting_windows())

    def _waiting_windows(self) -> set[int]:
        return {window_id for window_id, _ in self._items}

    def _remove(self, window_id: int) -> None:
        self._items = deque(entry for entry in self._items if entry[0] != window_id)
        self._dropped.append(window_id)
