"""bench denoise|inpaint|superres (sinetune.bench.inverse) end to end on tiny generated data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png

from sinetune.bench import BENCHMARKS, run_benchmark
from sinetune.bench.inverse import AUDIO_START, tuner_input_width


@pytest.fixture
def data(tmp_path):
    """A folder with ``kodak/kodim03.png`` (32²) and ``audio/bach.wav`` (8 kHz tone, from 0 to AUDIO_START + 0.1 s)."""
    (tmp_path / "kodak").mkdir()
    (tmp_path / "audio").mkdir()
    write_png(tmp_path / "kodak" / "kodim03.png", smooth_rgb(32, 32))
    t = np.arange(int((AUDIO_START + 0.1) * 8000)) / 8000
    soundfile.write(tmp_path / "audio" / "bach.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 8000)
    return tmp_path


@pytest.mark.parametrize("name", ["denoise", "inpaint", "superres"])
def test_bench_runs_fields_and_baselines_on_the_same_input(data, tmp_path, name):
    assert name in BENCHMARKS
    options = {"clips": ["bach"], "seconds": 0.05, "audio_width": 16} if name != "superres" else {}
    report = run_benchmark(name, data_dir=data, images=["03"], methods=["tuner", "siren"], steps=2, size=32,
                           width=16, device="cpu", out=tmp_path / "out", **options)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    settings = {row["setting"] for row in report.rows}
    assert settings == {"σ=0.1", "20 dB"} if name == "denoise" else settings
    baselines = {"denoise": "tv", "inpaint": "biharmonic", "superres": "bicubic"}[name]
    for setting in settings:
        methods = {row["method"] for row in report.rows if row["setting"] == setting}
        assert {"tuner", "siren", baselines} <= methods
        assert setting in results["setting_means"]
    assert all(np.isfinite(row["clean_psnr"]) for row in report.rows)
    assert (tmp_path / "out" / "results.md").read_text().count("| **mean**") == 0  # means per setting only


def test_tuner_input_width_is_capped_on_small_grids():
    assert tuner_input_width((256, 256), 256) == 256
    assert tuner_input_width((32, 32), 128) == 24
    assert tuner_input_width((128, 128), 128, band_fraction=0.1) == 84


def test_bench_refuses_existing_results(data, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").write_text("{}")
    code, _, err = run_cli(capsys, "bench", "superres", "--data", data, "--images", "03", "--steps", "1",
                           "--out", tmp_path / "out")
    assert_one_line_error(code, err, "already exists")


def test_bench_task_and_train_overrides_reach_every_fit(data, tmp_path, capsys):
    report = run_benchmark("denoise", data_dir=data, images=["03"], clips=[], methods=["tuner"], steps=2, size=32,
                           width=16, device="cpu", out=tmp_path / "out",
                           overrides={"task": {"band_gain": 0.5, "stop_factor": None}, "train": {"batch_size": 256}})
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["overrides"]["task"] == {"band_gain": 0.5, "stop_factor": None}
    assert results["settings"]["σ=0.1"]["band_gain"] == 0.5
    row = next(row for row in report.rows if row["method"] == "tuner")
    assert row["noise_band_fraction"] is not None and row["steps_run"] == 2  # no stop rule: both steps ran
    assert "batches of 256" in (tmp_path / "out" / "results.md").read_text()
    code, _, err = run_cli(capsys, "bench", "denoise", "--data", data, "--images", "03", "--clips", "", "--steps", "1",
                           "--set", "task.band_gain=-1", "--out", tmp_path / "bad")
    assert_one_line_error(code, err, "band_gain must be a positive number")
