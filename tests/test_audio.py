"""Audio (1-D signals): loading, metrics, 1-D TUNER frequencies, runs, the CLI and renders.

Every sound is written in ``tmp_path`` with numpy + soundfile; clips have ≤ 4000 samples.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import assert_one_line_error, run_cli

import sinetune
from sinetune import SinetuneError, TrainOptions, TunerOptions
from sinetune.methods import get_method
from sinetune.metrics import AUDIO_DATA_RANGE, log_spectral_distance, psnr, psnr_siren2, snr
from sinetune.render import save_audio
from sinetune.runs import AUDIO_RUN_FILES, load_run
from sinetune.signals import Signal, load_audio, load_signal
from sinetune.spectral import half_plane_points, resolution_defaults, sample_input_frequencies

RATE = 8000
TINY = ["--steps", "5", "--device", "cpu", "--set", "input_width=16", "--set", "hidden_width=16"]


def two_tone(count: int = 2000, rate: int = RATE) -> np.ndarray:
    """``(count,)`` float64: 220 Hz and 530 Hz tones, peak below 1."""
    time = np.arange(count) / rate
    return 0.6 * np.sin(2 * np.pi * 220 * time) + 0.3 * np.sin(2 * np.pi * 530 * time + 0.4)


def write_sound(path, data: np.ndarray, rate: int = RATE, subtype: str = "FLOAT"):
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.fixture
def tone_wav(tmp_path):
    return write_sound(tmp_path / "tone.wav", two_tone())


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SINETUNE_MALLOC", "system")
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("suffix, subtype", [(".wav", "FLOAT"), (".wav", "PCM_16"), (".flac", "PCM_16")])
def test_load_save_round_trip_keeps_length_rate_and_amplitude(tmp_path, suffix, subtype):
    data = 0.5 * two_tone(1500, 11025)
    source = write_sound(tmp_path / f"in{suffix}", data, 11025, subtype)
    signal = load_audio(source)
    assert signal.values.shape == (1500, 1) and signal.values.dtype == np.float32
    assert signal.sample_rate == 11025 and signal.kind == "audio" and signal.dim == 1
    stored = sf.read(str(source), dtype="float64")[0]
    np.testing.assert_allclose(signal.values[:, 0] * signal.scale, stored, atol=1e-6)
    out = tmp_path / "out.wav"
    save_audio(signal.values, out, signal.sample_rate, signal.scale)
    info = sf.info(str(out))
    assert info.frames == 1500 and info.samplerate == 11025 and info.channels == 1 and info.subtype == "FLOAT"
    np.testing.assert_allclose(sf.read(str(out))[0], stored, atol=1e-6)
    again = load_audio(out)
    assert again.grid_shape == (1500,) and again.sample_rate == 11025
    assert again.scale == pytest.approx(signal.scale, rel=1e-6)


def test_mono_downmix_and_peak_normalisation_are_exact(tmp_path):
    rng = np.random.default_rng(0)
    left, right = rng.uniform(-0.4, 0.4, 1000), rng.uniform(-0.3, 0.3, 1000)
    signal = load_audio(write_sound(tmp_path / "stereo.wav", np.stack([left, right], axis=1)))
    left32, right32 = left.astype(np.float32).astype(np.float64), right.astype(np.float32).astype(np.float64)
    mono = (left32 + right32) / 2  # the file stores float32 samples
    assert signal.scale == pytest.approx(np.abs(mono).max(), rel=1e-12)
    np.testing.assert_allclose(signal.values[:, 0], (mono / np.abs(mono).max()).astype(np.float32), rtol=0, atol=0)
    assert np.abs(signal.values).max() == 1.0
    torch.testing.assert_close(signal.coords()[:, 0], torch.linspace(-1, 1, 1000))


def test_crops_are_exact(tmp_path):
    data = np.linspace(-0.5, 0.9, 3000)
    path = write_sound(tmp_path / "ramp.wav", data, 1000)
    stored = sf.read(str(path), dtype="float64")[0]

    def expected(piece):
        return (piece / np.abs(piece).max()).astype(np.float32)

    start = load_audio(path, start=0.25)
    np.testing.assert_array_equal(start.values[:, 0], expected(stored[250:]))
    both = load_audio(path, start=0.1, duration=0.05)
    np.testing.assert_array_equal(both.values[:, 0], expected(stored[100:150]))
    first = load_audio(path, samples=30)
    np.testing.assert_array_equal(first.values[:, 0], expected(stored[:30]))
    assert first.scale == pytest.approx(abs(stored[0]))
    tail = load_audio(path, start=2.99, duration=10.0)  # a crop past the end keeps what is there
    assert tail.grid_shape == (10,)
    assert load_signal(path, size=64, samples=40).grid_shape == (40,)  # size is for images only


@pytest.mark.parametrize("make, kwargs, fragment", [
    (lambda d: d / "missing.wav", {}, "no such file"),
    (lambda d: write_bytes(d / "empty.wav", b""), {}, "file is empty"),
    (lambda d: write_bytes(d / "bad.flac", b"RIFF not really audio" * 20), {}, "cannot read audio"),
    (lambda d: write_bytes(d / "x.mp4", b"abc"), {}, "not a supported audio format"),
    (lambda d: write_sound(d / "quiet.wav", np.zeros(500)), {}, "signal is silent"),
    (lambda d: write_sound(d / "short.wav", two_tone(500)), {"start": 1.0}, "past the end"),
    (lambda d: write_sound(d / "short.wav", two_tone(500)), {"duration": 1e-5}, "need at least 2"),
    (lambda d: write_sound(d / "short.wav", two_tone(500)), {"samples": 1}, "samples must be an integer ≥ 2"),
    (lambda d: write_sound(d / "short.wav", two_tone(500)), {"start": -1.0}, "start must be"),
    (lambda d: write_sound(d / "short.wav", two_tone(500)), {"samples": 10, "duration": 0.1}, "not both"),
])
def test_bad_audio_is_a_one_line_error(tmp_path, make, kwargs, fragment):
    path = make(tmp_path)
    with pytest.raises(SinetuneError, match=fragment) as caught:
        load_audio(path, **kwargs)
    assert "\n" not in str(caught.value)


def test_silent_after_crop(tmp_path):
    data = np.concatenate([np.zeros(400), two_tone(100)])
    path = write_sound(tmp_path / "late.wav", data, 1000)
    with pytest.raises(SinetuneError, match="signal is silent"):
        load_audio(path, samples=300)
    assert load_audio(path, start=0.35).grid_shape == (150,)


# --- 1-D TUNER frequencies ------------------------------------------------------------------------

def test_half_plane_points_in_one_dimension_are_the_positive_integers():
    np.testing.assert_array_equal(half_plane_points(6, dim=1)[:, 0], np.arange(1, 7))
    np.testing.assert_array_equal(half_plane_points(9, dim=1, step=3)[:, 0], [3, 6, 9])


@pytest.mark.parametrize("samples", [2000, 4000])
@pytest.mark.parametrize("width", [16, 32])
def test_one_dimensional_frequency_set_properties(samples, width):
    period = 2.1
    options = get_method("tuner").resolve(TunerOptions(input_width=width, hidden_width=8), (samples,))
    band = math.floor(0.2 * period * (samples - 1) / 4)
    assert options.band_limit == band == resolution_defaults((samples,), period, width).band_limit
    low = options.low_range
    assert 1 <= low <= band // 2
    sets = []
    for seed in (0, 0, 1):
        frequencies = sample_input_frequencies(width, band, low, np.random.default_rng(seed), dim=1)
        assert frequencies.shape == (width, 1) and frequencies.dtype == np.int64
        k = frequencies[:, 0]
        assert (k > 0).all() and len(np.unique(k)) == width and k.max() <= band
        assert k[0] == 1  # e_1 first
        assert (k <= low).sum() == 1 + round(0.7 * (width - 1))  # dense low block, same share as in 2-D
        # in 1-D the smallest low radius holding that share makes the low block all of 1 … l
        np.testing.assert_array_equal(k[k <= low], np.arange(1, low + 1))
        sets.append(k)
    np.testing.assert_array_equal(sets[0], sets[1])  # deterministic per seed
    built = get_method("tuner").build(options, (samples,), 1, torch.Generator().manual_seed(0))
    stored = built.field.encoding.input_frequencies
    assert tuple(stored.shape) == (width, 1) and int(stored.max()) <= band and int(stored.min()) >= 1


def test_one_dimensional_width_beyond_the_band_is_refused():
    with pytest.raises(SinetuneError, match="exceeds the 41 distinct input frequencies"):
        get_method("tuner").resolve(TunerOptions(input_width=64), (400,))  # b = floor(0.2·2.1·399/4) = 41


# --- metrics --------------------------------------------------------------------------------------

def test_snr_of_known_noise_energy():
    rng = np.random.default_rng(1)
    x = two_tone(3000)
    noise = rng.standard_normal(3000)
    noise *= np.sqrt(np.sum(x ** 2) / 100 / np.sum(noise ** 2))  # energy ratio exactly 100
    assert snr(x + noise, x) == pytest.approx(20.0, abs=1e-9)
    assert snr(x, x) == math.inf
    assert snr(2 * x, x) == pytest.approx(0.0, abs=1e-9)  # error energy = signal energy


def test_log_spectral_distance():
    x = two_tone(4000)
    assert log_spectral_distance(x, x, RATE) == 0.0
    assert log_spectral_distance(x[:, None], x[:, None], RATE) == 0.0
    # a gain g changes every bin by 20 log10 g dB where the spectrum is far above ε (broadband noise)
    noise = np.random.default_rng(3).standard_normal(4000)
    assert log_spectral_distance(0.5 * noise, noise, RATE) == pytest.approx(20 * math.log10(2), rel=1e-4)
    extra = x + 0.05 * np.sin(2 * np.pi * 1500 * np.arange(4000) / RATE)
    assert log_spectral_distance(extra, x, RATE) > 1.0
    # shorter than n_fft: a 512-sample window, same answer
    assert log_spectral_distance(0.5 * noise[:1000], noise[:1000], RATE) == pytest.approx(6.0206, rel=1e-3)


def test_psnr_conventions():
    rng = np.random.default_rng(2)
    target = rng.uniform(-1, 1, 2000)
    prediction = target + 0.1 * rng.standard_normal(2000)
    mse = np.mean((prediction - target) ** 2)
    assert psnr_siren2(prediction, target) == pytest.approx(20 * math.log10(1 / math.sqrt(mse)))
    audio_psnr = psnr(prediction, target, AUDIO_DATA_RANGE)
    assert audio_psnr - psnr_siren2(prediction, target) == pytest.approx(20 * math.log10(2))  # 6.02 dB
    # the audio PSNR is the [0, 1] convention: map [-1, 1] → [0, 1], peak 1
    assert audio_psnr == pytest.approx(psnr((prediction + 1) / 2, (target + 1) / 2))
    assert psnr_siren2(np.full(4, 0.1), np.zeros(4)) == pytest.approx(20.0)


# --- fitting --------------------------------------------------------------------------------------

def test_tuner_fits_a_two_tone_clip(tone_wav):
    result = sinetune.fit(str(tone_wav), "tuner", options=TunerOptions(input_width=32, hidden_width=32),
                          train_options=TrainOptions(steps=200, lr=2e-3, log_every=50), device="cpu", seed=0)
    metrics = result.metrics
    # measured 38.3 dB full / 37.9 dB held-out PSNR, SNR 26.7 dB (seed 0, 200 steps)
    assert metrics["full_psnr"] > 34 and metrics["heldout_psnr"] > 32 and metrics["snr"] > 22
    assert metrics["psnr_siren2"] == pytest.approx(metrics["full_psnr"] - 20 * math.log10(2))
    assert metrics["sample_rate"] == RATE and metrics["grid_shape"] == [2000]
    assert "ssim" not in metrics and "gradient_psnr" not in metrics
    assert result.config.signal.size is None and result.config.options.band_limit == 209
    # the logged curve uses the same PSNR convention as metrics.json (range 2)
    assert result.history[-1]["heldout_psnr"] == pytest.approx(metrics["heldout_psnr"], abs=1e-3)


def test_audio_stop_psnr_stops_at_the_reported_psnr(tone_wav):
    """stop_psnr compares the PSNR the user reads (range 2): the fit stops at the first log step whose
    held-out PSNR, as metrics.json reports it, reaches the target — not 6.02 dB later."""
    options = TunerOptions(input_width=32, hidden_width=32)
    probe = sinetune.fit(str(tone_wav), "tuner", options=options, device="cpu",
                         train_options=TrainOptions(steps=200, lr=2e-3, log_every=5))
    curve = [row["heldout_psnr"] for row in probe.history]
    target = (curve[2] + max(curve)) / 2  # reached somewhere after the first few log steps
    first = next(row["step"] for row in probe.history if row["heldout_psnr"] >= target)
    result = sinetune.fit(str(tone_wav), "tuner", options=options, device="cpu",
                          train_options=TrainOptions(steps=200, lr=2e-3, log_every=5, stop_psnr=target))
    assert result.metrics["stopped_early"] == "psnr" and result.metrics["steps"] == first
    assert target <= result.metrics["heldout_psnr"] < target + 6.02
    assert result.history[-1]["heldout_psnr"] == pytest.approx(result.metrics["heldout_psnr"], abs=1e-3)


def test_audio_run_directory_and_checkpoint(tmp_path):
    data = 0.25 * two_tone(1200)
    path = write_sound(tmp_path / "clip.flac", data, RATE, "PCM_16")
    result = sinetune.fit(str(path), "tuner", options=TunerOptions(input_width=16, hidden_width=16),
                          train_options=TrainOptions(steps=5), device="cpu", out=tmp_path / "run")
    assert set(result.paths) == {name.split(".")[0] for name in AUDIO_RUN_FILES}
    for name in AUDIO_RUN_FILES:
        assert (tmp_path / "run" / name).is_file(), name
    reconstruction, rate = sf.read(str(tmp_path / "run" / "reconstruction.wav"))
    assert rate == RATE and reconstruction.shape == (1200,)
    # de-normalised by the stored scale: the file is prediction · peak
    prediction = result.field(result.signal.coords()).detach().numpy()[:, 0]
    np.testing.assert_allclose(reconstruction, prediction * result.signal.scale, atol=1e-6)
    assert result.signal.scale == pytest.approx(np.abs(sf.read(str(path))[0]).max())
    field, config, info = load_run(tmp_path / "run")
    assert info["grid_shape"] == (1200,) and info["sample_rate"] == RATE
    assert info["scale"] == pytest.approx(result.signal.scale)
    coords = torch.linspace(-1, 1, 50)[:, None]
    torch.testing.assert_close(field(coords), result.field(coords))
    # a TUNER-1D field is periodic with period p: extrapolation repeats the clip
    torch.testing.assert_close(field(coords + config.options.period), field(coords), atol=1e-4, rtol=0)


# --- command line ---------------------------------------------------------------------------------

def test_cli_fit_audio_end_to_end_and_rerun(tmp_path, capsys):
    stereo = np.stack([two_tone(2500), 0.5 * two_tone(2500)], axis=1)
    path = write_sound(tmp_path / "song.wav", stereo, 16000, "PCM_16")
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(capsys, "fit", path, "--start", 0.01, "--samples", 2000, "--out", out, *TINY)
    assert code == 0, stderr
    assert "2000 samples at 16000 Hz" in stdout and "SNR" in stdout and "LSD" in stdout
    data, rate = sf.read(str(out / "reconstruction.wav"))
    assert rate == 16000 and data.shape == (2000,)
    assert sf.info(str(out / "reconstruction.wav")).subtype == "FLOAT"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["grid_shape"] == [2000] and {"snr", "lsd", "psnr_siren2"} <= set(metrics)
    config_text = (out / "config.yaml").read_text()
    assert "start: 0.01" in config_text and "samples: 2000" in config_text and "size: null" in config_text
    again = tmp_path / "again"
    code, _, _ = run_cli(capsys, "fit", "--config", out / "config.yaml", "--out", again, "--quiet")
    assert code == 0
    second = json.loads((again / "metrics.json").read_text())
    for key in ("train_psnr", "heldout_psnr", "full_psnr", "snr", "lsd", "parameters", "grid_shape"):
        assert second[key] == pytest.approx(metrics[key], abs=1e-6), key
    assert (again / "config.yaml").read_text() == config_text


def test_cli_render_audio(tmp_path, tone_wav, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "fit", tone_wav, "--out", out, *TINY)[0] == 0
    code, stdout, _ = run_cli(capsys, "render", out, "--size", 3000)
    assert code == 0 and "render-3000.wav" in stdout
    data, rate = sf.read(str(out / "render-3000.wav"))
    assert data.shape == (3000,) and rate == round(RATE * 2999 / 1999)  # same duration, finer sampling
    code, _, _ = run_cli(capsys, "render", out, "--domain", -2, 2)
    assert code == 0
    data, rate = sf.read(str(out / "render-3999-domain-2_2.wav"))
    assert data.shape == (3999,) and rate == RATE  # twice the span at the original rate
    code, _, err = run_cli(capsys, "render", out, "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, "WAV")


@pytest.mark.parametrize("argv, fragment", [
    (["missing.wav"], "no such file"),
    (["tone.wav", "--size", "64"], "--size applies to images only"),
    (["tone.wav", "--samples", "1"], "samples must be"),
    (["tone.wav", "--start", "5"], "past the end"),
    (["tone.wav", "--duration", "0.1", "--samples", "100"], "not both"),
    (["silent.wav"], "signal is silent"),
    (["broken.wav"], "cannot read audio"),
    (["tone.wav", "--set", "input_width=300"], "exceeds the 209 distinct input frequencies"),
])
def test_cli_bad_audio_exits_2_with_one_line(tmp_path, tone_wav, capsys, argv, fragment):
    write_sound(tmp_path / "silent.wav", np.zeros(300))
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 8)
    code, _, err = run_cli(capsys, "fit", *argv, "--steps", "2", "--quiet", "--device", "cpu",
                           "--out", tmp_path / "r")
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "r").exists()


def test_cli_warns_about_siren_first_omega_on_audio(tmp_path, tone_wav, capsys):
    small = ["--method", "siren", "--steps", "2", "--quiet", "--device", "cpu", "--set", "input_width=8",
             "--set", "hidden_width=8", "--set", "hidden_layers=1"]
    code, _, err = run_cli(capsys, "fit", tone_wav, "--out", tmp_path / "a", *small)
    assert code == 0
    warnings = [line for line in err.splitlines() if "first_omega" in line]
    assert len(warnings) == 1 and warnings[0].startswith("sinetune: warning:") and "3000" in warnings[0]
    code, _, err = run_cli(capsys, "fit", tone_wav, "--out", tmp_path / "b", *small, "--set", "first_omega=3000")
    assert code == 0 and "first_omega" not in err


def test_signal_kind():
    assert Signal(np.zeros((5, 1), np.float32), "a").kind == "audio"
    assert Signal(np.zeros((2, 3, 1), np.float32), "i").kind == "image"
    assert Signal(np.zeros((2, 3, 1), np.float32), "i").sample_rate is None
