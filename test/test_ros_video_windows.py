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
    return VideoWindowCollector(max_partial_windows=max_partial_windows)


def ego(seconds: float) -> StampedFrame:
    return StampedFrame(round(seconds * NS), np.zeros((4, 4, 3), np.uint8), "ego_cam")


def mask(
    window_id: int, index: int, num_frames: int = 3, instruction: str = "open the box", with_ego: bool = True
) -> MaskFrame:
    """HOIMasks frame `index` of window `window_id` as the mask node publishes it (frame 0 with the ego frame)."""
    first_stamp_ns = (10 + window_id) * NS
    return MaskFrame(
        window_id,
        index,
        num_frames,
        first_stamp_ns + index * NS // 8,
        np.full((2, 2), index, np.uint8),
        0.5,
        instruction,
        ego((first_stamp_ns - NS // 50) / NS) if index == 0 and with_ego else None,
    )


def test_a_window_is_complete_with_all_masks_and_takes_instruction_and_ego_frame_from_frame_0():
    c = collector()

    events = [e for i in (0, 2, 1) for e in c.add_mask(mask(0, i))]

    [window] = events
    assert isinstance(window, CompleteWindow)
    assert window.instruction == "open the box" and window.ego.stamp_ns == 10 * NS - NS // 50
    assert window.masks[:, 0, 0].tolist() == [0, 1, 2]
    assert window.exo_stamps_ns == [10 * NS, 10 * NS + NS // 8, 10 * NS + NS // 4]
    assert window.mask_latency_s == pytest.approx(1.5)
    assert c.partial_windows == 0


def test_each_window_keeps_its_own_instruction_whatever_the_order_of_interleaved_windows():
    c = collector()

    events = c.add_mask(mask(0, 0, instruction="first")) + c.add_mask(mask(1, 0, instruction="second"))
    events += [e for i in (1, 2) for w in (1, 0) for e in c.add_mask(mask(w, i, instruction="ignored"))]

    assert [(w.window_id, w.instruction) for w in events] == [(1, "second"), (0, "first")]


def test_masks_without_frame_0_drop_the_window_once():
    c = collector()

    [problem] = c.add_mask(mask(0, 1))

    assert problem.kind == "masks_incomplete" and problem.dropped_window == 0
    assert "its frame 0 message (masks, instruction and ego frame) did not arrive" in problem.message
    assert c.add_mask(mask(0, 0)) == [] and c.add_mask(mask(0, 2)) == []  # the rest is ignored quietly


def test_a_frame_0_message_without_ego_frame_or_instruction_drops_the_window():
    c = collector()

    [no_ego] = c.add_mask(mask(0, 0, with_ego=False))
    [no_instruction] = c.add_mask(mask(1, 0, instruction=" "))

    assert [(p.kind, p.dropped_window) for p in (no_ego, no_instruction)] == [
        ("bad_masks", 0),
        ("bad_masks", 1),
    ]
    assert "carries no ego frame" in no_ego.message
    assert "carries an empty instruction" in no_instruction.message
    assert c.add_mask(mask(0, 1)) == [] and c.partial_windows == 0


def test_a_mask_index_outside_the_window_is_dropped():
    [problem] = collector().add_mask(mask(0, 3))

    assert problem.kind == "bad_masks" and "mask frame index 3 outside 0..2" in problem.message


def test_incomplete_windows_are_bounded_and_the_oldest_is_dropped():
    c = collector(max_partial_windows=2)

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
