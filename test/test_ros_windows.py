"""WindowAssembler: which exo frames form a window, which ego frame goes with it, and what gets dropped."""

import dataclasses

import numpy as np
import pytest

from egoexo_ros.frame_buffer import StampedFrame
from egoexo_ros.problems import Problem
from egoexo_ros.windows import AssemblerConfig, FrameReady, WindowAssembler

CONFIG = AssemblerConfig(
    num_frames=4,
    model_fps=10.0,
    frame_stride=0,
    trigger="instruction",
    window_stride=4,
    max_ego_offset_ns=50_000_000,
    max_ego_lag_ns=300_000_000,
    max_frame_gap_ns=1_000_000_000,
    ego_buffer_size=16,
)
IMAGE = np.zeros((2, 2, 3), np.uint8)


def frame(seconds: float) -> StampedFrame:
    return StampedFrame(round(seconds * 1e9), IMAGE)


def ready(events) -> list[tuple[int, int, float]]:
    """(window id, index, exo stamp in s) of each FrameReady."""
    return [
        (e.window.window_id, e.index, e.window.exo[e.index].stamp_ns / 1e9)
        for e in events
        if isinstance(e, FrameReady)
    ]


def problems(events) -> list[Problem]:
    return [e for e in events if isinstance(e, Problem)]


def play(assembler, start: float, stop: float, rate: float, *, ego: bool = True, exo: bool = True) -> list:
    """Ego and exo frames (same stamps, ego first; either may be left out) at `rate` Hz for stamps in [start, stop)."""
    events = []
    for i in range(round((stop - start) * rate)):
        stamp = start + i / rate
        if ego:
            events += assembler.add_ego(frame(stamp))
        if exo:
            events += assembler.add_exo(frame(stamp))
    return events


def test_an_instruction_starts_a_window_of_num_frames_exo_frames_at_the_model_fps():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("pick up the cup")

    events = play(assembler, 0.0, 1.0, rate=30)

    assert ready(events) == [(0, 0, 0.0), (0, 1, 0.1), (0, 2, 0.2), (0, 3, 0.3)]
    window = next(e.window for e in events if isinstance(e, FrameReady))
    assert window.instruction == "pick up the cup" and window.ego.stamp_ns == 0
    assert problems(events) == []


def test_no_window_starts_without_an_instruction():
    for trigger in ("instruction", "continuous"):
        assembler = WindowAssembler(dataclasses.replace(CONFIG, trigger=trigger))
        assert ready(play(assembler, 0.0, 1.0, rate=30)) == []


def test_subsampling_by_stamp_takes_the_frame_at_or_just_after_each_model_step_without_drift():
    assembler = WindowAssembler(dataclasses.replace(CONFIG, num_frames=40, model_fps=8.0))
    assembler.add_instruction("go")

    stamps = [s for _, _, s in ready(play(assembler, 0.0, 5.0, rate=30))]

    assert len(stamps) == 40
    assert max(abs(s - i / 8) for i, s in enumerate(stamps)) <= 1 / 30 + 1e-9


def test_a_frame_stride_takes_every_kth_frame_whatever_the_stamps():
    assembler = WindowAssembler(dataclasses.replace(CONFIG, frame_stride=3))
    assembler.add_instruction("go")

    assert [s for _, _, s in ready(play(assembler, 0.0, 1.0, rate=30))] == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_continuous_windows_start_every_window_stride_frames_and_may_overlap():
    assembler = WindowAssembler(dataclasses.replace(CONFIG, trigger="continuous", window_stride=2))
    assembler.add_instruction("go")

    events = ready(play(assembler, 0.0, 0.8, rate=10))

    starts = {w: s for w, i, s in events if i == 0}
    assert starts == pytest.approx({0: 0.0, 1: 0.2, 2: 0.4, 3: 0.6})
    assert [s for w, _, s in events if w == 1] == pytest.approx([0.2, 0.3, 0.4, 0.5])


