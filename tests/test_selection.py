"""TUNER's capacity chosen per signal by validation (:mod:`sinetune.selection`, issue #17)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli, smooth_rgb

import sinetune
from sinetune import SinetuneError, TrainOptions, TunerOptions, selection
from sinetune.config import load_config
from sinetune.runs import prepare_fit, run
from sinetune.signals import Signal

STEPS = TrainOptions(steps=3, log_every=3)
SELECT = TunerOptions(select="validation", select_steps=2, select_candidates=("rule", "h1024", "l2-db0.15"))


def image(n: int = 24) -> Signal:
    return Signal(smooth_rgb(n, n).astype(np.float32) / 255, "smooth")


def test_validation_split_is_a_seeded_tenth():
    first, again, other = (selection.validation_split(400, seed) for seed in (0, 0, 1))
    assert int(first.sum()) == 40 and torch.equal(first, again) and not torch.equal(first, other)
    assert int(selection.validation_split(3, 0).sum()) == 1
    with pytest.raises(SinetuneError, match="at least 2"):
        selection.validation_split(1, 0)


def test_choose_keeps_the_earlier_candidate_within_the_tie():
    names = ("rule", "h2048", "l2-db0.15")
    assert selection.choose(names, (20.0, 20.05, 20.1)) == "rule"  # neither beats 20 by more than 0.1 dB
    assert selection.choose(names, (20.0, 20.2, 20.25)) == "h2048"  # 20.25 is within 0.1 of 20.2
    assert selection.choose(names, (20.0, 20.2, 20.31)) == "l2-db0.15"
    assert selection.choose(names, (-math.inf, 10.0, 9.0)) == "h2048"


def test_the_search_sees_training_pixels_only(monkeypatch):
    """Every candidate trains and validates on disjoint parts of the training pixels, never the held-out."""
    import sinetune.training

    calls, real = [], sinetune.training.train

    def spy(field, coords, values, options, lr, *args, heldout=None, **kwargs):
        calls.append((coords.clone(), None if heldout is None else heldout[0].clone(), options.steps))
        return real(field, coords, values, options, lr, *args, heldout=heldout, **kwargs)

    monkeypatch.setattr(sinetune.training, "train", spy)
    signal = image()
    config = sinetune.RunConfig(signal=sinetune.SignalConfig(path="smooth"), method="tuner", options=SELECT,
                                train=STEPS, holdout=0.1, device="cpu")
    prepared = prepare_fit(config, signal)
    assert len(calls) == 3 and all(steps == 2 for *_, steps in calls)  # one short fit per candidate
    rows = lambda coords: {tuple(row) for row in coords.tolist()}  # noqa: E731
    train_coords, _, (held_coords, _) = prepared.training_data()
    for fit_coords, check_coords, _ in calls:
        assert not rows(fit_coords) & rows(check_coords)
        assert rows(fit_coords) | rows(check_coords) == rows(train_coords)
        assert not (rows(fit_coords) | rows(check_coords)) & rows(held_coords)
        assert len(check_coords) == round(0.1 * len(train_coords))
    assert prepared.config.options.selected in SELECT.select_candidates
    assert prepared.select_seconds > 0


def test_the_choice_is_deterministic_for_a_seed():
    def chosen(seed: int) -> tuple:
        options = run(sinetune.RunConfig(signal=sinetune.SignalConfig(path="smooth"), options=SELECT, train=STEPS,
                                         seed=seed, device="cpu"), signal=image()).config.options
        return options.selected, options.select_psnr, options.hidden_width, options.hidden_layers

    first = chosen(0)
    assert first == chosen(0) and len(first[1]) == 3 and all(math.isfinite(v) for v in first[1])
    assert first[1] != chosen(1)[1]


def test_a_saved_run_rebuilds_the_chosen_field_without_searching(tmp_path, monkeypatch):
    result = sinetune.fit(image(), options=SELECT, train_options=STEPS, device="cpu", out=tmp_path / "run")
    options = result.config.options
    saved = load_config(tmp_path / "run" / "config.yaml").options
    assert saved == options and saved.selected is not None and saved.hidden_width is not None
    chosen = selection.CANDIDATES[options.selected]
    assert all(getattr(options, key) == value for key, value in chosen.items())
    assert "validation chose " + options.selected in result.metrics["derived"]
    assert result.metrics["select_seconds"] > 0
    field, _, _ = sinetune.load_run(tmp_path / "run")
    for name, tensor in result.field.state_dict().items():
        assert torch.equal(field.state_dict()[name], tensor), name

    def no_search(*args, **kwargs):
        raise AssertionError("a recorded choice must not search again")

    monkeypatch.setattr(selection, "select", no_search)
    again = run(load_config(tmp_path / "run" / "config.yaml"), signal=image())
    assert again.metrics["heldout_psnr"] == result.metrics["heldout_psnr"]
    assert again.metrics["derived"] == result.metrics["derived"] and "select_seconds" not in again.metrics
    for name, tensor in result.field.state_dict().items():
        assert torch.equal(again.field.state_dict()[name], tensor), name


def test_the_chosen_candidate_fits_as_if_given(monkeypatch):
    """The search's winner, fitted on all training pixels, is the fit of that candidate's options given."""
    chosen = sinetune.fit(image(), options=SELECT, train_options=STEPS, device="cpu")
    name = chosen.config.options.selected
    given = sinetune.fit(image(), options=selection.candidate_options(TunerOptions(), name), train_options=STEPS,
                         device="cpu")
    assert given.metrics["heldout_psnr"] == chosen.metrics["heldout_psnr"]


def test_selection_works_on_a_sound():
    t = np.linspace(0, 1, 3000, dtype=np.float32)
    sound = Signal((0.8 * np.sin(2 * np.pi * 40 * t) * np.cos(2 * np.pi * 3 * t))[:, None], "tone",
                   sample_rate=3000)
    options = TunerOptions(select="validation", select_steps=2, select_candidates=("rule", "h1024"))
    result = sinetune.fit(sound, options=options, train_options=STEPS, device="cpu")
    assert result.config.options.selected in ("rule", "h1024") and "validation chose" in result.metrics["derived"]


def test_refusals(tmp_path):
    with pytest.raises(SinetuneError, match="leave hidden_width unset"):
        sinetune.fit(image(), options=TunerOptions(select="validation", hidden_width=64), train_options=STEPS,
                     device="cpu")
    with pytest.raises(SinetuneError, match="select_candidates"):
        sinetune.fit(image(), options=TunerOptions(select="validation", select_candidates=("rule", "wide")),
                     train_options=STEPS, device="cpu")
    with pytest.raises(SinetuneError, match="select must be"):
        sinetune.fit(image(), options=TunerOptions(select="yes"), train_options=STEPS, device="cpu")
    with pytest.raises(SinetuneError, match="fit-many stacks one shape"):
        sinetune.fit_many([image(), image()], options=SELECT, train_options=STEPS, device="cpu")
    with pytest.raises(SinetuneError, match="one validation PSNR per candidate"):
        sinetune.fit(image(), options=TunerOptions(selected="rule"), train_options=STEPS, device="cpu")


def test_cli_select_flag(tmp_path, rgb_image, capsys):
    code, _, err = run_cli(capsys, "fit", rgb_image, "--select", "validation", "--set", "select_steps=2", "--steps", 2,
                           "--device", "cpu", "--out", tmp_path / "run")
    assert code == 0, err
    assert load_config(tmp_path / "run" / "config.yaml").options.selected is not None
    code, _, err = run_cli(capsys, "fit", rgb_image, "--method", "siren", "--select", "validation",
                           "--out", tmp_path / "x")
    assert_one_line_error(code, err, "does not apply to --method siren")
