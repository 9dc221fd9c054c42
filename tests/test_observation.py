"""The area observation (sinetune.observation): the forward model of superres's block average."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import smooth_rgb

from sinetune import TrainOptions
from sinetune.config import RunConfig, config_from_dict, config_to_dict
from sinetune.corruptions import downsample, superres_coordinates
from sinetune.errors import SinetuneError
from sinetune.methods import SirenOptions, build_field
from sinetune.observation import AreaObserved, area_offsets
from sinetune.runs import prepare_fit, run
from sinetune.signals import Signal, grid_coordinates
from sinetune.tasks import TaskOptions, observed_field

SMALL = SirenOptions(input_width=16, hidden_width=16)


@pytest.mark.parametrize("low_shape, factor", [((9,), 2), ((6, 5), 2), ((4, 7), 3), ((3, 4, 5), 2)])
def test_area_observation_is_the_block_average_of_the_k_times_render(low_shape, factor):
    """For any field: mean over the offsets at the low-res coordinates == downsample(render at k×)."""
    built = build_field("siren", low_shape, 2, SMALL, generator=torch.Generator().manual_seed(3))
    field = built.field
    high = tuple(n * factor for n in low_shape)
    with torch.no_grad():
        rendered = torch.cat([field(coords) for _, coords in superres_coordinates(low_shape, factor)])
        observed = AreaObserved(field, low_shape, factor)(grid_coordinates(low_shape))
    expected = downsample(rendered.numpy().reshape(high + (2,)), factor).reshape(-1, 2)
    np.testing.assert_allclose(observed.numpy(), expected, atol=1e-5)


def test_offsets_are_centred_and_scaled_per_axis():
    offsets = area_offsets((5, 3), 2)  # columns: the last axis (3 samples) first
    assert offsets.shape == (4, 2)
    np.testing.assert_allclose(offsets.mean(0).numpy(), 0.0, atol=1e-7)
    np.testing.assert_allclose(sorted(set(offsets[:, 0].tolist())), [-0.5 / 2, 0.5 / 2])  # ±(1/2k)·2/(n−1), n = 3
    np.testing.assert_allclose(sorted(set(offsets[:, 1].tolist())), [-0.5 / 4, 0.5 / 4])  # n = 5


def test_only_superres_area_wraps_the_field():
    signal = Signal(values=smooth_rgb(16, 16).astype(np.float32) / 255.0, name="smooth")
    config = RunConfig(method="siren", options=SMALL, train=TrainOptions(steps=2), holdout=0.0, device="cpu",
                       task=TaskOptions(task="superres", factor=2, observation="area"))
    prepared = prepare_fit(config, signal)
    assert isinstance(observed_field(prepared.task, prepared.built.field), AreaObserved)
    point = prepare_fit(replace(config, task=TaskOptions(task="superres", factor=2)), signal)
    assert observed_field(point.task, point.built.field) is point.built.field


def test_a_superres_area_fit_runs_says_so_and_fits_the_block_means(tmp_path):
    signal = Signal(values=smooth_rgb(24, 32).astype(np.float32) / 255.0, name="smooth")
    low = downsample(signal.values, 2).reshape(-1, 3)

    def fitted(observation: str, out=None):
        task = TaskOptions(task="superres", factor=2, observation=observation)
        config = RunConfig(method="siren", options=SMALL, train=TrainOptions(steps=60, lr=1e-3, log_every=20),
                           holdout=0.0, device="cpu", task=task)
        result = run(config, out=out, signal=signal)
        with torch.no_grad():
            means = AreaObserved(result.field, (12, 16), 2)(grid_coordinates((12, 16))).numpy()
        return result, float(np.mean((means - low) ** 2))

    area, area_error = fitted("area", tmp_path / "run")
    _, point_error = fitted("point")
    assert "as the mean over each sample's 4 high-resolution positions" in area.metrics["derived"]
    assert np.isfinite(area.metrics["clean_psnr"]) and area.signal.grid_shape == (12, 16)
    assert config_from_dict(config_to_dict(area.config)).task.observation == "area"
    assert area_error < point_error  # it minimised the forward model's error, the point fit did not


@pytest.mark.parametrize("task, message", [
    (TaskOptions(task="denoise", noise=0.1, observation="area"), "applies to --task superres"),
    (TaskOptions(task="superres", factor=2, observation="box"), "observation must be one of point, area"),
])
def test_bad_observations_are_one_line_errors(task, message):
    with pytest.raises(SinetuneError, match=message):
        task.validate()


def test_solve_head_refuses_the_area_model():
    signal = Signal(values=smooth_rgb(16, 16).astype(np.float32) / 255.0, name="smooth")
    config = RunConfig(method="siren", options=SMALL, train=TrainOptions(steps=2, solve_head=True), holdout=0.0,
                       device="cpu", task=TaskOptions(task="superres", factor=2, observation="area"))
    with pytest.raises(SinetuneError, match="solve_head"):
        prepare_fit(config, signal)
