"""Resuming interrupted fits (train_state.py, resume.py, issue #12): bit-exact on the CPU.

Interruptions are injected three ways — an exception right after the k-th checkpoint save (in
process), ``kill -9`` of a forked ``sinetune fit`` at seeded random steps and after seeded random
delays (so some kills land while a checkpoint is being written), and SIGINT (Ctrl-C) — and the
resumed run directory must equal the uninterrupted one: every tensor of ``model.safetensors``, the
log and the metrics, timings aside.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png
from safetensors.torch import load_file

import sinetune
import sinetune.cli
import sinetune.train_state as train_state
from sinetune import SinetuneError, TrainOptions, TunerOptions
from sinetune.config import RunConfig, SignalConfig
from sinetune.many import fit_many
from sinetune.methods import SirenOptions
from sinetune.resume import resume_fit
from sinetune.rundir import resume_path

TINY = TunerOptions(input_width=8, hidden_width=8, band_fraction=0.3)
CLI_TINY = ["--size", "16", "--device", "cpu", "--set", "input_width=8", "--set", "hidden_width=8",
            "--set", "band_fraction=0.3", "--set", "train.log_every=2"]
TIMING = {"seconds_per_step_median", "train_seconds"}


class Crash(Exception):
    """Stands for a crash right after a checkpoint reached the disk."""


def crash_after_saves(monkeypatch, count: int) -> None:
    """Make the ``count``-th checkpoint save (counting from 1) raise :class:`Crash` once it is written."""
    real_save, saves = train_state.Checkpointer.save, []

    def save(self, *args, **kwargs):
        real_save(self, *args, **kwargs)
        saves.append(args[0])
        if len(saves) == count:
            raise Crash(f"after saving step {args[0]}")

    monkeypatch.setattr(train_state.Checkpointer, "save", save)


def same_run(first: Path, second: Path) -> None:
    """Two run directories hold the same fit: equal tensors, log (but times) and metrics (but timings)."""
    a, b = load_file(str(first / "model.safetensors")), load_file(str(second / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name

    def log(path):
        return [line.split(",")[:-1] for line in (path / "log.csv").read_text().splitlines()]

    assert log(first) == log(second)
    metrics = [{k: v for k, v in json.loads((path / "metrics.json").read_text()).items() if k not in TIMING}
               for path in (first, second)]
    assert metrics[0] == metrics[1]
    assert (first / "config.yaml").read_text() == (second / "config.yaml").read_text()


CASES = {
    "full-batch": dict(method="tuner", options=TINY, train=TrainOptions(steps=24, log_every=4, checkpoint_every=5)),
    "mini-batch, keep_best": dict(method="tuner", options=TINY, train=TrainOptions(
        steps=24, log_every=3, batch_size=64, keep_best=True, checkpoint_every=4)),
    "siren, held-out stop": dict(method="siren", options=SirenOptions(hidden_width=8, hidden_layers=1),
                                 train=TrainOptions(steps=40, log_every=2, stop_psnr=12.0, checkpoint_every=3)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("saves", [1, 3])
def test_resume_after_a_crash_equals_the_uninterrupted_fit(tmp_path, rgb_image, monkeypatch, case, saves):
    spec = CASES[case]
    config = RunConfig(signal=SignalConfig(path=str(rgb_image), size=16), method=spec["method"],
                       options=spec["options"], train=spec["train"], seed=5, holdout=0.1, device="cpu")
    sinetune.run(config, out=tmp_path / "reference")
    assert not resume_path(tmp_path / "reference").exists()  # deleted with success
    with monkeypatch.context() as patch:
        crash_after_saves(patch, saves)  # save 1 is step 0, save k is step (k-1)·checkpoint_every
        with pytest.raises(Crash):
            sinetune.run(config, out=tmp_path / "resumed")
    assert not (tmp_path / "resumed").exists() and resume_path(tmp_path / "resumed").is_file()
    result = resume_fit(tmp_path / "resumed")
    assert result.run_dir == tmp_path / "resumed" and not resume_path(tmp_path / "resumed").exists()
    same_run(tmp_path / "reference", tmp_path / "resumed")


#: Run in a forked child before ``sinetune.cli.main``: stop (flag file, then sleep) after step ``at``.
CHILD = r"""
import time
import sinetune.runs as runs

if at > 0:
    real_train = runs.train
    def train(*args, **kwargs):
        def on_step(step, field):
            if step == at:
                open(flag, "w").close()
                time.sleep(120)
        kwargs["on_step"] = on_step
        return real_train(*args, **kwargs)
    runs.train = train
