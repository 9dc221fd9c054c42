"""Run directories, checkpoints, re-runs and renders (runs.py, checkpoint.py, render.py)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import smooth_rgb, write_png
from PIL import Image
from safetensors import safe_open

import sinetune
from sinetune import SinetuneError, SirenOptions, TrainOptions, TunerOptions, load_config, load_image
from sinetune.checkpoint import load_field, save_field
from sinetune.render import render_field
from sinetune.runs import RUN_FILES, default_run_dir, load_run, prepare_run_dir, render_run, resolve_device
from sinetune.training import predict


def test_fit_writes_every_run_file(fitted_run):
    result, run_dir, image = fitted_run
    assert result.run_dir == run_dir
    for name in RUN_FILES:
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    assert set(result.paths) == {name.split(".")[0] for name in RUN_FILES}
    assert result.paths["report"] == run_dir / "report.html"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["grid_shape"] == [32, 32] and metrics["channels"] == 3 and metrics["steps"] == 20
    assert metrics["method"] == "tuner" and metrics["diverged"] is False
    assert metrics["heldout_count"] == round(0.1 * 1024)
    assert metrics["parameters"] == 16 + 16 * 16 + 16 + 16 * 3 + 3
    assert metrics["heldout_psnr"] == pytest.approx(result.metrics["heldout_psnr"])
    with Image.open(run_dir / "reconstruction.png") as png:
        assert png.size == (32, 32) and png.mode == "RGB"
    with (run_dir / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20]
    assert float(rows[-1]["heldout_psnr"]) == pytest.approx(result.history[-1]["heldout_psnr"])


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_the_checkpoint_has_the_permissions_of_every_other_run_file(tmp_path, fitted_run, umask):
    import os
    import stat

    result, _, _ = fitted_run
    old = os.umask(umask)
    try:
        save_field(result.field, tmp_path / "model.safetensors", "tuner", (32, 32), 3)
        (tmp_path / "other.txt").write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "other.txt").stat().st_mode) == 0o666 & ~umask


def test_metrics_are_consistent(fitted_run):
    result, _, _ = fitted_run
    metrics = result.metrics
    prediction = predict(result.field, result.signal.coords()).numpy()
    target = result.signal.values.reshape(-1, 3)
    mask = result.heldout
    mse = lambda m: float(np.mean((prediction[m] - target[m]) ** 2))  # noqa: E731
    assert metrics["heldout_psnr"] == pytest.approx(10 * math.log10(1 / mse(mask)), abs=1e-4)
    assert metrics["train_psnr"] == pytest.approx(10 * math.log10(1 / mse(~mask)), abs=1e-4)
    assert metrics["full_psnr"] == pytest.approx(10 * math.log10(1 / mse(np.ones_like(mask))), abs=1e-4)
    # the final log row's held-out PSNR is the same quantity
    assert result.history[-1]["heldout_psnr"] == pytest.approx(metrics["heldout_psnr"], abs=1e-4)
    assert 0 < metrics["ssim"] <= 1 and math.isfinite(metrics["gradient_psnr"])


def test_resolved_config_is_saved(fitted_run):
    result, run_dir, image = fitted_run
    config = load_config(run_dir / "config.yaml")
    assert config == result.config
    assert config.options.band_limit == 4 and config.options.low_range == 2 and config.options.block_limits == (2,)
    assert config.train.lr == 5e-4  # the method default is written out
    assert config.seed == 3 and config.holdout == 0.1 and config.signal.path == str(image)


def test_checkpoint_is_safetensors_with_metadata(fitted_run):
    _, run_dir, _ = fitted_run
    with safe_open(str(run_dir / "model.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
        keys = set(handle.keys())
    assert metadata["method"] == "tuner" and json.loads(metadata["grid_shape"]) == [32, 32]
    assert metadata["channels"] == "3" and metadata["format"] == "1"
    assert {"encoding.input_frequencies", "encoding.phases", "hidden.0.column_bounds", "head.weight"} <= keys


def test_load_run_reproduces_the_field(fitted_run):
    result, run_dir, _ = fitted_run
    field, config, info = load_run(run_dir)
    assert info == {"method": "tuner", "grid_shape": (32, 32), "channels": 3}
    assert not field.training
    expected = predict(result.field, result.signal.coords()).numpy().reshape(32, 32, 3)
    np.testing.assert_allclose(render_field(field, (32, 32)), expected, atol=1e-6, rtol=0)
    for name, tensor in result.field.state_dict().items():
        assert torch.equal(field.state_dict()[name], tensor), name


def test_rerun_from_saved_config_is_deterministic(fitted_run):
    result, run_dir, _ = fitted_run
    again = sinetune.run(load_config(run_dir / "config.yaml"))
    assert again.run_dir is None
    for key in ("heldout_psnr", "train_psnr", "full_psnr", "ssim", "gradient_psnr"):
        assert again.metrics[key] == pytest.approx(result.metrics[key], abs=1e-6), key
    np.testing.assert_array_equal(again.heldout, result.heldout)


def test_different_seed_gives_a_different_run(rgb_image, tiny_tuner_options):
    kwargs = dict(size=None, options=tiny_tuner_options, train_options=TrainOptions(steps=3), device="cpu")
    a = sinetune.fit(str(rgb_image), "tuner", seed=0, **kwargs)
    b = sinetune.fit(str(rgb_image), "tuner", seed=1, **kwargs)
    assert not np.array_equal(a.heldout, b.heldout)
    assert not torch.equal(a.field.encoding.phases, b.field.encoding.phases)


def test_existing_run_dir_is_not_touched(tmp_path, rgb_image, tiny_tuner_options):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(SinetuneError, match="already exists"):
        sinetune.fit(str(rgb_image), "tuner", size=None, options=tiny_tuner_options,
                     train_options=TrainOptions(steps=2), device="cpu", out=out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "precious"
    # --overwrite replaces sinetune runs only (issue #12): a folder with foreign files is kept
    with pytest.raises(SinetuneError, match="not one"):
        sinetune.fit(str(rgb_image), "tuner", size=None, options=tiny_tuner_options,
                     train_options=TrainOptions(steps=2), device="cpu", out=out, overwrite=True)
    assert (out / "keep.txt").read_text() == "precious"
    # a run is replaced by a new one
    run = tmp_path / "a-run"
    first = sinetune.fit(str(rgb_image), "tuner", size=None, options=tiny_tuner_options,
                         train_options=TrainOptions(steps=2), device="cpu", out=run)
    result = sinetune.fit(str(rgb_image), "tuner", size=None, options=tiny_tuner_options,
                          train_options=TrainOptions(steps=3), device="cpu", out=run, overwrite=True)
    assert result.run_dir == first.run_dir == run and load_config(run / "config.yaml").train.steps == 3


def test_invalid_input_does_not_create_the_run_dir(tmp_path, rgb_image):
    out = tmp_path / "never"
    with pytest.raises(SinetuneError, match="exceeds"):
        sinetune.fit(str(rgb_image), "tuner", size=None, options=TunerOptions(input_width=400),
                     train_options=TrainOptions(steps=2), device="cpu", out=out)
    assert not out.exists()


def test_prepare_and_default_run_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SinetuneError, match="not a directory"):
        prepare_run_dir(tmp_path / "file", overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with prepare_run_dir(empty, overwrite=False) as pending:  # an empty directory is fine
        assert pending.target == empty
    assert default_run_dir(tmp_path, "img", "tuner") == tmp_path / "img-tuner"
    (tmp_path / "img-tuner").mkdir()
    (tmp_path / "img-tuner-2").mkdir()
    assert default_run_dir(tmp_path, "img", "tuner") == tmp_path / "img-tuner-3"


def test_run_validation(rgb_image, tiny_tuner_options):
    base = sinetune.RunConfig(signal=sinetune.SignalConfig(str(rgb_image), None), options=tiny_tuner_options,
                              train=TrainOptions(steps=2), device="cpu")
    with pytest.raises(SinetuneError, match="holdout"):
        sinetune.run(replace(base, holdout=1.0))
    with pytest.raises(SinetuneError, match="steps"):
        sinetune.run(replace(base, train=TrainOptions(steps=0)))
    with pytest.raises(SinetuneError, match="SirenOptions"):
        sinetune.run(replace(base, method="siren"))
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(SinetuneError, match="no CUDA"):
            resolve_device("cuda")
        assert resolve_device("auto") == torch.device("cpu")


def test_siren_run_round_trip(tmp_path, rgb_image_wide):
    result = sinetune.fit(str(rgb_image_wide), "siren", size=None,
                          options=SirenOptions(input_width=16, hidden_width=16, hidden_layers=1),
                          train_options=TrainOptions(steps=3), device="cpu", out=tmp_path / "s")
    assert result.metrics["grid_shape"] == [24, 32]
    field, config, info = load_run(tmp_path / "s")
    assert config.method == "siren" and info["grid_shape"] == (24, 32)
    np.testing.assert_allclose(render_field(field, (24, 32)), render_field(result.field, (24, 32)), atol=1e-6)
    np.testing.assert_allclose(render_field(field, (24, 32)).reshape(-1, 3),
                               predict(result.field, result.signal.coords()).numpy(), atol=1e-6)


def test_fit_accepts_a_loaded_signal(rgb_image, tiny_tuner_options):
    signal = load_image(rgb_image)
    result = sinetune.fit(signal, "tuner", options=tiny_tuner_options, train_options=TrainOptions(steps=2),
                          device="cpu")
    assert result.signal is signal and result.metrics["grid_shape"] == [32, 32]


def test_config_of_a_resized_signal_reproduces_the_run(tmp_path):
    image = write_png(tmp_path / "big.png", smooth_rgb(48, 48))
    signal = load_image(image, size=32)
    result = sinetune.fit(signal, "tuner", options=TunerOptions(input_width=16, hidden_width=16),
                          train_options=TrainOptions(steps=2), device="cpu", out=tmp_path / "r")
    again = sinetune.run(load_config(tmp_path / "r" / "config.yaml"))
    assert again.metrics["grid_shape"] == result.metrics["grid_shape"] == [32, 32]


def test_save_and_load_field_errors(tmp_path, fitted_run):
    result, run_dir, _ = fitted_run
    save_field(result.field, tmp_path / "m.safetensors", "tuner", (32, 32), 3)
    field, info = load_field(tmp_path / "m.safetensors", result.config.options)
    assert info["grid_shape"] == (32, 32)
    assert not (tmp_path / "m.tmp").exists()  # atomic write leaves no temporary file
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(SinetuneError, match="cannot read checkpoint"):
        load_field(tmp_path / "junk.safetensors", result.config.options)
    wrong = replace(result.config.options, hidden_width=8)
    with pytest.raises(SinetuneError, match="does not match its config"):
        load_field(tmp_path / "m.safetensors", wrong)
    with pytest.raises(SinetuneError, match="no such run directory"):
        load_run(tmp_path / "nothing")
    with pytest.raises(SinetuneError, match="missing config.yaml"):
        load_run(tmp_path)


# --- renders ------------------------------------------------------------------------------------

def test_render_run_size_and_default_name(tmp_path, fitted_run):
    _, run_dir, _ = fitted_run
    out = render_run(run_dir, size=48, out=tmp_path / "big.png")
    with Image.open(out) as png:
        assert png.size == (48, 48)
    with pytest.raises(SinetuneError, match="already exists"):
        render_run(run_dir, size=48, out=tmp_path / "big.png")
    before = (tmp_path / "big.png").read_bytes()
    render_run(run_dir, size=20, out=tmp_path / "big.png", overwrite=True)
    assert (tmp_path / "big.png").read_bytes() != before
    for size in (1, 20000):
        with pytest.raises(SinetuneError, match="render size"):
            render_run(run_dir, size=size, out=tmp_path / "x.png")
    with pytest.raises(SinetuneError, match="increasing"):
        render_run(run_dir, domain=(1.0, -1.0), out=tmp_path / "y.png")


def test_render_on_the_training_grid_matches_the_reconstruction(fitted_run, tmp_path):
    _, run_dir, _ = fitted_run
    out = render_run(run_dir, out=tmp_path / "same.png")
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(run_dir / "reconstruction.png")))


def test_render_keeps_aspect(tmp_path, rgb_image_wide, tiny_tuner_options):
    sinetune.fit(str(rgb_image_wide), "tuner", size=None, options=tiny_tuner_options,
                 train_options=TrainOptions(steps=2), device="cpu", out=tmp_path / "w")
    out = render_run(tmp_path / "w", size=64)
    assert out == tmp_path / "w" / "render-48x64.png"
    with Image.open(out) as png:
        assert png.size == (64, 48)  # PIL size is (width, height)
    extrapolated = render_run(tmp_path / "w", domain=(-2.0, 2.0))
    assert extrapolated.name == "render-24x32-domain-2_2.png"


def test_tuner_render_is_periodic(fitted_run, tmp_path):
    result, run_dir, _ = fitted_run
    period = result.config.options.period  # 2.1
    size = 41  # spacing 4/40 = 0.1 on (-2, 2): one period is exactly 21 pixels
    shift = round(period / 0.1)
    values = render_field(load_run(run_dir)[0], (size, size), (-2.0, 2.0))
    np.testing.assert_allclose(values[:, shift:], values[:, :-shift], atol=1e-4)
    np.testing.assert_allclose(values[shift:, :], values[:-shift, :], atol=1e-4)
    assert np.abs(values[:, 10:] - values[:, :-10]).max() > 1e-2  # not trivially constant
    # the PNG written by render_run shows the same tiling (up to 8-bit rounding)
    png = np.asarray(Image.open(render_run(run_dir, size=size, domain=(-2.0, 2.0), out=tmp_path / "tile.png")),
                     dtype=np.int16)
    assert png.shape == (size, size, 3)
    assert np.abs(png[:, shift:] - png[:, :-shift]).max() <= 1
    assert np.abs(png[shift:, :] - png[:-shift, :]).max() <= 1
    # the centre of the extrapolated render is the training domain
    inner = render_field(result.field, (21, 21), (-1.0, 1.0))
    np.testing.assert_allclose(values[10:31, 10:31], inner, atol=1e-5)


def test_grayscale_run_end_to_end(tmp_path):
    gray_image = write_png(tmp_path / "gray.png", smooth_rgb(32, 32)[..., 1].copy())
    result = sinetune.fit(str(gray_image), "tuner", size=None, options=TunerOptions(input_width=16, hidden_width=16),
                          train_options=TrainOptions(steps=3), device="cpu", out=tmp_path / "g")
    assert result.signal.channels == 1 and result.field.out_features == 1
    assert result.metrics["parameters"] == 16 + 16 * 16 + 16 + 16 * 1 + 1
    assert math.isfinite(result.metrics["ssim"]) and math.isfinite(result.metrics["gradient_psnr"])
    with Image.open(tmp_path / "g" / "reconstruction.png") as png:
        assert png.mode == "L" and png.size == (32, 32)
    expected = predict(result.field, result.signal.coords()).numpy().reshape(32, 32)
    stored = np.asarray(Image.open(tmp_path / "g" / "reconstruction.png"), dtype=np.float64) / 255
    np.testing.assert_allclose(stored, np.clip(expected, 0, 1), atol=0.5 / 255 + 1e-6)
