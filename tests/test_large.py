"""Large signals (issue #5): chunked evaluation equals one pass, mini-batch fits, ``--batch-size``.

Every function that evaluates a field in chunks is checked on small grids with tiny chunks against a
single chunk holding every point: equal within float32 rounding (``EQUAL``), coordinates bit for bit.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, build, run_cli
from PIL import Image

import sinetune
from sinetune import SinetuneError, TrainOptions, TunerOptions
from sinetune.config import config_from_dict
from sinetune.metrics import field_gradient, gradient_psnr, psnr, ssim
from sinetune.render import render_field
from sinetune.runs import load_run, render_run, run
from sinetune.signals import grid_coordinate_chunks, grid_coordinates, image_from_array
from sinetune.training import EVAL_CHUNK, predict

#: Chunked against unchunked: the same float32 network on the same points, rows summed in another
#: blocking at most, so differences are float32 rounding.
EQUAL = {"rtol": 1e-5, "atol": 1e-6}
TINY = TunerOptions(input_width=16, hidden_width=16, band_fraction=0.3)


@pytest.fixture(scope="module")
def field():
    """A small TUNER field with two hidden layers (RGB)."""
    _, built = build("tuner", replace(TINY, hidden_layers=2), grid_shape=(24, 32))
    return built.field


@pytest.mark.parametrize("grid_shape", [(7,), (5, 9), (2, 3, 4)])
@pytest.mark.parametrize("chunk", [1, 4, 7, 1000])
def test_grid_coordinate_chunks_are_the_grid_bit_for_bit(grid_shape, chunk):
    domain = (-2.0, 1.5)
    pieces = list(grid_coordinate_chunks(grid_shape, domain, chunk))
    assert [start for start, _ in pieces] == list(range(0, math.prod(grid_shape), chunk))
    assert all(len(piece) <= chunk for _, piece in pieces)
    assert torch.equal(torch.cat([piece for _, piece in pieces]), grid_coordinates(grid_shape, domain))


def test_grid_coordinate_chunks_refuse_a_non_positive_chunk():
    with pytest.raises(ValueError, match="chunk"):
        next(grid_coordinate_chunks((4, 4), (-1.0, 1.0), 0))


def test_predict_chunked_equals_one_chunk(field):
    coords = grid_coordinates((24, 32))
    one = predict(field, coords, chunk=len(coords))
    for chunk in (3, 5, 100):
        torch.testing.assert_close(predict(field, coords, chunk=chunk), one, **EQUAL)
    assert predict(field, coords[:0], chunk=3).shape == (0, 3)
    with pytest.raises(ValueError, match="chunk"):
        predict(field, coords, chunk=0)


@pytest.mark.parametrize("domain", [(-1.0, 1.0), (-2.0, 2.0)])
def test_render_field_chunked_equals_one_chunk(field, domain):
    one = render_field(field, (24, 32), domain, chunk=24 * 32)
    assert one.shape == (24, 32, 3) and one.dtype == np.float32
    direct = field(grid_coordinates((24, 32), domain)).detach().numpy().reshape(24, 32, 3)
    np.testing.assert_allclose(one, direct, **EQUAL)
    for chunk in (3, 7, 100):
        np.testing.assert_allclose(render_field(field, (24, 32), domain, chunk=chunk), one, **EQUAL)


def test_render_field_chunked_on_a_1d_grid():
    _, built = build("tuner", replace(TINY, input_width=6), grid_shape=(50,), channels=1)
    one = render_field(built.field, (50,), chunk=50)
    assert one.shape == (50, 1)
    np.testing.assert_allclose(render_field(built.field, (50,), chunk=3), one, **EQUAL)


def test_field_gradient_chunked_equals_one_chunk(field):
    one = field_gradient(field, (24, 32), chunk=24 * 32)
    for chunk in (3, 7, 100):
        chunked = field_gradient(field, (24, 32), chunk=chunk)
        for axis in range(2):
            np.testing.assert_allclose(chunked[axis], one[axis], **EQUAL)
    # and both are the gradient of the whole grid in one autograd pass (pixel units)
    points = grid_coordinates((24, 32)).requires_grad_(True)
    luma = field(points) @ torch.tensor((0.2126, 0.7152, 0.0722))
    (whole,) = torch.autograd.grad(luma.sum(), points)
    np.testing.assert_allclose(one[0], whole[:, 0].reshape(24, 32).double().numpy() * 2 / 31, **EQUAL)
    np.testing.assert_allclose(one[1], whole[:, 1].reshape(24, 32).double().numpy() * 2 / 23, **EQUAL)


def test_field_gradient_works_under_no_grad(field):
    with torch.no_grad():
        inside = field_gradient(field, (6, 5), chunk=4)
    outside = field_gradient(field, (6, 5), chunk=4)
    np.testing.assert_array_equal(inside[0], outside[0])


def test_eval_chunk_is_validated_and_read_from_a_config():
    with pytest.raises(SinetuneError, match="eval_chunk"):
        TrainOptions(eval_chunk=0).validate()
    assert TrainOptions().eval_chunk == EVAL_CHUNK
    assert config_from_dict({"train": {"eval_chunk": 100, "batch_size": 64}}).train.eval_chunk == 100


@pytest.fixture(scope="module")
def minibatch_runs(tmp_path_factory, request):
    """The same mini-batch fit twice — evaluated 37 points at a time and in one chunk."""
    from conftest import smooth_rgb, write_png

    root = tmp_path_factory.mktemp("large")
    image = write_png(root / "smooth.png", smooth_rgb(24, 32))
    results = {}
    for chunk in (37, 24 * 32):
        train = TrainOptions(steps=12, batch_size=100, log_every=4, eval_chunk=chunk)
        results[chunk] = sinetune.fit(str(image), "tuner", size=None, options=TINY, train_options=train, seed=2,
                                      holdout=0.1, device="cpu", out=root / "run" if chunk == 37 else None)
    return results


def test_minibatch_fit_with_small_chunks_matches_a_direct_computation(minibatch_runs):
    result = minibatch_runs[37]
    metrics = result.metrics
    assert result.config.train.batch_size == 100 and metrics["steps"] == 12
    for key in ("train_psnr", "heldout_psnr", "full_psnr", "ssim", "gradient_psnr", "gradient_psnr_paper"):
        assert math.isfinite(metrics[key]), key
    # direct: the whole grid in one forward pass / one autograd pass
    target = result.signal.values
    prediction = result.field(result.signal.coords()).detach().numpy()
    flat = target.reshape(-1, 3)
    mask = result.heldout
    assert metrics["heldout_psnr"] == pytest.approx(psnr(prediction[mask], flat[mask]), abs=1e-4)
    assert metrics["train_psnr"] == pytest.approx(psnr(prediction[~mask], flat[~mask]), abs=1e-4)
    assert metrics["full_psnr"] == pytest.approx(psnr(prediction, flat), abs=1e-4)
    assert metrics["ssim"] == pytest.approx(ssim(prediction.reshape(target.shape), target), abs=1e-6)
    assert metrics["gradient_psnr"] == pytest.approx(gradient_psnr(result.field, target), abs=1e-4)
    assert result.history[-1]["heldout_psnr"] == pytest.approx(metrics["heldout_psnr"], abs=1e-4)
    with Image.open(result.run_dir / "reconstruction.png") as png:
        written = np.asarray(png)
    assert np.abs(written.astype(int) - image_from_array(prediction.reshape(target.shape)).astype(int)).max() <= 1


def test_eval_chunk_does_not_change_a_run(minibatch_runs):
    small, whole = minibatch_runs[37], minibatch_runs[24 * 32]
    for name, parameter in small.field.state_dict().items():  # eval_chunk never touches training
        torch.testing.assert_close(parameter, whole.field.state_dict()[name], rtol=0, atol=0)
    for key, value in small.metrics.items():
        if isinstance(value, float) and key not in ("seconds_per_step_median", "train_seconds"):
            assert value == pytest.approx(whole.metrics[key], abs=1e-5), key
    for row, other in zip(small.history, whole.history):
        assert row["heldout_psnr"] == pytest.approx(other["heldout_psnr"], abs=1e-5)


def test_render_run_uses_the_runs_eval_chunk(minibatch_runs, tmp_path):
    result = minibatch_runs[37]
    fitted, config, _ = load_run(result.run_dir)
    assert config.train.eval_chunk == 37
    out = render_run(result.run_dir, size=40, out=tmp_path / "render.png")
    with Image.open(out) as png:
        rendered = np.asarray(png).astype(int)
    expected = image_from_array(render_field(fitted, (30, 40), chunk=30 * 40)).astype(int)
    assert np.abs(rendered - expected).max() <= 1


def test_full_batch_and_minibatch_runs_share_the_pipeline(tmp_path):
    """A batch at least the training set is full batch: same weights as the full batch (the default at this size)."""
    from conftest import smooth_rgb

    from sinetune.signals import Signal

    signal = Signal(smooth_rgb(24, 32).astype(np.float32) / 255, "smooth")
    config = config_from_dict({"options": {"input_width": 16, "hidden_width": 16, "band_fraction": 0.3},
                               "train": {"steps": 4, "eval_chunk": 10}, "device": "cpu", "holdout": 0.1})
    full = run(config, signal=signal)
    batch = run(replace(config, train=replace(config.train, batch_size=10_000)), signal=signal)
    assert full.metrics["full_psnr"] == pytest.approx(batch.metrics["full_psnr"], abs=1e-6)


# --- the CLI flag --------------------------------------------------------------------------------

CLI_TINY = ["--steps", "4", "--device", "cpu", "--set", "input_width=16", "--set", "hidden_width=16"]


@pytest.fixture
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("SINETUNE_MALLOC", "system")
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("_isolated")
def test_cli_batch_size_flag(tmp_path, rgb_image, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "fit", rgb_image, "--size", 32, "--batch-size", 200, "--out", out, *CLI_TINY)
    assert code == 0 and "4 steps" in stdout
    assert load_run(out)[1].train.batch_size == 200
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(math.isfinite(metrics[key]) for key in ("train_psnr", "heldout_psnr", "ssim", "gradient_psnr"))


@pytest.mark.usefixtures("_isolated")
@pytest.mark.parametrize("value", ["0", "-3"])
def test_cli_refuses_a_non_positive_batch_size(tmp_path, rgb_image, capsys, value):
    out = tmp_path / "run"
    code, _, stderr = run_cli(capsys, "fit", rgb_image, "--batch-size", value, "--out", out, *CLI_TINY)
    assert_one_line_error(code, stderr, "--batch-size", "positive")
    assert not out.exists()


@pytest.mark.usefixtures("_isolated")
def test_cli_refuses_a_non_integer_batch_size(rgb_image, capsys):
    code, _, stderr = run_cli(capsys, "fit", rgb_image, "--batch-size", "lots", *CLI_TINY)
    assert_one_line_error(code, stderr, "--batch-size")
