"""`egoexo sim`: clips on disk, resumable runs, clear errors and no partial clip directories."""

from __future__ import annotations

import pytest

from egoexo_models.cli import main
from egoexo_models.clip import list_clips, read_clip
from training.sim import generate


def _sim(out, *extra):
    return main(["sim", "--out", str(out), "--seed", "5", "--frames", "3", "--size", "24", *extra])


def test_sim_writes_readable_clips_named_by_split_seed_and_index(tmp_path, capsys):
    assert _sim(tmp_path, "--clips", "2", "--split", "val") == 0
    clips = list_clips(tmp_path)
    assert [c.name for c in clips] == ["sim_val_000005_000000", "sim_val_000005_000001"]
    clip = read_clip(clips[0])
    assert clip.exo.shape == (3, 24, 24, 3) and clip.ego_masks.shape == (3, 24, 24)
    assert clip.meta.source == "sim" and clip.meta.fps == 8.0
    assert clip.meta.extra["split"] == "val" and clip.meta.extra["seed"] == 5
    assert "wrote 2 clip(s)" in capsys.readouterr().out


def test_rerunning_keeps_existing_clips_and_adds_missing_ones(tmp_path, capsys):
    assert _sim(tmp_path, "--clips", "1") == 0
    before = (tmp_path / "sim_train_000005_000000" / "meta.json").stat().st_mtime_ns
    assert _sim(tmp_path, "--clips", "2") == 0
    assert "wrote 1 clip(s), kept 1 existing" in capsys.readouterr().out
    assert (tmp_path / "sim_train_000005_000000" / "meta.json").stat().st_mtime_ns == before
    assert len(list_clips(tmp_path)) == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--clips", "0"], "--clips must be at least 1, got 0"),
        (["--clips", "1", "--size", "-8"], "--size must be between 16 and 1024 pixels, got -8"),
        (
            ["--clips", "1", "--split", "kitchen"],
            "--split must be one of train, val, test, shift, got 'kitchen'",
        ),
        (["--clips", "1", "--workers", "0"], "--workers must be at least 1, got 0"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message_and_write_nothing(tmp_path, capsys, arguments, message):
    out = tmp_path / "clips"
    assert _sim(out, *arguments) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_an_unwritable_output_directory_fails_clearly(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert _sim(blocker / "clips", "--clips", "1") == 2
    err = capsys.readouterr().err
    assert "not writable" in err and str(blocker / "clips") in err
    assert list(tmp_path.iterdir()) == [blocker]


def test_a_failure_midway_leaves_only_complete_clips(tmp_path, monkeypatch):
    real = generate.generate_clip

    def fail_on_second(split, seed, index, **kwargs):
        if index == 1:
            raise RuntimeError("renderer lost")
        return real(split, seed, index, **kwargs)

    monkeypatch.setattr(generate, "generate_clip", fail_on_second)
    with pytest.raises(RuntimeError, match="renderer lost"):
        _sim(tmp_path, "--clips", "3")
    assert [p.name for p in tmp_path.iterdir()] == ["sim_train_000005_000000"]
    read_clip(tmp_path / "sim_train_000005_000000")


@pytest.mark.slow
def test_two_spawned_workers_write_the_same_bytes_as_one_process(tmp_path):
    assert _sim(tmp_path / "one", "--clips", "3") == 0
    assert _sim(tmp_path / "two", "--clips", "3", "--workers", "2") == 0
    for clip in list_clips(tmp_path / "one"):
        for path in clip.rglob("*.png"):
            assert path.read_bytes() == (tmp_path / "two" / clip.name / path.relative_to(clip)).read_bytes()
