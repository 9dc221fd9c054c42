"""Inverse tasks (sinetune.tasks): corruptions by seed, clean_psnr, masks, superres at k×, the denoise stop rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png
from PIL import Image

from sinetune import TrainOptions, TunerOptions
from sinetune.config import RunConfig, config_from_dict, config_to_dict, load_config
from sinetune.errors import SinetuneError
from sinetune.methods import SirenOptions
from sinetune.metrics import AUDIO_DATA_RANGE, psnr
from sinetune.render import render_field
from sinetune.runs import fit, run
from sinetune.signals import Signal, load_audio, load_image
from sinetune.tasks import TaskOptions, prepare_task

ROOT = Path(__file__).resolve().parents[1]
SMALL = SirenOptions(input_width=16, hidden_width=16)


def image_signal(height: int = 32, width: int = 32) -> Signal:
    return Signal(values=smooth_rgb(height, width).astype(np.float32) / 255.0, name="smooth")


def tiny_run(task: TaskOptions, signal: Signal | None = None, steps: int = 10, out=None, **train) -> object:
    config = RunConfig(method="siren", options=SMALL, train=TrainOptions(steps=steps, log_every=5, **train),
                       holdout=0.0, device="cpu", task=task)
    return run(config, out=out, signal=signal or image_signal())


@pytest.mark.parametrize("task", [TaskOptions(task="denoise", noise=0.1), TaskOptions(task="denoise", snr=10.0),
                                  TaskOptions(task="inpaint", mask_fraction=0.3),
                                  TaskOptions(task="inpaint", mask_fraction=0.3, mask_pattern="boxes")])
def test_corruption_is_reproducible_by_seed(task):
    signal = image_signal()
    first, again = prepare_task(task, signal), prepare_task(task, signal)
    other = prepare_task(replace(task, seed=1), signal)
    assert np.array_equal(first.signal.values, again.signal.values)
    assert not np.array_equal(first.signal.values, other.signal.values)
    assert np.array_equal(first.clean.values, signal.values)  # the clean signal is kept, untouched


@pytest.mark.parametrize("fill", [0, 255])
def test_mask_covering_nothing_or_everything_is_one_error(tmp_path, capsys, fill):
    image = write_png(tmp_path / "smooth.png", smooth_rgb(16, 16))
    mask = write_png(tmp_path / "mask.png", np.full((16, 16), fill, dtype=np.uint8))
    code, _, err = run_cli(capsys, "fit", image, "--method", "siren", "--task", "inpaint", "--mask", mask,
                           "--steps", "1", "--out", tmp_path / "run")
    assert_one_line_error(code, err, "no sample missing" if fill == 0 else "all 256 samples missing")
    assert not (tmp_path / "run").exists()


def test_cli_exit_2_in_a_subprocess(tmp_path):
    image = write_png(tmp_path / "smooth.png", smooth_rgb(16, 16))
    mask = write_png(tmp_path / "mask.png", np.full((16, 16), 255, dtype=np.uint8))
    done = subprocess.run([sys.executable, "-m", "sinetune.cli", "fit", str(image), "--task", "inpaint", "--mask",
                           str(mask), "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["sinetune: error: the inpainting mask marks all 256 samples missing: "
                                                "nothing left to fit"]


@pytest.mark.parametrize("options, message", [
    (TaskOptions(noise=0.1), "--noise does not apply to --task fit"),
    (TaskOptions(task="superres", factor=2, noise=0.1), "--noise does not apply"),
    (TaskOptions(task="denoise", noise=0.1, snr=20.0), "either --noise or --snr"),
    (TaskOptions(task="inpaint"), "needs --mask FILE or --mask-fraction"),
    (TaskOptions(task="inpaint", mask_fraction=1.0), "mask_fraction must be in (0, 1)"),
    (TaskOptions(task="superres"), "needs --factor K"),
    (TaskOptions(task="denoise", noise=-1.0), "positive standard deviation"),
])
def test_bad_task_options_are_one_line_errors(options, message):
    with pytest.raises(SinetuneError) as error:
        options.validate()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_task_section_round_trips_through_yaml():
    config = RunConfig(task=TaskOptions(task="inpaint", mask_fraction=0.5, mask_pattern="boxes", seed=4))
    data = yaml.safe_load(yaml.safe_dump(config_to_dict(config)))
    assert data["task"]["mask_pattern"] == "boxes"
    assert config_from_dict(data) == config
    assert config_from_dict({"task": {"task": "denoise", "noise": 1}}).task.noise == 1.0  # an int where a float is
    with pytest.raises(SinetuneError, match="unknown key.*'task'"):
        config_from_dict({"task": {"sigma": 0.1}})


def test_denoise_clean_psnr_is_written_and_correct(tmp_path):
    signal = image_signal()
    result = tiny_run(TaskOptions(task="denoise", noise=0.1, stop_factor=None), signal, out=tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    prediction = render_field(result.field, signal.grid_shape)
    assert metrics["clean_psnr"] == pytest.approx(psnr(prediction, signal.values), abs=1e-6)
    assert metrics["noise_sigma"] == 0.1 and metrics["noise_sigma_estimate"] == pytest.approx(0.1, rel=0.3)
    noisy = prepare_task(result.config.task, signal).signal.values
    assert metrics["train_psnr"] == pytest.approx(psnr(prediction, noisy), abs=1e-6)  # trained on the noisy input
    assert (tmp_path / "run" / "input.png").is_file()
    rerun = load_config(tmp_path / "run" / "config.yaml")
    assert rerun.task == result.config.task  # the run's config reproduces the corruption


def test_without_corruption_nothing_clean_is_scored():
    result = tiny_run(TaskOptions(task="denoise"), steps=5)
    assert result.metrics["task"] == "denoise" and result.metrics["clean_psnr"] is None
    assert result.metrics["noise_sigma"] is None and result.metrics["noise_sigma_estimate"] > 0


def test_inpaint_scores_inside_the_mask_and_never_trains_there():
    signal = image_signal()
    result = tiny_run(TaskOptions(task="inpaint", mask_fraction=0.5))
    missing = prepare_task(result.config.task, signal).missing
    assert result.heldout[missing].all()  # missing samples are in the not-trained mask
    prediction = render_field(result.field, signal.grid_shape).reshape(-1, 3)
    clean = signal.values.reshape(-1, 3)
    assert result.metrics["missing_count"] == missing.sum() == 512
    assert result.metrics["clean_psnr"] == pytest.approx(psnr(prediction[missing], clean[missing]), abs=1e-6)
    assert result.metrics["clean_psnr_full"] == pytest.approx(psnr(prediction, clean), abs=1e-6)
    assert result.metrics["heldout_psnr"] is None and result.metrics["heldout_count"] == 0
    assert result.metrics["train_psnr"] == pytest.approx(psnr(prediction[~missing], clean[~missing]), abs=1e-6)


def test_superres_renders_at_k_times_and_scores_the_original(tmp_path):
    signal = image_signal(24, 32)
    result = tiny_run(TaskOptions(task="superres", factor=2), signal, out=tmp_path / "run")
    assert result.signal.grid_shape == (12, 16)  # fitted at low resolution
    with Image.open(tmp_path / "run" / "reconstruction_x2.png") as image:
        assert image.size == (32, 24)
    assert "reconstruction_x2.png" in (tmp_path / "run" / "report.html").read_text()
    assert result.metrics["factor"] == 2 and np.isfinite(result.metrics["clean_psnr"])
    assert result.config.signal.size == 32  # the run records the original's size


def test_denoise_stop_rule_fires_and_is_recorded():
    # a threshold far above any MSE: the rule stops at the first log step
    result = tiny_run(TaskOptions(task="denoise", noise=0.1, stop_factor=1e4), steps=50)
    assert result.metrics["stopped_early"] == "mse" and result.metrics["steps"] == 5
    assert result.config.train.stop_mse == pytest.approx(1e4 * result.metrics["noise_sigma_estimate"] ** 2)
    stale = replace(result.config, task=replace(result.config.task, stop_factor=2.0))  # a saved config, re-run
    again = run(stale, signal=image_signal())
    assert again.config.train.stop_mse == pytest.approx(2.0 * again.metrics["noise_sigma_estimate"] ** 2)
    unbounded = tiny_run(TaskOptions(task="denoise", noise=0.1, stop_factor=None), steps=10)
    assert unbounded.metrics["stopped_early"] is None and unbounded.metrics["steps"] == 10


def test_audio_denoise_at_an_snr_and_a_gap(tmp_path):
    rate = 8000
    t = np.arange(2000) / rate
    path = tmp_path / "tone.wav"
    soundfile.write(path, 0.5 * np.sin(2 * np.pi * 220 * t), rate)
    signal = load_audio(path)
    task = prepare_task(TaskOptions(task="denoise", snr=20.0), signal)
    noise = task.signal.values - signal.values
    assert 10 * np.log10(np.sum(signal.values ** 2) / np.sum(noise ** 2)) == pytest.approx(20.0, abs=0.3)
    low = prepare_task(TaskOptions(task="superres", factor=2), signal).signal
    assert low.grid_shape == (1000,) and low.sample_rate == rate // 2  # the same clip at half the rate
    config = RunConfig(method="siren", options=SirenOptions(input_width=16, hidden_width=16, first_omega=3000.0),
                       train=TrainOptions(steps=5), holdout=0.0, device="cpu",
                       task=TaskOptions(task="inpaint", mask_fraction=0.1, mask_pattern="boxes", box_size=0.05))
    result = run(config, signal=signal)
    missing = prepare_task(config.task, signal).missing
    prediction = render_field(result.field, signal.grid_shape).reshape(-1, 1)
    assert result.metrics["clean_psnr"] == pytest.approx(
        psnr(prediction[missing], signal.values[missing], AUDIO_DATA_RANGE), abs=1e-6)


def test_fit_cli_task_flags(tmp_path, capsys):
    image = write_png(tmp_path / "smooth.png", smooth_rgb(32, 32))
    code, out, _ = run_cli(capsys, "fit", image, "--method", "siren", "--set", "input_width=16", "--set",
                           "hidden_width=16", "--task", "denoise", "--noise", "0.05", "--steps", "3", "--out",
                           tmp_path / "run")
    assert code == 0 and "denoise: clean PSNR" in out
    assert load_config(tmp_path / "run" / "config.yaml").task == TaskOptions(task="denoise", noise=0.05)
    code, _, err = run_cli(capsys, "fit", image, "--noise", "0.1", "--steps", "1", "--out", tmp_path / "other")
    assert_one_line_error(code, err, "--noise does not apply to --task fit")
    code, _, err = run_cli(capsys, "fit-many", image, "--set", "task.task=denoise", "--steps", "1")
    assert_one_line_error(code, err, "fit-many fits signals as they are")


def test_the_api_fit_takes_a_task_and_defaults_to_none(rgb_image):
    result = fit(str(rgb_image), "tuner", size=None, options=TunerOptions(input_width=16, hidden_width=16,
                                                                         band_fraction=0.3),
                 train_options=TrainOptions(steps=2), device="cpu")
    assert result.config.task == TaskOptions() and "clean_psnr" not in result.metrics
    task = TaskOptions(task="superres", factor=2)
    result = fit(str(rgb_image), "siren", options=SMALL, train_options=TrainOptions(steps=2), device="cpu", task=task)
    assert result.config.task == task and result.signal.grid_shape == (16, 16) and "clean_psnr" in result.metrics


def test_superres_of_a_loaded_image_file(rgb_image):
    # a loaded 32² file, downsampled ×4 to the 8² grid that is fitted
    signal = load_image(rgb_image)
    assert prepare_task(TaskOptions(task="superres", factor=4), signal).signal.grid_shape == (8, 8)


def test_an_already_corrupted_input_is_fitted_as_it_is(tmp_path):
    signal = image_signal(16, 16)
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:8, 4:8] = True
    np.save(tmp_path / "holes.npy", mask)
    task = prepare_task(TaskOptions(task="inpaint", mask=str(tmp_path / "holes.npy"), corrupted=True), signal)
    assert task.clean is None and task.missing.sum() == 16
    assert np.array_equal(task.signal.values.reshape(-1, 3)[~task.missing], signal.values.reshape(-1, 3)[~mask.ravel()])
    low = prepare_task(TaskOptions(task="superres", factor=2, corrupted=True), signal)
    assert low.clean is None and low.signal.grid_shape == (16, 16)  # the input is the low-resolution grid
    with pytest.raises(SinetuneError, match="takes no --noise"):
        TaskOptions(task="denoise", noise=0.1, corrupted=True).validate()


def test_superres_gives_tuner_its_depth_recipe_only_when_the_depth_is_unset():
    from sinetune.runs import derived_text, prepare_fit
    from sinetune.tasks import TASK_DEPTH

    def options_of(task: TaskOptions, **given) -> tuple[TunerOptions, str]:
        shape = {"input_width": 8, "hidden_width": 16, "band_fraction": 0.5, **given}
        config = RunConfig(method="tuner", options=TunerOptions(**shape),
                           train=TrainOptions(steps=1), holdout=0.0, device="cpu", task=task)
        prepared = prepare_fit(config, image_signal())
        return prepared.config.options, derived_text(prepared)

    superres = TaskOptions(task="superres", factor=2)
    recipe = TASK_DEPTH["superres"]
    options, derived = options_of(superres)
    assert (options.hidden_layers, options.deep_bound) == (recipe["hidden_layers"], recipe["deep_bound"]) == (3, 0.15)
    assert "superres depth recipe" in derived
    assert options_of(TaskOptions())[0].hidden_layers == 1  # a plain fit: the capacity rule's one layer
    assert options_of(TaskOptions(task="denoise", noise=0.1))[0].hidden_layers == 1  # no recipe for denoise
    given, derived = options_of(superres, hidden_layers=2)
    assert (given.hidden_layers, given.deep_bound) == (2, 1.0) and "recipe" not in derived  # a given depth wins
    bound = options_of(superres, deep_bound=0.5)[0]
    assert (bound.hidden_layers, bound.deep_bound) == (3, 0.5)  # a given deep_bound wins too
    searched = options_of(superres, hidden_width=None, select="validation", select_steps=2)[0]
    assert searched.selected is not None  # the validation search chooses the depth, not the recipe
