"""The noise-keyed band of the denoise task (issue #14): the noise floor, TUNER's band and capacity from it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml
from conftest import assert_one_line_error, run_cli, write_png

from sinetune import TrainOptions, TunerOptions
from sinetune.config import RunConfig, config_from_dict, config_to_dict
from sinetune.errors import SinetuneError
from sinetune.methods import SirenOptions
from sinetune.runs import prepare_fit
from sinetune.signals import Signal
from sinetune.spectral import max_input_width, noise_floor_radius, windowed_power
from sinetune.tasks import TaskOptions, method_options, prepare_task


def power_law_image(n: int = 64, channels: int = 3, seed: int = 0) -> np.ndarray:
    """An ``(n, n, C)`` image in [0, 1] with a ``1/|f|²`` power spectrum (natural-image-like), random phases."""
    rng = np.random.default_rng(seed)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij"))
    amplitude = 1.0 / np.maximum(f, 1.0 / n)
    amplitude[0, 0] = 0.0
    planes = [np.real(np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((n, n))))) for _ in range(channels)]
    image = np.stack(planes, axis=-1)
    image = (image - image.min()) / (image.max() - image.min())
    return (0.1 + 0.8 * image).astype(np.float32)


def test_white_noise_power_is_the_floor_the_radius_assumes():
    sigma, noise = 0.2, np.random.default_rng(1).standard_normal((64, 48, 2)) * 0.2
    power, nu, window_energy = windowed_power(noise)
    assert power.shape == nu.shape == (64, 48) and nu.max() == pytest.approx(1.0, abs=0.05)
    assert power.mean() == pytest.approx(2 * sigma ** 2 * window_energy, rel=0.05)
    assert noise_floor_radius(noise, sigma) < 0.1  # pure noise: at the floor from the first ring


def test_the_noise_floor_band_shrinks_with_more_noise():
    clean = power_law_image()
    radii = []
    for sigma in (0.01, 0.05, 0.2):
        noisy = clean + sigma * np.random.default_rng(2).standard_normal(clean.shape)
        radii.append(noise_floor_radius(noisy, sigma))
    assert radii[0] > radii[1] > radii[2] > 0
    assert noise_floor_radius(clean + 0.05 * np.random.default_rng(2).standard_normal(clean.shape), 0.05, snr=4.0) \
        < radii[1]  # a stricter signal-to-noise ratio marks the floor earlier
    with pytest.raises(ValueError):
        noise_floor_radius(clean, 0.0)


def tuner_config(task: TaskOptions, **options) -> RunConfig:
    return RunConfig(method="tuner", options=TunerOptions(**options), train=TrainOptions(steps=1),
                     holdout=0.0, device="cpu", task=task)


def test_tuner_band_and_capacity_follow_the_noise():
    signal = Signal(values=power_law_image(), name="power-law")
    limits, widths = [], []
    for sigma in (0.02, 0.08, 0.3):
        prepared = prepare_fit(tuner_config(TaskOptions(task="denoise", noise=sigma, band_gain=0.5)), signal)
        task, options = prepared.task, prepared.config.options
        assert options.band_fraction == task.band_fraction == pytest.approx(min(1.0, 0.5 * task.noise_radius), abs=1e-6)
        assert options.input_width <= max_input_width(options.band_limit)  # the band holds the width
        limits.append(options.band_limit)
        widths.append(options.input_width)
    assert limits[0] > limits[-1] and widths[0] > widths[-1]
    # off (the default), a given band_fraction, and other methods: unchanged
    plain = prepare_fit(tuner_config(TaskOptions(task="denoise", noise=0.3)), signal).config.options
    given = prepare_fit(tuner_config(TaskOptions(task="denoise", noise=0.3, band_gain=0.5), band_fraction=0.4),
                        signal).config.options
    assert given.band_fraction == 0.4 and plain.band_limit > limits[-1]
    task = prepare_task(TaskOptions(task="denoise", noise=0.3, band_gain=0.5), signal)
    siren = SirenOptions(input_width=8, hidden_width=8)
    assert method_options(task, "siren", siren) == (task, siren)


def test_band_options_round_trip_through_the_config():
    config = tuner_config(TaskOptions(task="denoise", noise=0.1, band_gain=0.3, floor_snr=2.0))
    data = yaml.safe_load(yaml.safe_dump(config_to_dict(config)))
    assert data["task"]["band_gain"] == 0.3 and data["task"]["floor_snr"] == 2.0
    assert config_from_dict(data) == config
    assert config_from_dict({"task": {"task": "denoise", "band_gain": None}}).task.band_gain is None


@pytest.mark.parametrize("options, message", [
    (TaskOptions(task="denoise", noise=0.1, band_gain=0.0), "band_gain must be a positive number"),
    (TaskOptions(task="denoise", noise=0.1, band_gain=float("nan")), "band_gain must be a positive number"),
    (TaskOptions(task="denoise", noise=0.1, floor_snr=-1.0), "floor_snr must be a positive number"),
    (TaskOptions(task="inpaint", mask_fraction=0.2, band_gain=0.3), "applies to --task denoise"),
])
def test_bad_band_options_are_one_line_errors(options, message):
    with pytest.raises(SinetuneError) as error:
        options.validate()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_band_gain_on_the_command_line(tmp_path, capsys):
    image = write_png(tmp_path / "noise.png", (power_law_image(16) * 255).astype(np.uint8))
    code, _, err = run_cli(capsys, "fit", image, "--task", "denoise", "--noise", "0.1", "--set", "task.band_gain=-2",
                           "--steps", "1", "--out", tmp_path / "run")
    assert_one_line_error(code, err, "band_gain must be a positive number, got -2")
    assert not (tmp_path / "run").exists()


def test_the_derived_line_and_metrics_name_the_noise_band():
    from sinetune.runs import derived_text, run

    signal = Signal(values=power_law_image(32), name="power-law")
    config = replace(tuner_config(TaskOptions(task="denoise", noise=0.1, band_gain=0.5)),
                     train=TrainOptions(steps=2, log_every=1))
    assert "noise floor at" in derived_text(prepare_fit(config, signal))
    metrics = run(config, signal=signal).metrics
    assert metrics["noise_band_fraction"] == pytest.approx(0.5 * metrics["noise_floor_radius"], abs=1e-6)
