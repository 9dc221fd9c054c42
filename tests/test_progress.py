"""Progress reporting (progress.py): what a piped, a quiet and a terminal run print, and in which order."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_cli, smooth_rgb, write_png

from sinetune.progress import Progress, duration_text

TINY = ("--steps", 6, "--device", "cpu", "--set", "input_width=16", "--set", "hidden_width=16",
        "--set", "band_fraction=0.3", "--set", "train.log_every=3")


def test_a_piped_fit_says_what_it_does_before_training_then_logs_steps_and_stages(tmp_path):
    image = write_png(tmp_path / "smooth.png", smooth_rgb(32, 32))
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "sinetune.cli", "fit", str(image), "--out", str(out),
                           *map(str, TINY)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SINETUNE_PROGRESS_SECONDS": "0"})
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    first = lines.index(f"fit tuner to smooth (32×32, 3 channels), 6 steps, full batch on cpu → {out}")
    derived = next(i for i, line in enumerate(lines) if line.startswith("derived: image kept at its own size 32×32"))
    steps = [i for i, line in enumerate(lines) if line.startswith("fit: step ")]
    assert first < derived < steps[0]  # the run directory and the derived choices come before training
    assert len(steps) == 6 and lines[steps[0]].startswith("fit: step 1/6 (16%), loss ")
    assert "ETA" in lines[steps[0]] and "s/step" in lines[steps[0]]
    assert "train PSNR" in lines[steps[2]] and "held-out PSNR" in lines[steps[2]]  # logged at step 3
    assert "(step 3)" in lines[steps[3]]  # step 4 shows the PSNR of the last logged step, and says so
    evaluating = next(i for i, line in enumerate(lines) if line.startswith("evaluating smooth"))
    writing = lines.index(f"writing {out} (weights, log, figures) …")
    assert steps[-1] < evaluating < writing
    assert "Traceback" not in done.stderr and f"run directory: {out}" in done.stdout


def test_quiet_prints_nothing_but_warnings_and_errors(tmp_path, capsys):
    image = write_png(tmp_path / "smooth.png", smooth_rgb(32, 32))
    code, out, err = run_cli(capsys, "fit", image, "--out", tmp_path / "run", "--quiet", *TINY)
    assert code == 0 and out == "" and err == ""
    code, out, err = run_cli(capsys, "fit", image, "--out", tmp_path / "run", "--quiet", *TINY)
    assert code == 2 and out == "" and err.startswith("sinetune: error:")  # errors still appear


def test_fit_many_reports_its_groups_and_each_signal(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SINETUNE_PROGRESS_SECONDS", "1000")
    for index in range(3):
        write_png(tmp_path / f"im{index}.png", np.roll(smooth_rgb(32, 32), 3 * index, axis=1))
    code, out, err = run_cli(capsys, "fit-many", *(tmp_path / f"im{i}.png" for i in range(3)), "--group", 2,
                             "--out", tmp_path / "runs", *TINY)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == f"fit-many: 3 signals in 2 groups of at most 2 → {tmp_path / 'runs'}/NAME"
    assert lines[1].startswith("derived (im0): image kept at its own size 32×32; TUNER ") and "band-limit" in lines[1]
    assert lines[2].startswith("group 1/2: fit tuner to 2 × im0 … im1 (32×32, 3 channels), 6 steps")
    steps = [line for line in lines if line.startswith("fit: step ")]
    assert [line.split(" (")[0] for line in steps] == ["fit: step 1/6", "fit: step 6/6"] * 2  # first and last
    assert "2 signals active" in steps[0] and "1 signals active" in steps[2]
    assert sum(line.startswith("writing ") for line in lines) == 3 and "im2" in out
    code, out, err = run_cli(capsys, "fit-many", tmp_path / "im0.png", "--out", tmp_path / "q", "--quiet", *TINY)
    assert code == 0 and out == "" and err == ""


def test_steps_off_a_terminal_log_the_first_the_last_and_a_stopped_step():
    stream = io.StringIO()
    progress = Progress(stream=stream, interval=1e9, terminal=False)
    steps = progress.steps(100)
    for step in range(1, 40):
        steps.update(step, 0.5, *((20.0, float("nan")) if step % 10 == 0 else (None, None)))
    steps.close()  # stopped early at step 39: its line is still written
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines[:2]] == ["fit: step 1/100", "fit: step 39/100"]
    assert "train PSNR 20.00 dB (step 30)" in lines[1] and "held-out" not in lines[1]
    assert lines[2].startswith("fit: 39 steps in ")


def test_a_terminal_gets_a_bar_and_quiet_gets_nothing():
    stream = io.StringIO()
    steps = Progress(stream=stream, terminal=True).steps(5)
    for step in range(1, 6):
        steps.update(step, 0.1, 30.0, 29.0)
    steps.close()
    assert "fit:   0%|" in stream.getvalue() and "fit: step" not in stream.getvalue()  # a bar, no log lines
    quiet = io.StringIO()
    silent = Progress(quiet=True, stream=quiet)
    silent.note("x")
    silent.stage("y")
    silent.steps(3).update(1, 0.1)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (42, "42 s"), (185, "3 min 05 s"), (3720, "1 h 02 min"),
                                           (float("inf"), "?")])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text
