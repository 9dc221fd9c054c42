"""Resources checked before they are spent (resources.py, issue #12): input headers, a fit's memory, OOM."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png
from PIL import Image

import sinetune
import sinetune.signals
from sinetune import SinetuneError, TrainOptions, TunerOptions, load_image
from sinetune.config import RunConfig, SignalConfig
from sinetune.resources import (
    MAX_IMAGE_PIXELS,
    available_memory,
    check_fit_memory,
    estimate_fit_memory,
    failure_message,
)
from sinetune.runs import prepare_fit
from sinetune.signals import load_audio

TINY = TunerOptions(input_width=8, hidden_width=8, band_fraction=0.3)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SINETUNE_MALLOC", "system")
    monkeypatch.chdir(tmp_path)


def _never(*args, **kwargs):
    raise AssertionError("this must not run")


def test_an_oversized_image_is_refused_from_its_header(tmp_path, monkeypatch):
    image = write_png(tmp_path / "big.png", smooth_rgb(40, 40))  # 1600 px
    monkeypatch.setattr(sinetune.signals, "_pil_to_unit_float", _never)  # nothing may be decoded
    monkeypatch.setenv("SINETUNE_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(SinetuneError, match="40×40 .* above the limit .*SINETUNE_MAX_IMAGE_PIXELS"):
        load_image(image)
    monkeypatch.setenv("SINETUNE_MAX_IMAGE_PIXELS", "500")  # above twice the limit: Pillow's bomb check
    with pytest.raises(SinetuneError, match="decompression bomb"):
        load_image(image)
    monkeypatch.setenv("SINETUNE_MAX_IMAGE_PIXELS", "many")
    with pytest.raises(SinetuneError, match="SINETUNE_MAX_IMAGE_PIXELS must be a positive number"):
        load_image(image)


def test_the_image_limit_can_be_raised_beyond_pillows(tmp_path, monkeypatch):
    image = write_png(tmp_path / "img.png", smooth_rgb(40, 40))
    before = Image.MAX_IMAGE_PIXELS
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # Pillow alone would refuse this image
    monkeypatch.setenv("SINETUNE_MAX_IMAGE_PIXELS", "2000")
    assert load_image(image).grid_shape == (40, 40)
    assert Image.MAX_IMAGE_PIXELS == 500  # Pillow's global is restored
    monkeypatch.undo()
    assert Image.MAX_IMAGE_PIXELS == before and MAX_IMAGE_PIXELS == 8192 ** 2


def test_a_bomb_is_one_line_on_the_command_line(tmp_path, capsys, monkeypatch):
    image = write_png(tmp_path / "bomb.png", smooth_rgb(40, 40))
    monkeypatch.setenv("SINETUNE_MAX_IMAGE_PIXELS", "100")
    code, _, err = run_cli(capsys, "fit", image, "--steps", 1)
    assert_one_line_error(code, err, "bomb.png", "decompression bomb")


def test_audio_is_checked_from_its_header(tmp_path, monkeypatch):
    path = tmp_path / "clip.wav"
    sf.write(str(path), np.sin(np.linspace(0, 50, 1200))[:, None].repeat(2, 1), 8000)
    monkeypatch.setattr(sf.SoundFile, "read", _never)
    monkeypatch.setenv("SINETUNE_MAX_AUDIO_VALUES", "2000")  # 1200 frames × 2 channels
    with pytest.raises(SinetuneError, match="1200 frames × 2 channels is above the limit of 2000"):
        load_audio(path)
    monkeypatch.setenv("SINETUNE_MAX_AUDIO_VALUES", "1000")
    with pytest.raises(SinetuneError, match="above the limit"):
        load_audio(path, samples=600)  # the crop is what counts: 1200 values
    monkeypatch.undo()
    monkeypatch.setenv("SINETUNE_MAX_AUDIO_VALUES", "1000")
    assert load_audio(path, samples=400).grid_shape == (400,)


def _prepared(size: int, batch: int | str = "full", width: int = 32):
    config = RunConfig(signal=SignalConfig("astronaut", size), options=TunerOptions(input_width=32, hidden_width=width),
                       train=TrainOptions(steps=1, batch_size=batch), device="cpu")
    return prepare_fit(config)


def test_the_memory_estimate_grows_with_the_batch():
    full, small = estimate_fit_memory(_prepared(64)), estimate_fit_memory(_prepared(64, batch=256))
    assert full.batch == round(0.95 * 64 * 64) and small.batch == 256
    # width 32: a step keeps at least the 32 + 32 activations of every sample (float32)
    assert small.per_sample >= 2 * 32 * 4
    assert full.step > small.step * 10 and full.data == small.data
    assert available_memory() is None or available_memory() > 2**20


def test_a_fit_beyond_the_memory_is_refused_with_a_batch_size(capsys, monkeypatch):
    monkeypatch.setattr("sinetune.resources.available_memory", lambda device="cpu": 32 * 2**30)
    monkeypatch.setattr("sinetune.runs.train", _never)
    started = time.monotonic()
    code, _, err = run_cli(capsys, "fit", "astronaut", "--size", 8192, "--steps", 1, "--batch-size", "full",
                             "--quiet", "--device", "cpu")
    assert_one_line_error(code, err, "GiB of memory", "32.0 GiB is available", "--batch-size")
    assert time.monotonic() - started < 300  # refused before allocating the 50+ GB a full-batch step needs
    suggested = int(err.split("--batch-size ")[1].split()[0])
    assert suggested >= 2**19  # 32 GiB holds a step on half a million samples of the 1024/1024 TUNER of 8192²
    prepared = _prepared(64)
    monkeypatch.setattr("sinetune.resources.available_memory", lambda device="cpu": 2**20)
    with pytest.raises(SinetuneError, match="fit a smaller signal"):  # not even the arrays fit in 1 MiB
        check_fit_memory(prepared)
    monkeypatch.setenv("SINETUNE_MEMORY_CHECK", "off")
    assert check_fit_memory(prepared) is None


def test_the_suggested_batch_size_fits(monkeypatch):
    full = estimate_fit_memory(_prepared(1024, width=256))
    assert full.evaluation < full.step / 4
    room = full.data + full.step / 4  # a quarter of a full-batch step fits
    monkeypatch.setattr("sinetune.resources.available_memory", lambda device="cpu": room)
    with pytest.raises(SinetuneError, match="pass --batch-size") as error:
        check_fit_memory(_prepared(1024, width=256))
    batch = int(str(error.value).split("--batch-size ")[1].split()[0])
    assert full.batch / 16 < batch < full.batch / 2  # (a mini-batch step caches no encoding)
    assert check_fit_memory(_prepared(1024, batch=batch, width=256)) is not None


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
                                   MemoryError(),
                                   RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: 9 GB")])
def test_out_of_memory_during_a_step_is_one_line(rgb_image, capsys, monkeypatch, error):
    def step(*args, **kwargs):
        raise error

    monkeypatch.setattr("sinetune.runs.train", step)
    code, _, err = run_cli(capsys, "fit", rgb_image, "--size", 16, "--quiet", "--device", "cpu",
                           "--set", "input_width=4")
    assert_one_line_error(code, err, "out of memory", "--batch-size")


def test_other_runtime_errors_still_surface():
    assert failure_message(RuntimeError("shape mismatch")) is None
    assert failure_message(OSError(30, "Read-only file system", "/x")) == "Read-only file system: /x"


def test_a_thin_image_is_fitted_without_ssim(tmp_path, capsys):
    image = write_png(tmp_path / "thin.png", smooth_rgb(3, 200))
    code, out, _ = run_cli(capsys, "fit", image, "--method", "siren", "--size", 200, "--steps", 2,
                           "--device", "cpu", "--set", "input_width=8", "--set", "hidden_width=8", "--out", "thin")
    assert code == 0 and "SSIM n/a" in out
    assert json.loads((tmp_path / "thin" / "metrics.json").read_text())["ssim"] is None
