"""Run directories (rundir.py, issue #12): atomic, locked, replaced only safely — checked on disk.

The fault-injection tests run ``sinetune fit`` in a forked child process, stop it at a chosen point of
training or of writing (a patched writer signals a flag file and sleeps, so the kill lands there
deterministically; training points are drawn from a seeded generator) and ``kill -9`` it; the target
must then hold the previous complete run, or nothing / the complete new run — never a mixture.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png

import sinetune
from sinetune import SinetuneError, TrainOptions, TunerOptions
from sinetune.rundir import MANIFEST, PendingRun, check_run_dir, commit_run, sibling

TINY = TunerOptions(input_width=8, hidden_width=8, band_fraction=0.3)
CLI_TINY = ["--size", "16", "--quiet", "--device", "cpu", "--set", "input_width=8", "--set", "hidden_width=8",
            "--set", "band_fraction=0.3"]
#: Patches the child applies before ``sinetune.cli.main`` runs; ``phase`` picks one.
CHILD = r"""
import os, sys, time
import sinetune.rundir as rundir
import sinetune.runs as runs

def stop_here():
    open(flag, "w").close()
    time.sleep(120)

def after(function):
    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        stop_here()
        return result
    return wrapped

if phase == "training":  # stop after step `at`
    real_train = runs.train
    def train(*args, **kwargs):
        kwargs["on_step"] = lambda step, field: stop_here() if step == at else None
        return real_train(*args, **kwargs)
    runs.train = train
elif phase == "model":  # some files written, not all
    rundir.save_field = after(rundir.save_field)
elif phase == "manifest":  # every file and the manifest written, not yet renamed into place
    rundir.write_manifest = after(rundir.write_manifest)
elif phase == "exchanged":  # new run in place, old one not yet deleted
    rundir.exchange = after(rundir.exchange)
elif phase == "aside":  # no atomic exchange: old run renamed aside, new one not yet renamed in
    rundir.exchange = lambda first, second: False
    real_rename = os.rename
    def rename(source, destination):
        real_rename(source, destination)
        if ".sinetune-old-" in str(destination):
            stop_here()
    rundir.os.rename = rename
elif phase == "slow-writing":  # every figure takes a while: a kill at a random time lands mid-writing
    real_config = rundir.save_config
    def save_config(*args):
        open(flag, "w").close()
        real_config(*args)
    rundir.save_config = save_config
    for name in ("save_image", "save_error", "save_spectrum", "save_gradient", "save_curves"):
        real = getattr(rundir, name)
        setattr(rundir, name, lambda *args, _real=real: (time.sleep(0.15), _real(*args)))

from sinetune.cli import main
os._exit(main(argv))
"""


def _child(argv: list[str], flag: str, phase: str, at: int, cwd: str) -> None:
    """The body of a forked writer (modules already imported: starts in milliseconds)."""
    os.chdir(cwd)
    os.environ["SINETUNE_MALLOC"] = "system"
    sys.stdout = sys.stderr = open(os.devnull, "w")
    exec(CHILD, {"argv": argv, "flag": flag, "phase": phase, "at": at})


def _start(tmp_path: Path, image: Path, out: Path, phase: str, steps: int = 30, at: int = 0):
    flag = tmp_path / f"flag-{phase}"
    flag.unlink(missing_ok=True)
    argv = ["fit", str(image), "--out", str(out), "--overwrite", "--steps", str(steps), *CLI_TINY]
    child = multiprocessing.get_context("fork").Process(target=_child, args=(argv, str(flag), phase, at,
                                                                            str(tmp_path)))
    child.start()
    return child, flag


def _wait(child, flag: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not flag.exists():
        if not child.is_alive():
            raise AssertionError(f"the child ended ({child.exitcode}) before the fault point")
        assert time.monotonic() < deadline, "the child never reached the fault point"
        time.sleep(0.01)


def _kill(child) -> None:
    os.kill(child.pid, signal.SIGKILL)  # kill -9: no cleanup code runs
    child.join(timeout=30)
    assert child.exitcode == -signal.SIGKILL


def _snapshot(run_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(run_dir.iterdir())}


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A complete 7-step run (the 'previous' run the fault tests overwrite) and its image."""
    root = tmp_path_factory.mktemp("previous")
    image = write_png(root / "img.png", smooth_rgb(16, 16))
    sinetune.fit(str(image), "tuner", size=16, options=TINY, train_options=TrainOptions(steps=7), device="cpu",
                 out=root / "run")
    return root / "run", image


