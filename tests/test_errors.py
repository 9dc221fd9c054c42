"""Every error one line, exit 2, before work is wasted (issue #12): output folders, render paths,
seeds, divergence, EXIF orientation, empty configs and a missing SIGNAL."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png
from PIL import Image

import sinetune
import sinetune.evaluation
import sinetune.runs
from sinetune import SinetuneError, TrainOptions, TunerOptions, load_image
from sinetune.divergence import DIVERGENCE_FACTOR, divergence_reason, is_diverged, start_reference

TINY = ["--size", "16", "--steps", "3", "--quiet", "--device", "cpu", "--set", "input_width=8",
        "--set", "hidden_width=8", "--set", "band_fraction=0.3"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SINETUNE_MALLOC", "system")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def no_training(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("training started before the output folder was checked")

    monkeypatch.setattr(sinetune.runs, "train", never)


def test_an_unusable_output_folder_fails_before_training(tmp_path, rgb_image, capsys, no_training):
    (tmp_path / "a-file").write_text("x")
    code, _, err = run_cli(capsys, "fit", rgb_image, "--out", tmp_path / "a-file" / "run", *TINY)
    assert_one_line_error(code, err, "cannot create the parent", "a-file")
    code, _, err = run_cli(capsys, "fit", rgb_image, "--out", tmp_path / "a-file", *TINY)
    assert_one_line_error(code, err, "not a directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_fails_before_training(tmp_path, rgb_image, capsys, no_training):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = run_cli(capsys, "fit", rgb_image, "--out", locked / "run", *TINY)
        assert_one_line_error(code, err, "cannot write in", "Permission denied")
    finally:
        locked.chmod(0o700)


def test_render_output_paths_are_checked(fitted_run, tmp_path, capsys):
    _, run_dir, _ = fitted_run
    for out, fragment in ((tmp_path / "x.xyz", "another extension"), (tmp_path / "none" / "x.png", "no such directory"),
                          (tmp_path, "another extension")):
        code, _, err = run_cli(capsys, "render", run_dir, "--out", out)
        assert_one_line_error(code, err, fragment)
    (tmp_path / "folder.png").mkdir()
    code, _, err = run_cli(capsys, "render", run_dir, "--out", tmp_path / "folder.png")
    assert_one_line_error(code, err, "is a directory")
    assert run_cli(capsys, "render", run_dir, "--out", tmp_path / "x.tif")[0] == 0


@pytest.mark.parametrize("seed", [-1, 2**64, 10**30])
def test_out_of_range_seeds(rgb_image, capsys, seed, tmp_path):
    code, _, err = run_cli(capsys, "fit", rgb_image, "--seed", seed, *TINY)
    assert_one_line_error(code, err, "seed must be between 0 and 2^64 - 1")
    (tmp_path / "c.yaml").write_text(f"signal: {{path: {rgb_image}}}\nseed: {seed}\n")
    code, _, err = run_cli(capsys, "fit", "--config", tmp_path / "c.yaml", *TINY)
    assert_one_line_error(code, err, "seed must be between")
    with pytest.raises(SinetuneError, match="seed must be between"):
        sinetune.fit(str(rgb_image), "tuner", size=16, seed=seed, device="cpu")


def test_the_largest_seed_works(rgb_image):
    result = sinetune.fit(str(rgb_image), "tuner", size=None, options=TunerOptions(input_width=8, hidden_width=8),
                          train_options=TrainOptions(steps=1), seed=2**64 - 1, device="cpu")
    assert result.config.seed == 2**64 - 1


# --- divergence ---------------------------------------------------------------------------------


def test_the_divergence_rule():
    assert not is_diverged(0.3, 0.3 * DIVERGENCE_FACTOR) and is_diverged(0.3, 0.31 * DIVERGENCE_FACTOR)
    assert is_diverged(0.3, math.inf) and is_diverged(0.3, math.nan) and not is_diverged(math.nan, 5.0)
    assert start_reference(200.0, 0.3) == 0.3 and start_reference(0.1, 0.3) == 0.1
    rows = [{"step": 10, "loss": 0.2}, {"step": 20, "loss": 0.05}]
    assert divergence_reason(rows, 0.3) is None
    assert "non-finite" in divergence_reason(rows, 0.3, nonfinite=True)
    assert "at step 20" in divergence_reason([rows[0], {"step": 20, "loss": 400.0}, rows[1]], 0.3)
    assert "ended at 5" in divergence_reason([rows[0], {"step": 20, "loss": 5.0}], 0.3)


def test_a_diverged_fit_says_so(tmp_path, capsys):
    image = write_png(tmp_path / "img.png", smooth_rgb(32, 32))
    code, out, err = run_cli(capsys, "fit", image, "--size", 32, "--lr", 10, "--steps", 40, "--quiet", "--device",
                             "cpu", "--set", "input_width=16", "--set", "hidden_width=16", "--out", "lr10")
    assert code == 0
    metrics = json.loads((tmp_path / "lr10" / "metrics.json").read_text())
    assert metrics["diverged"] is True and "lower the learning rate" in metrics["divergence"]
    assert err.strip().splitlines() == [f"sinetune: warning: {metrics['divergence']}"]
    good = run_cli(capsys, "fit", image, *TINY, "--out", "good")
    assert good[0] == 0 and "warning" not in good[2]
    assert json.loads((tmp_path / "good" / "metrics.json").read_text())["diverged"] is False


def test_printed_metrics_match_metrics_json(rgb_image, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sinetune.evaluation, "gradient_psnr_of_magnitude", lambda *args, **kwargs: math.inf)
    code, out, _ = run_cli(capsys, "fit", rgb_image, *[a for a in TINY if a != "--quiet"], "--out", "inf")
    assert code == 0 and "gradient PSNR n/a" in out and "inf dB" not in out
    assert json.loads((tmp_path / "inf" / "metrics.json").read_text())["gradient_psnr"] is None


# --- inputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_exif_orientation_is_honoured(tmp_path, suffix):
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[0, 0] = 255  # a white pixel at the stored top-left
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(tmp_path / f"photo{suffix}", exif=exif.tobytes())
    values = load_image(tmp_path / f"photo{suffix}").values
    assert values.shape == (6, 4, 3)
    assert np.argwhere(values[..., 0] > 0.5).tolist() == np.argwhere(np.rot90(pixels, -1)[..., 0] > 0).tolist()


def test_an_empty_config_or_a_missing_signal_is_an_error(tmp_path, capsys, no_training):
    (tmp_path / "empty.yaml").write_text("")
    code, _, err = run_cli(capsys, "fit", "--config", tmp_path / "empty.yaml")
    assert_one_line_error(code, err, "is empty")
    (tmp_path / "nosignal.yaml").write_text("seed: 1\n")
    code, _, err = run_cli(capsys, "fit", "--config", tmp_path / "nosignal.yaml")
    assert_one_line_error(code, err, "no signal.path", "SIGNAL")


def test_fit_without_arguments_still_fits_the_demo(capsys, monkeypatch):
    seen = {}

    def capture(config, **kwargs):
        seen["config"] = config
        raise SinetuneError("stop here")

    monkeypatch.setattr(sinetune.runs, "run", capture)
    code, _, _ = run_cli(capsys, "fit")
    assert code == 2 and seen["config"].signal.path == "astronaut"
