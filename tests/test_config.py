"""Run configuration round trips and validation (config.py)."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from sinetune import RunConfig, SignalConfig, SinetuneError, SirenOptions, TrainOptions, TunerOptions
from sinetune import config as config_module
from sinetune.config import apply_overrides, config_from_dict, config_to_dict, load_config, override_path, save_config

TUNER_CONFIG = RunConfig(
    signal=SignalConfig(path="/data/kodim03.png", size=64),
    method="tuner",
    options=TunerOptions(input_width=6, hidden_width=32, hidden_layers=2, period=4.0, band_limit=9, low_range=3,
                         input_frequencies=((1, 0), (0, 1), (1, 1), (2, -1), (9, 0), (0, -7)), bound_mode="learned",
                         block_limits=(3, 6), block_bounds=(1.2, 0.6, 0.3), deep_bound=None, bound_penalty=2e-5,
                         hidden_init="siren"),
    train=TrainOptions(steps=123, lr=2.5e-4, batch_size=512, log_every=7),
    seed=11,
    holdout=0.1,
    device="cpu",
)
SIREN_CONFIG = RunConfig(signal=SignalConfig(path="camera", size=None), method="siren",
                         options=SirenOptions(input_width=64, hidden_width=48, hidden_layers=2, first_omega=60.0),
                         train=TrainOptions(steps=5), seed=0, holdout=0.0, device="auto")


@pytest.mark.parametrize("config", [TUNER_CONFIG, SIREN_CONFIG, RunConfig()], ids=["tuner", "siren", "default"])
def test_round_trip(tmp_path, config):
    save_config(config, tmp_path / "config.yaml")
    loaded = load_config(tmp_path / "config.yaml")
    assert loaded == config
    assert type(loaded.options) is type(config.options)
    assert config_from_dict(config_to_dict(config)) == config


def test_saved_yaml_is_plain():
    data = config_to_dict(TUNER_CONFIG)
    text = yaml.safe_dump(data)  # only YAML-safe types (tuples became lists)
    assert data["options"]["input_frequencies"][4] == [9, 0]
    assert data["options"]["block_bounds"] == [1.2, 0.6, 0.3]
    assert yaml.safe_load(text) == data
    assert list(data) == ["signal", "method", "options", "train", "seed", "holdout", "device", "task", "ensemble"]


def test_defaults_from_an_empty_mapping(tmp_path):
    (tmp_path / "c.yaml").write_text("")  # an empty file is an error (issue #12), an empty mapping is not
    with pytest.raises(SinetuneError, match="is empty"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("{}\n")
    assert load_config(tmp_path / "d.yaml") == RunConfig()
    partial = config_from_dict({"method": "siren", "options": {"input_width": 8}})
    assert partial.options == SirenOptions(input_width=8)


def test_int_accepted_for_float_fields():
    config = config_from_dict({"train": {"lr": 1}, "options": {"period": 4, "block_bounds": [1, 0.4], "deep_bound": 2},
                               "holdout": 0})
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)
    assert config.options.period == 4.0 and isinstance(config.options.period, float)
    assert config.options.block_bounds == (1.0, 0.4) and all(isinstance(v, float) for v in config.options.block_bounds)
    assert config.options.deep_bound == 2.0 and isinstance(config.options.deep_bound, float)
    assert config.holdout == 0.0 and isinstance(config.holdout, float)


@pytest.mark.parametrize("data, key", [
    ({"sede": 1}, "sede"),
    ({"options": {"input_widht": 8}}, "input_widht"),
    ({"train": {"step": 8}}, "step"),
    ({"signal": {"paht": "a.png"}}, "paht"),
    ({"method": "siren", "options": {"period": 2.0}}, "period"),  # a TUNER option given to SIREN
])
def test_unknown_key_is_named(data, key):
    with pytest.raises(SinetuneError, match=f"unknown key.*{key}"):
        config_from_dict(data)


@pytest.mark.parametrize("data, where", [
    ({"options": {"input_width": "wide"}}, "options.input_width"),
    ({"options": {"input_width": 16.5}}, "options.input_width"),
    ({"train": {"lr": "fast"}}, "train.lr"),
    ({"train": {"steps": 1.5}}, "train.steps"),
    ({"signal": {"size": "big"}}, "signal.size"),
    ({"options": {"bound_mode": "soft"}}, "options.bound_mode"),
])
def test_wrong_type(data, where):
    with pytest.raises(SinetuneError) as info:
        config_from_dict(data)
    assert where in str(info.value)


@pytest.mark.parametrize("data, message", [
    ({"seed": "one"}, "seed"), ({"seed": True}, "seed"), ({"holdout": "x"}, "holdout"), ({"holdout": False}, "holdout"),
    ({"device": "tpu"}, "device"), ({"signal": "a.png"}, "mapping"), ({"train": 5}, "mapping"),
])
def test_top_level_validation(data, message):
    with pytest.raises(SinetuneError, match=message):
        config_from_dict(data)


@pytest.mark.parametrize("data", [{"train": {"steps": True}}, {"options": {"input_width": True}},
                                  {"train": {"lr": True}}, {"options": {"period": False}}],
                         ids=["steps", "input_width", "lr", "period"])
def test_bool_for_numeric_field_is_an_error(data):
    with pytest.raises(SinetuneError):
        config_from_dict(data)


def test_unknown_method():
    with pytest.raises(SinetuneError, match="unknown method 'nerf'"):
        config_from_dict({"method": "nerf"})


def test_load_config_file_errors(tmp_path):
    with pytest.raises(SinetuneError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("options: [unclosed\n")
    with pytest.raises(SinetuneError, match="cannot parse"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SinetuneError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SinetuneError, match="cannot parse"):
        load_config(tmp_path / "binary.yaml")


@pytest.mark.parametrize("key, method, path", [
    ("train.log_every", "tuner", ("train", "log_every")),
    ("options.hidden_width", "siren", ("options", "hidden_width")),
    ("hidden_width", "tuner", ("options", "hidden_width")),
    ("first_omega", "siren", ("options", "first_omega")),
    ("log_every", "tuner", ("train", "log_every")),
    ("size", "tuner", ("signal", "size")),
    ("seed", "tuner", ("seed",)),
    ("holdout", "mfn", ("holdout",)),
    ("device", "tuner", ("device",)),
])
def test_override_path(key, method, path):
    assert override_path(key, method) == path


@pytest.mark.parametrize("key, method, fragments", [
    ("period", "siren", ["unknown key 'period' for method siren", "first_omega", "log_every", "samples", "seed"]),
    ("trian.steps", "tuner", ["cannot set 'trian.steps'", "options, train, signal"]),
    ("train.", "tuner", ["cannot set"]),
    ("method", "tuner", ["method cannot be overridden"]),
])
def test_override_path_errors(key, method, fragments):
    with pytest.raises(SinetuneError) as info:
        override_path(key, method)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_a_bare_key_of_two_sections_is_ambiguous(monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Clashing:
        steps: int = 1

    monkeypatch.setattr(config_module, "_sections", lambda method: {"options": Clashing, "train": TrainOptions})
    with pytest.raises(SinetuneError, match="'steps' is ambiguous: write options.steps or train.steps"):
        override_path("steps")
    assert override_path("train.steps") == ("train", "steps")


def test_apply_overrides_copies_and_validation_is_config_from_dict():
    data = {"method": "siren", "options": {"hidden_width": 8}, "train": {"steps": 5}}
    result = apply_overrides(data, {"first_omega": 3000, "train.log_every": 1, "seed": 3, "signal.size": None})
    assert data == {"method": "siren", "options": {"hidden_width": 8}, "train": {"steps": 5}}  # not modified
    config = config_from_dict(result)
    assert config.options.hidden_width == 8 and config.options.first_omega == 3000.0
    assert (config.train.steps, config.train.log_every, config.seed, config.signal.size) == (5, 1, 3, None)
    with pytest.raises(SinetuneError, match="unknown key.*log_evry.*valid keys: steps, lr"):
        config_from_dict(apply_overrides({}, {"train.log_evry": 1}))
    with pytest.raises(SinetuneError, match="wrong type for 'train.log_every'"):
        config_from_dict(apply_overrides({}, {"train.log_every": "often"}))
    with pytest.raises(SinetuneError, match="unknown method 'nerf'"):
        apply_overrides({"method": "nerf"}, {"seed": 1})
