"""The video node's window collection, the bounded work queue, rates and rate-limited warnings."""

import threading

import numpy as np
import pytest

from egoexo_ros.frame_buffer import StampedFrame
from egoexo_ros.health import Counters, RateTracker, WarningLimiter
from egoexo_ros.video_windows import CompleteWindow, MaskFrame, VideoWindowCollector
from egoexo_ros.work_queue import WindowWorkQueue

NS = 1_000_000_000


def collector(max_partial_windows: int = 2) -> VideoWindowCollector:
    return VideoWindowCollector(
        ego_buffer_size=8,
        max_ego_offset_ns=NS // 10,
        max_frame_gap_ns=NS,
        max_partial_windows=max_partial_windows,
    )


def mask(window_id: int, index: int, num_frames: int = 3) -> MaskFrame:
    return MaskFrame(
        window_id,
        index,
        num_frames,
        (10 + window_id) * NS + index * NS // 8,
        np.full((2, 2), index, np.uint8),
        0.5,
    )


def ego(seconds: float) -> StampedFrame:
    return StampedFrame(round(seconds * NS), np.zeros((4, 4, 3), np.uint8), "ego_cam")


def test_a_window_is_complete_with_all_masks_in_order_its_ego_frame_and_instruction():
    c = collector()
    c.add_instruction("open the box")
    c.add_ego(ego(9.95))
    c.add_ego(ego(10.02))

    events = [e for i in (0, 2, 1) for e in c.add_mask(mask(0, i))]

    [window] = events
    assert isinstance(window, CompleteWindow)
    assert window.instruction == "open the box" and window.ego.stamp_ns == round(10.02 * NS)
    assert window.masks[:, 0, 0].tolist() == [0, 1, 2]
    assert window.exo_stamps_ns == [10 * NS, 10 * NS + NS // 8, 10 * NS + NS // 4]
    assert window.mask_latency_s == pytest.approx(1.5)
    assert c.partial_windows == 0


def test_the_ego_frame_may_arrive_after_the_first_masks():
    c = collector()
    c.add_instruction("go")
    events = c.add_mask(mask(0, 0)) + c.add_mask(mask(0, 1))

    c.add_ego(ego(10.0))
    [window] = c.add_mask(mask(0, 2))

    assert events == [] and window.ego.stamp_ns == 10 * NS


def test_a_window_without_a_near_ego_frame_or_instruction_is_dropped():
    c = collector()
    c.add_ego(ego(10.0))
    [no_instruction] = c.add_mask(mask(0, 0))
    c.add_instruction("go")
    no_ego = [e for i in range(3) for e in c.add_mask(mask(5, i))]

    assert (
        no_instruction.kind == "masks_incomplete" and "no instruction received yet" in no_instruction.message
    )
    assert [(p.kind, p.dropped_window) for p in no_ego] == [("ego_missing", 5)]
    assert (
        "no window ego frame within 0.100 s of its first exo stamp 15.000 s (the latest is stamped 10.000 s)"
        in no_ego[0].message
    )
    assert c.add_mask(mask(0, 1)) == []  # the rest of a dropped window is ignored quietly


def test_masks_without_frame_0_drop_the_window_once():
    c = collector()
    c.add_instruction("go")

    [problem] = c.add_mask(mask(0, 1))

    assert problem.kind == "masks_incomplete" and "frame 0 mask did not arrive" in problem.message
    assert c.add_mask(mask(0, 2)) == []


def test_incomplete_windows_are_bounded_and_the_oldest_is_dropped():
    c = collector(max_partial_windows=2)
    c.add_instruction("go")
    for window_id in range(3):
        c.add_ego(ego(10 + window_id))

    events = [e for w in range(3) for e in c.add_mask(mask(w, 0))]

    assert [(e.kind, e.dropped_window) for e in events] == [("masks_incomplete", 0)]
    assert "only 1 of its masks arrived before newer windows" in events[0].message
    assert c.partial_windows == 2


def test_the_work_queue_drops_the_oldest_window_as_a_whole_and_refuses_its_later_items():
    queue = WindowWorkQueue[str](max_windows=2)
    assert queue.put(0, "w0 f0") == []
    assert queue.put(0, "w0 f1") == []
    assert queue.put(1, "w1 f0") == []

    assert queue.put(2, "w2 f0") == [0]
    assert queue.put(0, "w0 f2") == []

    assert [queue.get(0.0) for _ in range(3)] == [(1, "w1 f0"), (2, "w2 f0"), None]


def test_the_work_queue_wakes_a_waiting_worker_on_close():
    queue = WindowWorkQueue[int](max_windows=1)
    results = []
    worker = threading.Thread(target=lambda: results.append(queue.get(timeout_s=30.0)))
    worker.start()

    queue.close()
    worker.join(timeout=5.0)

    assert not worker.is_alive() and results == [None]


def test_rates_count_the_messages_of_the_last_window():
    rate = RateTracker(window_s=2.0)
    for i in range(60):
        rate.tick(i / 30)

    assert rate.rate_hz(2.0) == pytest.approx(30.0, abs=0.5)
    assert rate.rate_hz(10.0) == 0.0


def test_warnings_are_rate_limited_per_kind_and_all_are_counted():
    limiter = WarningLimiter(period_s=5.0)

    logged = [limiter.report("wrong_step", f"bad step {i}", now=i * 0.01) for i in range(100)]
    other = limiter.report("ego_missing", "no ego", now=0.5)
    later = limiter.report("wrong_step", "bad step again", now=6.0)

    assert [w.message for w in logged if w is not None] == ["bad step 0"]
    assert other is not None
    assert later.text() == "bad step again (99 more of this kind since the last warning)"
    assert limiter.counts() == {"wrong_step": 101, "ego_missing": 1}


def test_counters_refuse_unknown_names():
    counters = Counters(("windows_dropped",))
    counters.add("windows_dropped", 2)

    assert counters.snapshot() == {"windows_dropped": 2}
    with pytest.raises(KeyError, match="unknown counter 'windows_droped'"):
        counters.add("windows_droped")