def test_exo_frames_wait_for_a_late_ego_frame_and_are_released_in_order():
    assembler = WindowAssembler(dataclasses.replace(CONFIG, max_ego_offset_ns=200_000_000))
    assembler.add_instruction("go")
    held = assembler.add_exo(frame(0.0)) + assembler.add_exo(frame(0.1))

    released = assembler.add_ego(frame(0.01))

    assert ready(held) == []
    assert ready(released) == [(0, 0, 0.0), (0, 1, 0.1)]
    assert released[0].window.ego.stamp_ns == 10_000_000


def test_the_ego_frame_nearest_the_first_exo_stamp_is_chosen():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("go")
    assembler.add_ego(frame(0.97))
    assembler.add_ego(frame(1.02))

    events = assembler.add_exo(frame(1.0))

    assert ready(events)[0][:2] == (0, 0)
    assert events[0].window.ego.stamp_ns == 1_020_000_000


def test_a_stopped_ego_stream_drops_the_window_and_a_later_window_works_again():
    assembler = WindowAssembler(CONFIG)
    play(assembler, 0.0, 0.5, rate=10)
    assembler.add_instruction("go")

    stalled = play(assembler, 0.5, 1.0, rate=10, ego=False)
    assembler.add_instruction("go again")
    resumed = play(assembler, 1.0, 1.5, rate=10)

    [problem] = problems(stalled)
    assert problem.kind == "ego_missing" and problem.dropped_window == 0
    assert (
        "no ego frame within 0.050 s of its first exo stamp 0.500 s (the latest is stamped 0.400 s)"
        in problem.message
    )
    assert ready(stalled) == []
    assert [(w, i) for w, i, _ in ready(resumed)] == [(1, 0), (1, 1), (1, 2), (1, 3)]


def test_an_out_of_order_exo_frame_is_dropped_and_the_window_goes_on():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("go")
    events = play(assembler, 0.0, 0.2, rate=10)
    events += assembler.add_exo(frame(0.05))
    events += play(assembler, 0.2, 0.4, rate=10)

    assert [p.kind for p in problems(events)] == ["exo_out_of_order"]
    assert [s for _, _, s in ready(events)] == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_exo_stamps_jumping_back_restart_the_stream_and_drop_the_window_in_progress():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("go")
    play(assembler, 100.0, 100.2, rate=10)

    jumped = play(assembler, 0.0, 0.2, rate=10)
    assembler.add_instruction("again")
    after = play(assembler, 0.2, 0.6, rate=10)

    assert [(p.kind, p.dropped_window) for p in problems(jumped)] == [
        ("ego_time_reset", None),
        ("exo_time_reset", 0),
    ]
    assert "exo stamps jumped back by 100.100 s" in problems(jumped)[1].message
    assert [w for w, _, _ in ready(after)] == [1, 1, 1, 1]
    assert [s for _, _, s in ready(after)] == pytest.approx([0.2, 0.3, 0.4, 0.5])


def test_ego_frames_delivered_late_are_waited_for_up_to_max_ego_lag():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("go")
    held = play(assembler, 0.0, 0.3, rate=10, ego=False)  # exo runs 0.2 s ahead, within the 0.3 s lag

    released = play(assembler, 0.0, 0.3, rate=10, exo=False)

    assert ready(held) == [] and problems(held) == []
    assert ready(released) == [(0, 0, 0.0), (0, 1, 0.1), (0, 2, 0.2)]
    assert released[0].window.ego.stamp_ns == 0


def test_after_a_jump_back_an_exo_frame_ahead_of_its_ego_frame_still_gets_it():
    assembler = WindowAssembler(CONFIG)
    play(assembler, 100.0, 100.2, rate=10)
    assembler.add_instruction("replayed")

    held = play(assembler, 0.0, 0.2, rate=10, ego=False)
    released = play(assembler, 0.0, 0.2, rate=10, exo=False)

    assert [p.kind for p in problems(held)] == ["exo_time_reset"]
    assert [(w, i) for w, i, _ in ready(released)] == [(0, 0), (0, 1)]
    assert released[0].window.ego.stamp_ns == 0


