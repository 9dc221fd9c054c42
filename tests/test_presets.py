"""Named TUNER settings: the robust default and the authors' 512² ``paper`` preset (tuner-spec Appendix A).

The preset exists twice on purpose — typed in Python (:data:`sinetune.methods.tuner.PAPER`,
``TunerOptions.preset("paper")``) and as the YAML run config ``sinetune/presets/tuner-paper.yaml``
for ``sinetune fit --config`` — and these tests keep the two equal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from conftest import build, run_cli

from sinetune import SinetuneError, TrainOptions, TunerOptions
from sinetune.config import RunConfig, SignalConfig
from sinetune.methods import tuner
from sinetune.presets import load_preset, preset_names, preset_path
from sinetune.spectral import nyquist_index


def test_presets_by_name():
    assert TunerOptions.preset("robust") == TunerOptions()
    assert TunerOptions.preset("paper") is tuner.PAPER
    with pytest.raises(SinetuneError, match="unknown TUNER preset 'fast'; choose one of: robust, paper"):
        TunerOptions.preset("fast")


def test_paper_preset_resolves_to_the_documented_numbers_at_512():
    options, built = build("tuner", TunerOptions.preset("paper"), grid_shape=(512, 512))
    # b = N/6 = 85 at p = 2.1, ≈ 0.3 of Nyquist (k_nyq = 2.1 · 511 / 4 = 268.3); the robust default's 0.2 gives 53
    assert options.band_limit == 85 == 512 // 6
    assert options.band_limit / nyquist_index(512, 2.1) == pytest.approx(0.317, abs=0.001)
    assert build("tuner", TunerOptions(), grid_shape=(512, 512))[0].band_limit == 53
    assert (options.input_width, options.hidden_width, options.hidden_layers) == (416, 416, 1)
    assert options.hidden_omega == 30.0
    assert (options.period, options.low_range, options.low_fraction) == (2.1, 10, 0.7)
    assert (options.bound_mode, options.block_limits, options.block_bounds, options.block_edge) == (
        "clamp", (10,), (1.0, 0.6), "lower")
    assert options.hidden_init == "tuner"
    k = built.field.encoding.input_frequencies.numpy()
    magnitude = np.abs(k).max(axis=1)
    assert k.shape == (416, 2) and len(np.unique(k, axis=0)) == 416 and magnitude.max() <= 85
    assert (magnitude <= 10).sum() == 220  # e_1, e_2 and the whole half-plane low square [0,10]×[-10,10] \ {0}
    bounds = built.field.hidden[0].column_bounds.numpy()
    assert set(bounds[magnitude <= 10]) == {1.0} and np.allclose(bounds[magnitude > 10], 0.6)
    # at another size the band follows the grid: N/6 again
    assert tuner.resolve(TunerOptions.preset("paper"), (256, 256)).band_limit == 42


def test_paper_training_settings():
    assert tuner.PAPER_TRAIN == TrainOptions(steps=1600, lr=1e-4, batch_size=65536)
    steps_per_epoch = math.ceil(0.95 * 512 ** 2 / 65536)  # the authors' sampler keeps the partial batch
    assert steps_per_epoch == 4 and 400 * steps_per_epoch == tuner.PAPER_TRAIN.steps


def test_the_packaged_yaml_is_the_python_preset():
    assert "tuner-paper" in preset_names()
    assert load_preset("tuner-paper") == RunConfig(signal=SignalConfig(size=512), method="tuner",
                                                   options=tuner.PAPER, train=tuner.PAPER_TRAIN, holdout=0.05)
    # every option is spelled out, so a change of the robust defaults cannot leak into the preset
    options = yaml.safe_load(preset_path("tuner-paper").read_text())["options"]
    assert set(options) == {f for f in TunerOptions.__dataclass_fields__}
    with pytest.raises(SinetuneError, match="unknown preset 'nope'"):
        preset_path("nope")


def test_paper_preset_through_the_cli_config_and_set(capsys, rgb_image, tmp_path):
    # --config loads the preset, --set and the flags override it (shrunk to a 32² image here)
    code, out, err = run_cli(capsys, "fit", rgb_image, "--config", preset_path("tuner-paper"), "--size", 32,
                             "--steps", 2, "--set", "input_width=16", "--set", "hidden_width=16",
                             "--set", "low_range=2", "--set", "block_limits=[2]", "--out", tmp_path / "run",
                             "--quiet")
    assert code == 0, err
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["lr"] == 1e-4 and saved["train"]["batch_size"] == 65536 and saved["train"]["steps"] == 2
    assert saved["options"]["band_fraction"] == 0.3175 and saved["options"]["block_bounds"] == [1.0, 0.6]
    assert saved["options"]["input_width"] == 16 and saved["options"]["low_range"] == 2
    assert saved["signal"]["size"] == 32 and saved["holdout"] == 0.05