import sinetune.cli
sys.exit(sinetune.cli.main(argv))
"""


def _child(argv: list[str], flag: str, at: int, cwd: str) -> None:
    os.chdir(cwd)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    exec(CHILD, {"argv": argv, "flag": flag, "at": at, "sys": sys})


def _fork(tmp_path: Path, argv: list[str], at: int = 0) -> tuple[multiprocessing.Process, Path]:
    flag = tmp_path / f"flag-{at}"
    child = multiprocessing.get_context("fork").Process(target=_child, args=(argv, str(flag), at, str(tmp_path)))
    child.start()
    return child, flag


def _wait_for(path: Path, child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert child.is_alive(), f"the child ended ({child.exitcode}) too early"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def test_kill_9_at_random_points_then_resume_is_bit_exact(tmp_path, rgb_image, capsys):
    steps = 30
    argv = ["fit", str(rgb_image), "--steps", str(steps), "--quiet", *CLI_TINY, "--set", "train.checkpoint_every=3"]
    assert run_cli(capsys, *argv, "--out", tmp_path / "reference")[0] == 0
    draw = random.Random(12)
    kills = [("step", draw.randrange(1, steps)) for _ in range(3)] + [("time", draw.uniform(0, 0.4)) for _ in range(3)]
    for index, (kind, when) in enumerate(kills):
        out = tmp_path / f"killed-{index}"
        child, flag = _fork(tmp_path, [*argv, "--out", str(out)], at=when if kind == "step" else 0)
        if kind == "step":  # killed in the middle of training, right after step `when`
            _wait_for(flag, child)
        else:  # killed at a random moment after the first checkpoint (maybe while one is written)
            _wait_for(resume_path(out), child)
            time.sleep(when)
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
        if child.exitcode == 0:  # it had finished: the run must be complete and right
            same_run(tmp_path / "reference", out)
            continue
        assert child.exitcode == -signal.SIGKILL
        assert not out.exists(), "a killed fit leaves no run directory"
        code, stdout, err = run_cli(capsys, "fit", "--resume", out)
        assert code == 0, err
        assert f"run directory: {out}" in stdout and "resuming the fit of" in err
        same_run(tmp_path / "reference", out)
        assert not resume_path(out).exists()


def test_ctrl_c_saves_and_prints_how_to_resume(tmp_path, rgb_image, capsys):
    argv = ["fit", str(rgb_image), "--steps", "30", "--quiet", *CLI_TINY, "--set", "train.checkpoint_every=1000"]
    assert run_cli(capsys, *argv, "--out", tmp_path / "reference")[0] == 0
    out = tmp_path / "interrupted"
    log = tmp_path / "stderr.txt"
    script = (f"import sys, time, sinetune.runs as runs\n"
              f"real = runs.train\n"
              f"def train(*a, **k):\n"
              f"    k['on_step'] = lambda step, field: (open({str(tmp_path / 'go')!r}, 'w').close(), time.sleep(0.5))"
              f" if step == 11 else None\n"
              f"    return real(*a, **k)\n"
              f"runs.train = train\n"
              f"import sinetune.cli\nsys.exit(sinetune.cli.main({[*argv, '--out', str(out)]!r}))\n")
    import subprocess

    with log.open("w") as stderr:
        child = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stderr=stderr,
                                 stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not (tmp_path / "go").exists():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)  # during step 11: the loop finishes it, saves, and stops
        assert child.wait(timeout=60) == 130
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in log.read_text()
    assert "after step 11 of 30" in lines[0] and f"sinetune fit --resume {out}" in lines[0]
    assert not out.exists() and resume_path(out).is_file()
    assert run_cli(capsys, "fit", "--resume", out, "--quiet")[0] == 0
    same_run(tmp_path / "reference", out)


def test_fit_many_resume_keeps_finished_runs_and_resumes_the_group(tmp_path, monkeypatch):
    base = smooth_rgb(16, 16)
    images = [write_png(tmp_path / f"{name}.png", np.ascontiguousarray(array))
              for name, array in (("a", base), ("b", base[:, ::-1]), ("c", base[::-1]))]
    arguments = dict(options=TINY, size=None, device="cpu", group_size=2, seed=1,
                     train_options=TrainOptions(steps=12, log_every=3, checkpoint_every=4))
    fit_many(images, out=tmp_path / "reference", **arguments)
    with monkeypatch.context() as patch:  # group 1 (a, b) finishes; group 2 (c) crashes after step 4
        crash_after_saves(patch, 4 + 2)  # saves: a+b at 0, 4, 8, 12; c at 0, 4
        with pytest.raises(Crash):
            fit_many(images, out=tmp_path / "resumed", **arguments)
    assert check_complete(tmp_path / "resumed" / "a") and check_complete(tmp_path / "resumed" / "b")
    assert not (tmp_path / "resumed" / "c").exists() and resume_path(tmp_path / "resumed" / "c").is_file()
    before = (tmp_path / "resumed" / "a" / "model.safetensors").stat().st_mtime_ns
    with pytest.raises(SinetuneError, match="--resume"):  # a plain re-run does not throw the progress away
        fit_many(images, out=tmp_path / "resumed", **arguments)
    results = fit_many(images, out=tmp_path / "resumed", resume=True, **arguments)
    assert [r.signal.name for r in results] == ["a", "b", "c"]
    assert (tmp_path / "resumed" / "a" / "model.safetensors").stat().st_mtime_ns == before  # read back, not refit
    for name in "abc":
        same_run(tmp_path / "reference" / name, tmp_path / "resumed" / name)
    assert results[0].metrics["heldout_psnr"] == pytest.approx(json.loads(
        (tmp_path / "reference" / "a" / "metrics.json").read_text())["heldout_psnr"])


def check_complete(path: Path) -> bool:
    from sinetune.rundir import check_run_dir

    return check_run_dir(path) == path


def test_what_resume_refuses(tmp_path, rgb_image, capsys, monkeypatch):
    argv = ["fit", str(rgb_image), "--steps", "6", "--quiet", *CLI_TINY]
    out = tmp_path / "run"
    assert_one_line_error(*run_cli(capsys, "fit", "--resume", out)[::2], "nothing to resume")
    with monkeypatch.context() as patch:
        crash_after_saves(patch, 1)
        with pytest.raises(Crash):
            sinetune.cli.main([*argv, "--out", str(out)])
    # a new fit into it would lose the interrupted one's progress; flags cannot change a resumed fit
    assert_one_line_error(*run_cli(capsys, *argv, "--out", out)[::2], "can be resumed", "--resume")
    assert_one_line_error(*run_cli(capsys, "fit", "--resume", out, "--steps", "9")[::2], "--steps")
    assert_one_line_error(*run_cli(capsys, "fit", "--resume", out, "--set", "lr=1")[::2], "--set")
    # the image changed since: refused, checkpoint kept
    write_png(rgb_image, smooth_rgb(32, 32)[::-1].copy())
    assert_one_line_error(*run_cli(capsys, "fit", "--resume", out)[::2], "changed")
    assert resume_path(out).is_file()
    # a corrupt checkpoint: one line
    saved = resume_path(out).read_bytes()
    resume_path(out).write_bytes(saved[: len(saved) // 2])
    assert_one_line_error(*run_cli(capsys, "fit", "--resume", out)[::2], "unreadable")
    # --overwrite starts over; success deletes the checkpoint
    assert run_cli(capsys, *argv, "--out", out, "--overwrite")[0] == 0
    assert not resume_path(out).exists()
    assert_one_line_error(*run_cli(capsys, "fit", "--resume", out)[::2], "nothing to resume")


def test_a_checkpoint_left_by_a_completed_run_is_stale(tmp_path, rgb_image, capsys):
    argv = ["fit", str(rgb_image), "--steps", "4", "--quiet", *CLI_TINY, "--out", tmp_path / "run"]
    assert run_cli(capsys, *argv)[0] == 0
    resume_path(tmp_path / "run").write_bytes(b"left behind by a kill between the swap and the delete")
    os.utime(resume_path(tmp_path / "run"), ns=(1, 1))
    assert_one_line_error(*run_cli(capsys, "fit", "--resume", tmp_path / "run")[::2], "complete run")
    assert not resume_path(tmp_path / "run").exists()


def test_checkpoint_options_are_validated():
    with pytest.raises(SinetuneError, match="checkpoint_every"):
        TrainOptions(checkpoint_every=0).validate()
    with pytest.raises(SinetuneError, match="checkpoint_seconds"):
        TrainOptions(checkpoint_seconds=-1.0).validate()


def test_checkpoints_follow_the_schedule(tmp_path, rgb_image, monkeypatch):
    saved: list[int] = []
    real_save = train_state.Checkpointer.save
    monkeypatch.setattr(train_state.Checkpointer, "save",
                        lambda self, step, *rest: (saved.append(step), real_save(self, step, *rest)))
    sinetune.fit(str(rgb_image), size=16, options=TINY, device="cpu", out=tmp_path / "run",
                 train_options=TrainOptions(steps=10, checkpoint_every=4, checkpoint_seconds=None))
    assert saved == [0, 4, 8, 10]
    saved.clear()
    sinetune.fit(str(rgb_image), size=16, options=TINY, device="cpu", out=None,
                 train_options=TrainOptions(steps=10, checkpoint_every=4))
    assert saved == []  # nothing written, nothing saved