def test_a_gap_in_the_exo_stream_drops_the_window_in_progress():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("go")
    play(assembler, 0.0, 0.2, rate=10)

    events = play(assembler, 5.0, 5.5, rate=10)

    assert [(p.kind, p.dropped_window) for p in problems(events)] == [("exo_gap", 0)]
    assert "no exo frame for 4.900 s" in problems(events)[0].message


def test_an_instruction_flood_keeps_one_waiting_instruction_and_counts_the_superseded():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("first")
    events = play(assembler, 0.0, 0.1, rate=10)

    for i in range(100):
        events += assembler.add_instruction(f"flood {i}")
    events += play(assembler, 0.1, 0.8, rate=10)

    assert [p.kind for p in problems(events)] == ["instruction_superseded"] * 99
    windows = {e.window.window_id: e.window.instruction for e in events if isinstance(e, FrameReady)}
    assert windows == {0: "first", 1: "flood 99"}


def test_an_empty_instruction_is_ignored():
    assembler = WindowAssembler(CONFIG)

    assert [p.kind for p in assembler.add_instruction("  ")] == ["empty_instruction"]
    assert ready(play(assembler, 0.0, 0.5, rate=10)) == []


def test_abort_drops_the_windows_in_progress():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("go")
    play(assembler, 0.0, 0.2, rate=10)

    assert [(p.kind, p.dropped_window) for p in assembler.abort("deactivating")] == [("aborted", 0)]
    assert assembler.windows_in_progress == 0


def test_abort_names_its_kind_and_without_windows_reports_nothing():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("go")
    play(assembler, 0.0, 0.2, rate=10)

    [problem] = assembler.abort("no exo frame for 1.2 s", "exo_stalled")

    assert (problem.kind, problem.dropped_window) == ("exo_stalled", 0)
    assert "no exo frame for 1.2 s: window 0 dropped" in problem.message
    assert assembler.abort("no exo frame for 1.5 s", "exo_stalled") == []


def test_a_pause_between_windows_is_no_problem():
    assembler = WindowAssembler(CONFIG)
    assembler.add_instruction("first")
    play(assembler, 0.0, 0.4, rate=10)

    assembler.add_instruction("second")
    events = play(assembler, 60.0, 60.4, rate=10)

    assert problems(events) == []
    assert [w for w, _, _ in ready(events)] == [1, 1, 1, 1]


def test_exo_jumping_back_before_the_ego_stream_does_forgets_the_old_ego_frames():
    assembler = WindowAssembler(CONFIG)
    play(assembler, 100.0, 100.5, rate=10)
    assembler.add_instruction("go")

    events = assembler.add_exo(frame(0.0))  # the exo camera restarts first
    events += assembler.add_ego(frame(0.0))
    events += play(assembler, 0.1, 0.4, rate=10)

    assert [p.kind for p in problems(events)] == ["exo_time_reset"]
    assert [w for w, _, _ in ready(events)] == [0, 0, 0, 0]


def test_ego_jumping_back_before_the_exo_stream_does_keeps_the_new_ego_frame():
    assembler = WindowAssembler(CONFIG)
    play(assembler, 100.0, 100.5, rate=10)
    assembler.add_instruction("go")

    events = assembler.add_ego(frame(0.0))  # the ego camera restarts first
    events += assembler.add_exo(frame(0.0))
    events += play(assembler, 0.1, 0.4, rate=10)

    assert [p.kind for p in problems(events)] == ["ego_time_reset", "exo_time_reset"]
    assert [w for w, _, _ in ready(events)] == [0, 0, 0, 0]
    assert events[-1].window.ego.stamp_ns == 0
