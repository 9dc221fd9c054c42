"""The ``sinetune`` command line (cli.py): exit codes, one-line errors, files written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png
from PIL import Image

from sinetune.cli import parse_overrides
from sinetune.errors import SinetuneError

TINY = ["--steps", "5", "--device", "cpu", "--set", "input_width=16", "--set", "hidden_width=16"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    # keep the test process's allocator alone and never write into the repository (default runs/)
    monkeypatch.setenv("SINETUNE_MALLOC", "system")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli_run(tmp_path, rgb_image, capsys):
    """A run directory made by ``sinetune fit`` (returns its path)."""
    out = tmp_path / "cli-run"
    code, stdout, _ = run_cli(capsys, "fit", rgb_image, "--size", 32, "--out", out, *TINY)
    assert code == 0
    return out


def test_fit_writes_a_run_directory(tmp_path, rgb_image, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(capsys, "fit", rgb_image, "--size", 32, "--out", out, *TINY)
    assert code == 0
    assert f"run directory: {out}" in stdout
    assert "tuner on smooth (32×32, 5 steps" in stdout and "held-out PSNR" in stdout
    for name in ("config.yaml", "metrics.json", "model.safetensors", "reconstruction.png"):
        assert (out / name).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 5 and metrics["parameters"] == 16 + 16 * 16 + 16 + 16 * 3 + 3
    assert f"train PSNR {metrics['train_psnr']:.2f} dB" in stdout
    assert metrics["derived"].startswith("image kept at its own size 32×32 (--size 32); TUNER 16 input frequencies, "
                                         "1 hidden layer of 16 (input_width, hidden_width not the capacity rule's")
    assert "; band-limit b = " in metrics["derived"]
    assert f"derived: {metrics['derived']}" in stderr and "derived" not in stdout  # said once, before training


def test_keep_best_flag_reaches_the_config_and_the_metrics(tmp_path, rgb_image, capsys):
    out = tmp_path / "best"
    code, _, _ = run_cli(capsys, "fit", rgb_image, "--size", 32, "--out", out, "--keep-best", *TINY)
    assert code == 0
    assert "keep_best: true" in (out / "config.yaml").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert 1 <= metrics["best_step"] <= 5
    plain = tmp_path / "plain"
    assert run_cli(capsys, "fit", rgb_image, "--size", 32, "--out", plain, *TINY)[0] == 0
    assert json.loads((plain / "metrics.json").read_text())["best_step"] is None


def test_fit_from_saved_config_reproduces_metrics(tmp_path, cli_run, capsys):
    out = tmp_path / "again"
    code, stdout, _ = run_cli(capsys, "fit", "--config", cli_run / "config.yaml", "--out", out, "--quiet")
    assert code == 0
    first = json.loads((cli_run / "metrics.json").read_text())
    second = json.loads((out / "metrics.json").read_text())
    for key in ("train_psnr", "heldout_psnr", "full_psnr", "ssim", "gradient_psnr", "parameters", "grid_shape"):
        assert second[key] == pytest.approx(first[key], abs=1e-6), key
    assert (out / "config.yaml").read_text() == (cli_run / "config.yaml").read_text()


def test_flags_override_the_config(tmp_path, cli_run, capsys):
    out = tmp_path / "override"
    code, _, _ = run_cli(capsys, "fit", "--config", cli_run / "config.yaml", "--out", out, "--quiet",
                         "--steps", 3, "--seed", 4, "--set", "period=4")
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 3
    saved = (out / "config.yaml").read_text()
    assert "seed: 4" in saved and "period: 4.0" in saved
    # switching the method drops the other method's options
    code, _, _ = run_cli(capsys, "fit", "--config", cli_run / "config.yaml", "--out", tmp_path / "siren", "--quiet",
                         "--method", "siren", "--steps", 2, "--set", "input_width=8", "--set", "hidden_width=8")
    assert code == 0
    assert json.loads((tmp_path / "siren" / "metrics.json").read_text())["method"] == "siren"


def test_default_out_is_under_runs(tmp_path, rgb_image, capsys):
    code, stdout, _ = run_cli(capsys, "fit", rgb_image, "--size", 32, *TINY)
    assert code == 0
    assert (tmp_path / "runs" / "smooth-tuner" / "config.yaml").is_file()
    code, stdout, _ = run_cli(capsys, "fit", rgb_image, "--size", 32, *TINY)
    assert (tmp_path / "runs" / "smooth-tuner-2" / "config.yaml").is_file()


def test_rgba_warning_is_one_line(tmp_path, capsys):
    array = np.random.default_rng(0).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "alpha.png")
    code, _, err = run_cli(capsys, "fit", tmp_path / "alpha.png", "--out", tmp_path / "a", "--size", 32, *TINY,
                           "--quiet")
    assert code == 0
    assert err.strip().splitlines() == ["sinetune: warning: image has an alpha channel (RGBA); it is dropped"]


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "corrupt.png").write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    (tmp_path / "empty.png").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("args, fragments", [
    (["fit", "missing.png"], ["no such file"]),
    (["fit", "corrupt.png"], ["not a supported image format"]),
    (["fit", "empty.png"], ["empty"]),
    (["fit", "IMAGE", "--steps", "-1"], ["steps must be a positive integer"]),
    (["fit", "IMAGE", "--steps", "0"], ["steps"]),
    (["fit", "IMAGE", "--holdout", "1.0"], ["holdout must be in [0, 1)"]),
    (["fit", "IMAGE", "--holdout=-0.1"], ["holdout"]),
    (["fit", "IMAGE", "--holdout", "-0.1"], ["holdout"]),
    (["fit", "IMAGE", "--lr", "0"], ["lr"]),
    (["fit", "IMAGE", "--method", "nerf"], ["unknown method 'nerf'"]),
    (["fit", "IMAGE", "--set", "inptu_width=3"], ["unknown key", "inptu_width"]),
    (["fit", "IMAGE", "--set", "input_width"], ["KEY=VALUE"]),
    (["fit", "IMAGE", "--set", "options.inptu_width=3"], ["unknown key", "inptu_width", "valid keys", "input_width"]),
    (["fit", "IMAGE", "--set", "train.log_evry=1"], ["unknown key", "log_evry", "valid keys", "log_every"]),
    (["fit", "IMAGE", "--set", "log_evry=1"], ["unknown key 'log_evry'", "train.NAME", "log_every", "seed"]),
    (["fit", "IMAGE", "--set", "trian.steps=1"], ["cannot set 'trian.steps'", "options, train, signal"]),
    (["fit", "IMAGE", "--set", "train.log_every=often"], ["train.log_every"]),
    (["fit", "IMAGE", "--set", "train.keep_best=3"], ["train.keep_best"]),
    (["fit", "IMAGE", "--set", "seed=x"], ["seed must be an integer"]),
    (["fit", "IMAGE", "--set", "method=siren"], ["--method"]),
    (["fit", "IMAGE", "--set", "input_width=wide"], ["options.input_width"]),
    (["fit", "IMAGE", "--set", "input_width=2"], ["input_width 2 is too small"]),
    (["fit", "IMAGE16", "--full-size", "--set", "input_width=4000"], ["input_width 4000 exceeds", "16×16"]),
    (["fit", "IMAGE16", "--size", "16", "--set", "input_width=16"], ["input_width 16 exceeds the 4 distinct", "16×16"]),
    (["fit", "IMAGE", "--size", "4"], ["size must be between"]),
    (["fit", "IMAGE", "--steps", "many"], ["invalid int value"]),
    (["fit", "IMAGE", "--device", "tpu"], ["invalid choice"]),
    (["fit", "IMAGE", "--config", "nope.yaml"], ["no such config file"]),
    (["render", "no-such-run"], ["no such run directory"]),
    (["bench", "kodak-256", "--data", "no-such-dir"], ["benchmark data not found"]),
    (["bench", "imagenet"], ["unknown benchmark"]),
    (["frobnicate"], ["invalid choice"]),
    ([], ["required"]),
])
def test_bad_input_exits_2_with_one_line(tmp_path, bad_files, rgb_image, capsys, args, fragments):
    image16 = write_png(tmp_path / "tiny16.png", smooth_rgb(16, 16))
    argv = [str(rgb_image) if a == "IMAGE" else str(image16) if a == "IMAGE16" else a for a in args]
    if argv and argv[0] == "fit":
        argv += ["--out", str(tmp_path / "out"), "--quiet"]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "out").exists()


def test_existing_out_without_overwrite(tmp_path, rgb_image, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code, _, err = run_cli(capsys, "fit", rgb_image, "--out", out, "--size", 32, *TINY)
    assert_one_line_error(code, err, "already exists", "--overwrite")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"
    # --overwrite replaces sinetune runs only: this folder is not one, and it is kept (issue #12)
    code, _, err = run_cli(capsys, "fit", rgb_image, "--out", out, "--size", 32, "--overwrite", *TINY)
    assert_one_line_error(code, err, "not one")
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_gpu(tmp_path, rgb_image, capsys):
    code, _, err = run_cli(capsys, "fit", rgb_image, "--out", tmp_path / "gpu", "--size", 32, *TINY,
                           "--device", "cuda")  # after TINY: the last --device wins
    assert_one_line_error(code, err, "no CUDA device")
    assert not (tmp_path / "gpu").exists()


def test_render_size(tmp_path, cli_run, capsys):
    code, stdout, _ = run_cli(capsys, "render", cli_run, "--size", 48)
    assert code == 0
    path = cli_run / "render-48x48.png"
    assert stdout.strip() == f"wrote {path}"
    with Image.open(path) as png:
        assert png.size == (48, 48)
    code, _, err = run_cli(capsys, "render", cli_run, "--size", 48)  # never overwritten silently
    assert_one_line_error(code, err, "already exists")
    code, _, _ = run_cli(capsys, "render", cli_run, "--size", 48, "--overwrite")
    assert code == 0


def test_render_domain(tmp_path, cli_run, capsys):
    code, stdout, _ = run_cli(capsys, "render", cli_run, "--domain", "-2", "2", "--out", tmp_path / "tile.png")
    assert code == 0
    with Image.open(tmp_path / "tile.png") as png:
        assert png.size == (32, 32)
    code, stdout, _ = run_cli(capsys, "render", cli_run, "--domain", "-2", "2", "--size", 40)
    assert code == 0
    with Image.open(cli_run / "render-40x40-domain-2_2.png") as png:
        assert png.size == (40, 40)
    code, _, err = run_cli(capsys, "render", cli_run, "--domain", "2", "x")
    assert_one_line_error(code, err, "not a number")
    code, _, err = run_cli(capsys, "render", cli_run, "--domain", "1", "-1", "--out", tmp_path / "r.png")
    assert_one_line_error(code, err, "increasing")


def test_methods_lists_tuner_and_siren(capsys):
    code, stdout, _ = run_cli(capsys, "methods")
    assert code == 0
    lines = stdout.strip().splitlines()
    assert [line.split()[0] for line in lines][:2] == ["tuner", "siren"]
    assert {"siren2", "ssn", "ffn", "finer", "wire", "gauss", "mfn"} <= {line.split()[0] for line in lines}
    assert "lr 0.0005" in lines[0] and "input_width" in lines[0] and "block_bounds" in lines[0]
    assert "lr 0.0001" in lines[1] and "first_omega" in lines[1]


def test_set_reaches_every_section_of_the_config(tmp_path, rgb_image, capsys):
    out = tmp_path / "set"
    code, _, err = run_cli(capsys, "fit", rgb_image, "--size", 32, "--out", out, "--steps", 4, "--quiet",
                           "--device", "cpu", "--set", "input_width=16", "--set", "options.hidden_width=8",
                           "--set", "train.log_every=1", "--set", "train.stop_psnr=300", "--set", "seed=3",
                           "--set", "holdout=0.1", "--set", "plateau_tolerance=0.01", "--set", "signal.size=24",
                           "--set", "band_fraction=0.4")
    assert code == 0, err
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["options"]["input_width"] == 16 and config["options"]["hidden_width"] == 8
    assert config["train"]["log_every"] == 1 and config["train"]["stop_psnr"] == 300.0
    assert config["train"]["plateau_tolerance"] == 0.01 and config["train"]["steps"] == 4
    assert (config["seed"], config["holdout"], config["signal"]["size"]) == (3, 0.1, 24)
    assert [int(row.split(",")[0]) for row in (out / "log.csv").read_text().splitlines()[1:]] == [1, 2, 3, 4]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["grid_shape"] == [24, 24] and metrics["heldout_count"] == round(0.1 * 24 * 24)


def test_set_is_applied_after_the_dedicated_flags(tmp_path, rgb_image, capsys):
    out = tmp_path / "order"
    code, _, err = run_cli(capsys, "fit", rgb_image, "--size", 32, "--out", out, *TINY, "--steps", 3,
                           "--set", "train.steps=2", "--seed", 1, "--set", "seed=5")
    assert code == 0, err
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["train"]["steps"] == 2 and config["seed"] == 5


def test_fit_many_takes_the_same_overrides(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for index in range(2):
        write_png(images / f"im{index}.png", np.roll(smooth_rgb(32, 32), 3 * index, axis=1))
    common = ("--steps", 2, "--quiet", "--device", "cpu", "--full-size", "--set", "input_width=16",
              "--set", "hidden_width=8", "--set", "band_fraction=0.3", "--set", "train.log_every=1",
              "--set", "seed=2")
    code, _, err = run_cli(capsys, "fit-many", images, "--out", tmp_path / "runs", *common)
    assert code == 0, err
    for name in ("im0", "im1"):
        config = yaml.safe_load((tmp_path / "runs" / name / "config.yaml").read_text())
        assert config["train"]["log_every"] == 1 and config["seed"] == 2 and config["options"]["hidden_width"] == 8
        assert config["signal"]["size"] == 32
        assert len((tmp_path / "runs" / name / "log.csv").read_text().splitlines()) == 3
    code, _, err = run_cli(capsys, "fit-many", images, "--out", tmp_path / "x", *common, "--set", "signal.path=a.png")
    assert_one_line_error(code, err, "signal.path")
    assert not (tmp_path / "x").exists()


def test_fit_many_fits_sounds_cropped_to_one_length(tmp_path, capsys):
    import soundfile

    times = np.arange(4000) / 8000
    for index, length in enumerate((4000, 3000)):  # different lengths: --samples makes them one shape
        soundfile.write(tmp_path / f"tone{index}.wav", 0.5 * np.sin(2 * np.pi * (200 + 90 * index) * times[:length]),
                        8000)
    common = ("--steps", 2, "--device", "cpu", "--set", "input_width=32", "--set", "hidden_width=8",
              "--out", tmp_path / "runs")
    code, _, err = run_cli(capsys, "fit-many", tmp_path / "tone0.wav", tmp_path / "tone1.wav", *common)
    assert_one_line_error(code, err, "equal shape", "4000 samples at 8000 Hz", "--samples")
    code, out, err = run_cli(capsys, "fit-many", tmp_path / "tone0.wav", tmp_path / "tone1.wav", *common,
                             "--samples", 2500)
    assert code == 0, err
    assert "(2500 samples at 8000 Hz)" in out and "SNR" in out and "SSIM" not in out and "nan" not in out
    for name in ("tone0", "tone1"):
        metrics = json.loads((tmp_path / "runs" / name / "metrics.json").read_text())
        assert metrics["grid_shape"] == [2500] and f"{metrics['snr']:.2f}" in out


def test_parse_overrides():
    assert parse_overrides(["a=1", "b=[1.0, 0.4]", "c=clamp", "d=null", "e = 2.5"]) == {
        "a": 1, "b": [1.0, 0.4], "c": "clamp", "d": None, "e": 2.5}
    with pytest.raises(SinetuneError, match="KEY=VALUE"):
        parse_overrides(["=3"])
    with pytest.raises(SinetuneError, match="cannot parse"):
        parse_overrides(["a=[1,"])


def test_holdout_zero_trains_on_every_pixel(tmp_path, rgb_image, capsys):
    code, stdout, _ = run_cli(capsys, "fit", rgb_image, "--size", 32, "--holdout", 0, "--out", tmp_path / "all", *TINY)
    assert code == 0
    metrics = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert metrics["heldout_psnr"] is None and metrics["heldout_count"] == 0
    assert metrics["train_psnr"] == pytest.approx(metrics["full_psnr"])
    assert "held-out PSNR" not in stdout


@pytest.mark.parametrize("overrides", [["hidden_omega=0"], ["hidden_omega=-30"],
                                       ["block_limits=[3,2]", "block_bounds=[1.0,0.5,0.2]"]],
                         ids=["omega-zero", "omega-negative", "limits-decreasing"])
def test_invalid_tuner_options_are_one_line_errors(tmp_path, rgb_image, capsys, overrides):
    sets = [item for pair in overrides for item in ("--set", pair)]
    code, _, err = run_cli(capsys, "fit", rgb_image, "--size", 32, "--out", tmp_path / "o", *TINY, *sets)
    assert_one_line_error(code, err)
    assert not (tmp_path / "o").exists()


def test_allocator_tuning_can_be_disabled(monkeypatch):
    from sinetune.runtime import tune_cpu_allocator

    monkeypatch.setenv("SINETUNE_MALLOC", "system")
    assert tune_cpu_allocator() is False


def test_fit_keeps_a_small_image_and_downsamples_a_large_one_by_default(tmp_path, capsys):
    from sinetune.cli import build_parser, fit_config

    parse = build_parser().parse_args
    assert fit_config(parse(["fit", "x.png"])).signal.size is None
    assert fit_config(parse(["fit", "x.png"])).signal.max_size == 256
    full = fit_config(parse(["fit", "x.png", "--full-size"])).signal
    assert (full.size, full.max_size) == (None, None)
    large = write_png(tmp_path / "large.png", smooth_rgb(150, 300))
    code, _, err = run_cli(capsys, "fit", large, "--out", tmp_path / "large", *TINY, "--set", "signal.max_size=60",
                           "--set", "band_fraction=0.3")
    assert code == 0, err
    metrics = json.loads((tmp_path / "large" / "metrics.json").read_text())
    assert metrics["grid_shape"] == [30, 60]  # downsampled to the limit, never upsampled
    assert metrics["derived"].startswith("image 300×150 downsampled to 60×30 (longer side above the 60-pixel")
    assert yaml.safe_load((tmp_path / "large" / "config.yaml").read_text())["signal"]["size"] == 60  # re-runs alike