def _previous_at(tmp_path: Path, previous) -> tuple[Path, dict[str, bytes]]:
    target = tmp_path / "target"
    shutil.copytree(previous[0], target)
    return target, _snapshot(target)


def _assert_previous_or_new(target: Path, before: dict[str, bytes], allow_missing: bool = False) -> str:
    """The target holds exactly the previous run, or a complete new one (or, if allowed, nothing)."""
    if not target.exists():
        assert allow_missing, "the target disappeared"
        return "missing"
    check_run_dir(target)  # complete: manifest and every file it lists
    now = _snapshot(target)
    if now == before:
        return "previous"
    assert "steps: 30" in now["config.yaml"].decode(), "a complete run that is neither the old nor the new one"
    assert set(now) == set(before)
    return "new"


# --- fault injection --------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["training", "model", "manifest"])
def test_a_killed_fit_leaves_the_previous_run(tmp_path, previous, phase):
    target, before = _previous_at(tmp_path, previous)
    step = random.Random(f"kill-{phase}").randint(1, 29)  # where in training the kill lands
    child, flag = _start(tmp_path, previous[1], target, phase, at=step)
    _wait(child, flag)
    if phase == "training":  # the lock is held for the whole fit: a second writer fails at once
        started = time.monotonic()
        with pytest.raises(SinetuneError, match="another sinetune is writing"):
            PendingRun(target, overwrite=True)
        assert time.monotonic() - started < 1.0
    _kill(child)
    assert _assert_previous_or_new(target, before) == "previous"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".target.")]
    assert leftovers  # the dead writer's workdir (and lock file) ...
    with PendingRun(target, overwrite=True):  # ... are cleared by the next writer, the old run untouched
        pass
    # what is kept: the training checkpoint, to resume from (tests/test_resume.py)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".target.")] == [".target.sinetune-resume"]
    assert _snapshot(target) == before


def test_a_fit_killed_after_the_exchange_leaves_the_new_run(tmp_path, previous):
    target, before = _previous_at(tmp_path, previous)
    child, flag = _start(tmp_path, previous[1], target, "exchanged")
    _wait(child, flag)
    _kill(child)
    assert _assert_previous_or_new(target, before) == "new"
    with PendingRun(target, overwrite=True):  # the old run, left in a workdir, is deleted
        pass
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".target.")] == []


def test_an_interrupted_non_atomic_swap_is_repaired(tmp_path, previous):
    target, before = _previous_at(tmp_path, previous)
    child, flag = _start(tmp_path, previous[1], target, "aside")
    _wait(child, flag)
    _kill(child)
    assert _assert_previous_or_new(target, before, allow_missing=True) == "missing"
    with pytest.raises(SinetuneError, match="no such run directory"):
        sinetune.load_run(target)
    with PendingRun(target, overwrite=True):  # the next writer puts the previous run back first
        pass
    assert _snapshot(target) == before


def test_random_kills_while_writing(tmp_path, previous):
    target, before = _previous_at(tmp_path, previous)
    outcomes = set()
    for delay in random.Random(12).sample([0.05, 0.2, 0.35, 0.5, 0.65, 0.8], 3):
        child, flag = _start(tmp_path, previous[1], target, "slow-writing")
        _wait(child, flag)
        time.sleep(delay)
        _kill(child)
        outcomes.add(_assert_previous_or_new(target, before))
    assert outcomes <= {"previous", "new"}


def test_a_killed_first_fit_leaves_nothing(tmp_path, previous):
    target = tmp_path / "fresh"
    child, flag = _start(tmp_path, previous[1], target, "model")
    _wait(child, flag)
    _kill(child)
    assert not target.exists()


# --- locking, atomic writes, completeness -------------------------------------------------------


def test_second_writer_fails_at_once_and_the_first_finishes(tmp_path, rgb_image):
    target = tmp_path / "run"
    with PendingRun(target) as first:
        started = time.monotonic()
        with pytest.raises(SinetuneError, match="another sinetune is writing"):
            sinetune.fit(str(rgb_image), "tuner", size=16, options=TINY, train_options=TrainOptions(steps=2),
                         device="cpu", out=target)
        assert time.monotonic() - started < 5.0  # refused before training
        assert not target.exists()
        result = sinetune.fit(str(rgb_image), "tuner", size=16, options=TINY, train_options=TrainOptions(steps=2),
                              device="cpu")
        assert first.commit(lambda d: sinetune.runs.write_run(d, result, result.field(result.signal.coords())
                                                             .detach().numpy().reshape(16, 16, 3)))
    assert check_run_dir(target) == target
    assert not sibling(target, "lock").exists()


