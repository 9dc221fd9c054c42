"""Ensembles of independently seeded fields (sinetune.ensemble, ``RunConfig.ensemble``, ``fit --ensemble``)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import smooth_rgb, write_png

import sinetune
from sinetune import SinetuneError, TrainOptions, TunerOptions, load_image
from sinetune.cli import main
from sinetune.config import config_from_dict, config_to_dict
from sinetune.ensemble import EnsembleField, member_seed
from sinetune.render import render_field
from sinetune.tasks import TaskOptions

OPTIONS = TunerOptions(input_width=16, hidden_width=16, band_fraction=0.3)


def fit(image, ensemble: int, seed: int = 0, holdout: float = 0.0, steps: int = 6, **kwargs):
    config = sinetune.RunConfig(signal=sinetune.SignalConfig(path=str(image)), options=OPTIONS,
                                train=TrainOptions(steps=steps), seed=seed, holdout=holdout, device="cpu",
                                task=TaskOptions(task="denoise", noise=0.1, stop_factor=None), ensemble=ensemble)
    return sinetune.run(config, **kwargs)


@pytest.fixture
def image(tmp_path):
    return write_png(tmp_path / "a.png", smooth_rgb(24, 24))


def test_ensemble_output_is_the_mean_of_its_members(image):
    result = fit(image, 3)
    assert isinstance(result.field, EnsembleField) and len(result.field.members) == 3
    coords = result.signal.coords()
    with torch.no_grad():
        outputs = [member(coords) for member in result.field.members]
        np.testing.assert_allclose(result.field(coords).numpy(), torch.stack(outputs).mean(0).numpy(), atol=1e-6)
    assert result.metrics["ensemble"] == 3 and result.metrics["member_steps"] == [6, 6, 6]
    assert result.metrics["steps"] == 18  # every member's steps
    assert result.metrics["parameters"] == 3 * sum(p.numel() for p in result.field.members[0].parameters()
                                                   if p.requires_grad)


def test_members_differ_and_each_is_the_fit_of_its_member_seed(image):
    result = fit(image, 3, seed=5)
    states = [member.state_dict() for member in result.field.members]
    name = next(iter(states[0]))
    assert not torch.equal(states[0][name], states[1][name]) and not torch.equal(states[1][name], states[2][name])
    for index in (0, 2):  # member k is the plain fit with seed member_seed(seed, k) (no hold-out to differ)
        alone = fit(image, 1, seed=member_seed(5, index))
        for key, tensor in alone.field.state_dict().items():
            torch.testing.assert_close(states[index][key], tensor, rtol=0, atol=0)
    assert member_seed(5, 0) == 5 and len({member_seed(5, k) for k in range(8)}) == 8


def test_ensemble_of_one_is_the_plain_fit(image):
    plain, one = fit(image, 1, holdout=0.1), fit(image, 1, holdout=0.1)
    assert not isinstance(one.field, EnsembleField)
    assert plain.metrics["clean_psnr"] == one.metrics["clean_psnr"]
    two = fit(image, 2, holdout=0.1)  # member 0 of an ensemble is the plain fit; the hold-out split is the run's
    for key, tensor in plain.field.state_dict().items():
        torch.testing.assert_close(two.field.members[0].state_dict()[key], tensor, rtol=0, atol=0)
    np.testing.assert_array_equal(two.heldout, plain.heldout)
    assert "ensemble" not in plain.metrics and config_to_dict(plain.config)["ensemble"] == 1


def test_the_mean_is_no_further_from_the_clean_image_than_its_members_on_average(image):
    result = fit(image, 4, steps=60)
    clean = load_image(image).values.reshape(-1, 3)
    errors = [np.mean((render_field(m, (24, 24)).reshape(-1, 3) - clean) ** 2) for m in result.field.members]
    mean_error = np.mean((render_field(result.field, (24, 24)).reshape(-1, 3) - clean) ** 2)
    assert mean_error <= np.mean(errors)  # squared error of the mean ≤ the members' mean squared error (Jensen)
    assert result.metrics["clean_psnr"] == pytest.approx(10 * np.log10(1 / mean_error), abs=1e-3)


def test_saved_ensemble_rebuilds_exactly_without_the_signal(image, tmp_path):
    result = fit(image, 3, out=tmp_path / "run")
    expected = render_field(result.field, (24, 24))
    image.unlink()
    field, config, _ = sinetune.load_run(tmp_path / "run")
    assert config.ensemble == 3 and isinstance(field, EnsembleField) and len(field.members) == 3
    np.testing.assert_array_equal(render_field(field, (24, 24)), expected)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["ensemble"] == 3


def test_commands_that_need_one_field_refuse_an_ensemble(image, tmp_path, capsys):
    fit(image, 2, out=tmp_path / "run")
    with pytest.raises(SinetuneError, match="analyze needs one field, but .* is an ensemble of 2"):
        sinetune.load_run(tmp_path / "run", single="analyze")
    for argv in (["analyze", str(tmp_path / "run")],
                 ["prune", str(tmp_path / "run"), "--fraction", "0.25", "-o", str(tmp_path / "pruned")]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "is an ensemble of 2" in err and "Traceback" not in err
    assert not (tmp_path / "pruned").exists()
    assert main(["render", str(tmp_path / "run"), "--size", "12"]) == 0  # a render works on the mean


def test_ensemble_option_is_checked_and_round_trips(image, tmp_path, capsys):
    for bad in (0, -1, 65, 1.5, True, "two"):
        with pytest.raises(SinetuneError, match="ensemble must be a whole number of fields from 1 to 64"):
            config_from_dict({"ensemble": bad})
    config = config_from_dict({"ensemble": 4})
    assert config.ensemble == 4 and config_from_dict(config_to_dict(config)) == config
    with pytest.raises(SinetuneError, match="ensemble must be"):
        sinetune.run(replace(config_from_dict({"signal": {"path": str(image)}}), ensemble=0))
    assert main(["fit", str(image), "--ensemble", "0", "--out", str(tmp_path / "x")]) == 2
    assert "ensemble must be a whole number" in capsys.readouterr().err
    assert main(["fit-many", str(image), "--set", "ensemble=2", "--out", str(tmp_path / "many")]) == 2
    assert "fit-many trains one field per signal" in capsys.readouterr().err
    assert main(["fit", str(image), "--ensemble", "2", "--steps", "3", "--set", "hidden_width=8",
                 "--set", "input_width=8", "--device", "cpu", "--out", str(tmp_path / "cli")]) == 0
    assert sinetune.load_config(tmp_path / "cli" / "config.yaml").ensemble == 2
