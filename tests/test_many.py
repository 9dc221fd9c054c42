"""``fit_many`` / ``sinetune fit-many``: N equal-shape signals as one stacked model, every method.

The tolerance under test: after the same steps from the same seed, every parameter and the outputs
on the whole grid within 1e-5 of N separate ``sinetune.fit`` calls, every metric within 1e-3 dB (or
1e-5 for SSIM), the same logged steps, stopping reasons and step counts. (On this CPU the two are
usually bit-identical; batched matrix products may sum in another order, ~1e-7 per step.)
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png

import sinetune
from sinetune import SirenOptions, TrainOptions, TunerOptions
from sinetune.config import RunConfig, SignalConfig
from sinetune.many import fit_many
from sinetune.methods import (
    BaconOptions,
    FfnOptions,
    FinerOptions,
    GaussOptions,
    MfnOptions,
    Siren2Options,
    SsnOptions,
    WireOptions,
)
from sinetune.runs import RUN_FILES, prepare_fit
from sinetune.signals import find_signals, grid_coordinates
from sinetune.stacking import rebind, stack_fields, unstack_into
from sinetune.training import train

ATOL = 1e-5
METRIC_ATOL_DB = 1e-3
TINY_TUNER = TunerOptions(input_width=16, hidden_width=16, band_fraction=0.3)


def distinct_images(directory, count=3, height=24, width=24):
    """``count`` different smooth RGB PNGs of one shape: ``im0.png``, ``im1.png``, …"""
    paths = []
    for index in range(count):
        array = np.roll(smooth_rgb(height, width), 4 * index, axis=1)
        array[..., index % 3] = 255 - array[..., index % 3]
        paths.append(write_png(directory / f"im{index}.png", array))
    return paths


def separate_fits(paths, method, options, train_options, seed=3, holdout=0.1):
    return [sinetune.fit(str(path), method, size=None, options=options, train_options=train_options, seed=seed,
                         holdout=holdout, device="cpu") for path in paths]


def without_time(history):
    return [{key: value for key, value in row.items() if key != "elapsed_s"} for row in history]


#: WIRE's window ``exp(−|s₀ z|²)`` with s₀ = 30 amplifies float rounding in ``z`` by ~2 s₀² |z|: its
#: outputs are held to 1e-4 (parameters still to 1e-5).
OUTPUT_ATOL = {"wire": 1e-4}


def assert_same_fit(batched, separate):
    assert batched.config == separate.config
    np.testing.assert_array_equal(batched.heldout, separate.heldout)
    for (name, a), (_, b) in zip(batched.field.named_parameters(), separate.field.named_parameters()):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=name)
    coords = grid_coordinates(batched.signal.grid_shape)
    atol = OUTPUT_ATOL.get(batched.config.method, ATOL)
    with torch.no_grad():
        torch.testing.assert_close(batched.field(coords), separate.field(coords), atol=atol, rtol=0)
    for key in ("train_psnr", "heldout_psnr", "full_psnr", "gradient_psnr", "gradient_psnr_paper"):
        assert batched.metrics[key] == pytest.approx(separate.metrics[key], abs=METRIC_ATOL_DB), key
    assert batched.metrics["ssim"] == pytest.approx(separate.metrics["ssim"], abs=1e-5)
    for key in ("steps", "diverged", "stopped_early", "parameters"):
        assert batched.metrics[key] == separate.metrics[key], key
    assert [row["step"] for row in batched.history] == [row["step"] for row in separate.history]
    for row_a, row_b in zip(without_time(batched.history), without_time(separate.history)):
        for key in row_a:
            assert row_a[key] == pytest.approx(row_b[key], abs=METRIC_ATOL_DB, nan_ok=True), key


@pytest.mark.parametrize("method, options, batch_size", [
    ("tuner", TINY_TUNER, None),
    ("tuner", TINY_TUNER, 150),  # mini-batches: the order a separate fit with the same seed draws
    ("tuner", TunerOptions(input_width=16, hidden_width=12, band_fraction=0.3, hidden_layers=2,
                           bound_mode="learned"), None),  # learned bounds + penalty, a 2nd bounded layer
    ("siren", SirenOptions(input_width=16, hidden_width=16, hidden_layers=2), None),
    ("siren2", Siren2Options(input_width=16, hidden_width=16, hidden_layers=2), None),  # per-signal noise scales
    ("ssn", SsnOptions(input_width=16, hidden_width=16, hidden_layers=1), None),
    ("ffn", FfnOptions(input_width=16, hidden_width=16, hidden_layers=1), None),
    ("finer", FinerOptions(input_width=16, hidden_width=16, hidden_layers=1), None),
    ("wire", WireOptions(input_width=16, hidden_width=16, hidden_layers=1), None),  # complex weights
    ("gauss", GaussOptions(input_width=16, hidden_width=16, hidden_layers=1), None),
    ("mfn", MfnOptions(input_width=16, hidden_width=16, hidden_layers=1), 150),
    ("bacon", BaconOptions(input_width=16, hidden_width=16, hidden_layers=2), None),  # per-signal frozen frequencies
])
def test_fit_many_equals_separate_fits(tmp_path, method, options, batch_size):
    paths = distinct_images(tmp_path)
    train_options = TrainOptions(steps=10, log_every=5, batch_size=batch_size)
    batched = fit_many(paths, method, size=None, options=options, train_options=train_options, seed=3,
                       holdout=0.1, device="cpu")
    separate = separate_fits(paths, method, options, train_options)
    assert len(batched) == 3
    for one, other in zip(batched, separate):
        assert_same_fit(one, other)
    # the signals really are fitted separately (different targets, different weights)
    assert len({round(result.metrics["train_psnr"], 6) for result in batched}) == 3
    assert all(result.metrics["batched_signals"] == 3 for result in batched)


def test_groups_give_the_same_fits(tmp_path):
    paths = distinct_images(tmp_path)
    train_options = TrainOptions(steps=6, log_every=3)
    whole = fit_many(paths, "tuner", size=None, options=TINY_TUNER, train_options=train_options, seed=3, holdout=0.1,
                     device="cpu")
    grouped = fit_many(paths, "tuner", size=None, options=TINY_TUNER, train_options=train_options, seed=3,
                       holdout=0.1, device="cpu", group_size=2)
    assert [result.metrics["batched_signals"] for result in grouped] == [2, 2, 1]
    for one, other in zip(grouped, whole):
        assert_same_fit(one, other)
    with pytest.raises(sinetune.SinetuneError, match="group size"):
        fit_many(paths, "tuner", size=None, options=TINY_TUNER, group_size=0)


def test_per_signal_early_stopping_matches_separate_fits(tmp_path):
    paths = distinct_images(tmp_path)
    probe = fit_many(paths, "tuner", size=None, options=TINY_TUNER, train_options=TrainOptions(steps=30, log_every=2),
                     seed=3, holdout=0.1, device="cpu")
    reached = sorted(result.metrics["heldout_psnr"] for result in probe)
    assert reached[0] < reached[-1] - 0.1
    train_options = TrainOptions(steps=30, log_every=2, stop_psnr=(reached[0] + reached[-1]) / 2)
    batched = fit_many(paths, "tuner", size=None, options=TINY_TUNER, train_options=train_options, seed=3,
                       holdout=0.1, device="cpu")
    separate = separate_fits(paths, "tuner", TINY_TUNER, train_options)
    assert {result.metrics["stopped_early"] for result in batched} == {"psnr", None}
    assert min(result.metrics["steps"] for result in batched) < 30
    for one, other in zip(batched, separate):
        assert_same_fit(one, other)


def _prepared(paths, train_options, holdout=0.0):
    return [prepare_fit(RunConfig(SignalConfig(str(path), None), "tuner", TINY_TUNER, train_options, 3, holdout,
                                  "cpu")) for path in paths]


def test_divergence_is_per_signal_and_keeps_the_last_finite_weights(tmp_path):
    """Signal 0 blows up mid-run (caught by the next loss), signal 2 at the last step (caught by the
    final weight check); each ends exactly as its own ``train`` does, signal 1 is untouched."""
    paths = distinct_images(tmp_path)
    train_options = TrainOptions(steps=12, log_every=3)
    blow_up = {0: 5, 2: 12}  # signal → step after which its head bias becomes inf

    separate = []
    for index, prepared in enumerate(_prepared(paths, train_options)):
        coords, values, _ = prepared.training_data()

        def hook(step, field, index=index):
            if blow_up.get(index) == step:
                with torch.no_grad():
                    field.head.bias.fill_(math.inf)

        result = train(prepared.built.field, coords, values, train_options, prepared.config.train.lr,
                       prepared.built.constraints, prepared.built.penalties, generator=prepared.generator,
                       on_step=hook)
        separate.append((result, list(prepared.built.field.parameters())))

    prepared = _prepared(paths, train_options)
    fields = [entry.built.field for entry in prepared]
    model = stack_fields(fields)
    constraints = [rebind(item, fields[0], model) for item in prepared[0].built.constraints]
    coords = prepared[0].training_data()[0]
    values = torch.stack([entry.training_data()[1] for entry in prepared])

    def stacked_hook(step, stacked):
        for index, when in blow_up.items():
            if when == step:
                with torch.no_grad():
                    stacked.head.bias[index].fill_(math.inf)

    results = train(model, coords, values, train_options, prepared[0].config.train.lr, constraints,
                    generator=prepared[0].generator, on_step=stacked_hook)
    unstack_into(model, fields)
    assert [r.diverged for r in results] == [True, False, True]
    for (expected, parameters), result, field in zip(separate, results, fields):
        assert (result.diverged, result.stopped) == (expected.diverged, expected.stopped)
        assert len(result.step_seconds) == len(expected.step_seconds)
        assert without_time(result.history) == without_time(expected.history)
        for a, b in zip(field.parameters(), parameters):
            assert torch.isfinite(a).all()
            torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_batched_clamp_holds_after_every_step(tmp_path):
    paths = distinct_images(tmp_path)
    train_options = TrainOptions(steps=8, log_every=4, lr=2e-2)  # a large lr so the clamp binds
    prepared = _prepared(paths, train_options, holdout=0.1)
    fields = [entry.built.field for entry in prepared]
    model = stack_fields(fields)
    assert len(prepared[0].built.constraints) == 1 and not prepared[0].built.penalties
    constraints = [rebind(prepared[0].built.constraints[0], fields[0], model)]
    layer = model.hidden[0]
    bounds = torch.stack([field.hidden[0].column_bounds for field in fields])
    torch.testing.assert_close(layer.column_bounds, bounds[0])  # equal for one seed: one shared buffer
    assert model.encoding.phases.shape == (3, 16) and model.hidden[0].weight.shape == (3, 16, 16)
    binding = []

    def check(step, stacked):
        effective = stacked.hidden[0].effective_weight().detach()  # (B, out, in)
        limit = bounds.unsqueeze(1).expand_as(effective)
        assert (effective.abs() <= limit * (1 + 1e-6)).all(), f"step {step}"
        binding.append(bool((effective.abs() >= limit * (1 - 1e-6)).any()))

    coords = prepared[0].training_data()[0]
    values = torch.stack([entry.training_data()[1] for entry in prepared])
    train(model, coords, values, train_options, train_options.lr, constraints, generator=prepared[0].generator,
          on_step=check)
    assert len(binding) == 8 and any(binding)


def test_run_directories_reload(tmp_path):
    paths = distinct_images(tmp_path)
    results = fit_many(paths, "tuner", size=None, options=TINY_TUNER, train_options=TrainOptions(steps=5, log_every=5),
                       seed=1, device="cpu", out=tmp_path / "runs")
    for path, result in zip(paths, results):
        run_dir = tmp_path / "runs" / path.stem
        assert result.run_dir == run_dir
        assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["signal"] == path.stem and metrics["batched_signals"] == 3
        field, config, _ = sinetune.load_run(run_dir)
        assert config.signal.path == str(path.resolve()) and config.seed == 1
        coords = grid_coordinates((24, 24))
        with torch.no_grad():
            torch.testing.assert_close(field(coords), result.field(coords), atol=1e-6, rtol=0)
    # a saved config re-runs that one fit alone, to the same weights
    again = sinetune.run(sinetune.load_config(tmp_path / "runs" / "im1" / "config.yaml"))
    with torch.no_grad():
        torch.testing.assert_close(again.field(coords), results[1].field(coords), atol=ATOL, rtol=0)


def test_fit_many_accepts_loaded_signals_and_one_signal(tmp_path):
    paths = distinct_images(tmp_path, count=2)
    signals = [sinetune.load_image(path) for path in paths]
    train_options = TrainOptions(steps=4, log_every=2)
    batched = fit_many(signals[:1], "tuner", options=TINY_TUNER, train_options=train_options, seed=3, holdout=0.1,
                       device="cpu")
    assert_same_fit(batched[0], separate_fits(paths[:1], "tuner", TINY_TUNER, train_options)[0])


def test_find_signals(tmp_path):
    paths = distinct_images(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    assert find_signals([tmp_path]) == paths
    assert find_signals([str(tmp_path / "im[12].png"), paths[1], paths[0]]) == [paths[1], paths[2], paths[0]]


def test_cli_fit_many(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    distinct_images(tmp_path / "images", count=2)
    code, out, err = run_cli(capsys, "fit-many", tmp_path / "images", "--size", 24, "--steps", 3,
                             "--set", "input_width=16", "--set", "hidden_width=16", "--set", "band_fraction=0.3",
                             "--device", "cpu", "--out", tmp_path / "runs", "--group", 1)
    assert code == 0, err
    assert "in batched groups of 1" in out and "held-out PSNR" in out and "total:" in out
    assert {line.split()[0] for line in out.splitlines()[2:4]} == {"im0", "im1"}
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["im0", "im1"]
    code, out, err = run_cli(capsys, "render", tmp_path / "runs" / "im1", "--size", 32)
    assert code == 0, err


def test_cli_fit_many_errors(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    distinct_images(images, count=2)
    common = ("--steps", 2, "--set", "input_width=16", "--set", "band_fraction=0.3", "--device", "cpu", "--quiet")

    code, _, err = run_cli(capsys, "fit-many", str(images / "*.jpg"), *common)
    assert_one_line_error(code, err, "no files match")
    code, _, err = run_cli(capsys, "fit-many", tmp_path / "missing", *common)
    assert_one_line_error(code, err, "no such file or directory")
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "fit-many", tmp_path / "empty", *common)
    assert_one_line_error(code, err, "no images")
    code, _, err = run_cli(capsys, "fit-many", images, "--method", "nope", *common)
    assert_one_line_error(code, err, "unknown method")

    wide = tmp_path / "wide"
    wide.mkdir()
    write_png(wide / "a.png", smooth_rgb(24, 24))
    write_png(wide / "b.png", smooth_rgb(16, 24))
    code, _, err = run_cli(capsys, "fit-many", wide, "--size", 24, *common)
    assert_one_line_error(code, err, "equal shape", "16×24×3", "24×24×3")

    # an existing run directory is refused before anything is fitted or written
    (tmp_path / "runs" / "im1").mkdir(parents=True)
    (tmp_path / "runs" / "im1" / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, "fit-many", images, "--out", tmp_path / "runs", "--size", 24, *common)
    assert_one_line_error(code, err, "already exists", "--overwrite")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["im1"]
    assert (tmp_path / "runs" / "im1" / "keep.txt").read_text() == "mine"
    # --overwrite replaces sinetune runs only (issue #12): a folder with foreign files is kept
    code, _, err = run_cli(capsys, "fit-many", images, "--out", tmp_path / "runs", "--size", 24, "--overwrite",
                           *common)
    assert_one_line_error(code, err, "not one")
    assert (tmp_path / "runs" / "im1" / "keep.txt").read_text() == "mine"
    (tmp_path / "runs" / "im1" / "keep.txt").unlink()
    for _ in range(2):  # into the empty folder, then over the runs it made
        code, _, err = run_cli(capsys, "fit-many", images, "--out", tmp_path / "runs", "--size", 24, "--overwrite",
                               *common)
        assert code == 0, err


def test_keep_best_matches_separate_fits(tmp_path):
    paths = distinct_images(tmp_path)
    train_options = TrainOptions(steps=12, log_every=3, keep_best=True)
    batched = fit_many(paths, "tuner", size=None, options=TINY_TUNER, train_options=train_options, seed=3,
                       holdout=0.1, device="cpu")
    separate = separate_fits(paths, "tuner", TINY_TUNER, train_options)
    for one, other in zip(batched, separate):
        assert one.metrics["best_step"] == other.metrics["best_step"] is not None
        assert_same_fit(one, other)