def test_a_failing_writer_leaves_nothing_and_releases_the_lock(tmp_path):
    target = tmp_path / "run"

    def broken(directory: Path) -> dict[str, Path]:
        (directory / "config.yaml").write_text("half")
        raise OSError(28, "No space left on device", str(directory / "model.safetensors"))

    with pytest.raises(SinetuneError, match="No space left on device"):
        commit_run(target, broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no target, no workdir, no lock file
    with PendingRun(target):  # the lock was released
        pass


def test_an_exception_during_training_releases_the_lock(tmp_path, rgb_image, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sinetune.runs, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sinetune.fit(str(rgb_image), "tuner", size=16, options=TINY, device="cpu", out=tmp_path / "run")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smooth.png"]
    sinetune.fit(str(rgb_image), "tuner", size=16, options=TINY, train_options=TrainOptions(steps=1), device="cpu",
                 out=tmp_path / "run")


def test_incomplete_runs_are_refused(tmp_path, previous, capsys):
    target, _ = _previous_at(tmp_path, previous)
    (target / MANIFEST).unlink()
    for argv in (["render", target], ["analyze", target]):
        code, _, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, "incomplete run")
    target, _ = _previous_at(tmp_path / "again", previous)
    with (target / "model.safetensors").open("r+b") as handle:  # half a checkpoint
        handle.truncate(100)
    with pytest.raises(SinetuneError, match="incomplete run .model.safetensors"):
        sinetune.load_run(target)
    (target / MANIFEST).write_text("{not json")
    with pytest.raises(SinetuneError, match="unreadable manifest"):
        sinetune.load_run(target)


# --- safe --overwrite ---------------------------------------------------------------------------


def test_overwrite_never_replaces_the_working_directory(tmp_path, rgb_image, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "precious.txt").write_text("mine")
    shutil.copy(rgb_image, work / "img.png")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for out in (".", "..", str(work), str(tmp_path)):
        code, _, err = run_cli(capsys, "fit", "img.png", "--out", out, "--overwrite", "--steps", 1, *CLI_TINY)
        assert_one_line_error(code, err, "refusing", "working directory")
    (tmp_path / "home").mkdir()
    code, _, err = run_cli(capsys, "fit", "img.png", "--out", tmp_path / "home", "--overwrite", "--steps", 1,
                           *CLI_TINY)
    assert_one_line_error(code, err, "home directory")
    assert sorted(p.name for p in work.iterdir()) == ["img.png", "precious.txt"]
    assert (work / "precious.txt").read_text() == "mine"


def test_overwrite_refuses_foreign_files_and_non_runs(tmp_path, previous, rgb_image):
    fit = dict(size=16, options=TINY, train_options=TrainOptions(steps=1), device="cpu", overwrite=True)
    target, before = _previous_at(tmp_path, previous)
    (target / "notes.txt").write_text("mine")
    with pytest.raises(SinetuneError, match="not part of the run.*notes.txt"):
        sinetune.fit(str(rgb_image), "tuner", out=target, **fit)
    assert (target / "notes.txt").read_text() == "mine"
    (target / "notes.txt").unlink()
    (target / "render-32x32.png").write_bytes(b"a render")  # sinetune's own derived files go with the run
    sinetune.fit(str(rgb_image), "tuner", out=target, **fit)
    assert not (target / "render-32x32.png").exists() and _snapshot(target) != before
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    with pytest.raises(SinetuneError, match="not one"):
        sinetune.fit(str(rgb_image), "tuner", out=folder, **fit)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(SinetuneError, match="symbolic link"):
        sinetune.fit(str(rgb_image), "tuner", out=link, **fit)
    assert [p.name for p in folder.iterdir()] == ["a.jpg"] and check_run_dir(target)


def test_default_run_dir_skips_a_directory_being_written(tmp_path):
    taken = tmp_path / "img-tuner"
    with PendingRun(taken):
        assert sinetune.runs.default_run_dir(tmp_path, "img", "tuner") == tmp_path / "img-tuner-2"
