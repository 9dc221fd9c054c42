"""Corruptions (sinetune.corruptions): noise levels, masks of any grid, area downsampling, the k× positions."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_png

from sinetune.corruptions import (
    box_mask,
    crop_to_multiple,
    downsample,
    estimate_noise_sigma,
    random_mask,
    read_mask,
    sigma_for_snr,
    superres_coordinates,
)
from sinetune.errors import SinetuneError
from sinetune.signals import Signal
from sinetune.tasks import TaskOptions, prepare_task


def test_noise_level_and_snr():
    rng = np.random.default_rng(0)
    values = rng.random((64, 64, 3)).astype(np.float32)
    noisy = prepare_task(TaskOptions(task="denoise", noise=0.1), Signal(values, "x")).signal.values
    assert np.std(noisy - values) == pytest.approx(0.1, rel=0.02)
    sigma = sigma_for_snr(values, 20.0)
    assert 10 * np.log10(np.sum(values.astype(np.float64) ** 2) / (sigma ** 2 * values.size)) == pytest.approx(20.0)
    assert estimate_noise_sigma(rng.standard_normal((128, 128, 1)) * 0.05) == pytest.approx(0.05, rel=0.1)
    assert estimate_noise_sigma(rng.standard_normal((8192, 1)) * 0.05) == pytest.approx(0.05, rel=0.1)  # audio


def test_masks_random_boxes_and_gaps():
    rng = np.random.default_rng(0)
    mask = random_mask((10, 10), 0.37, rng)
    assert mask.shape == (10, 10) and mask.sum() == 37
    boxes = box_mask((64, 64), 0.3, np.random.default_rng(1), box_size=0.25)
    assert boxes.mean() >= 0.3 and boxes.mean() < 0.6
    gaps = box_mask((1000,), 0.1, np.random.default_rng(2), box_size=0.02)
    assert gaps.mean() >= 0.1
    edges = np.flatnonzero(np.diff(gaps.astype(int)) == 1)
    assert len(edges) < 0.1 * 1000 / 5  # contiguous gaps (each ≥ 5 samples), not scattered samples
    volume = box_mask((8, 8, 8), 0.2, np.random.default_rng(3), box_size=0.5)  # any dimension
    assert volume.shape == (8, 8, 8) and volume.mean() >= 0.2


def test_read_mask_png_and_npy(tmp_path):
    mask = np.zeros((6, 8), dtype=bool)
    mask[1:3, 2:5] = True
    png = write_png(tmp_path / "mask.png", (mask * 255).astype(np.uint8))
    np.save(tmp_path / "mask.npy", mask)
    assert np.array_equal(read_mask(png, (6, 8)), mask)
    assert np.array_equal(read_mask(tmp_path / "mask.npy", (6, 8)), mask)
    assert np.array_equal(read_mask(write_png(tmp_path / "rgb.png", np.repeat((mask * 255).astype(np.uint8)[..., None],
                                                                         3, axis=-1)), (6, 8)), mask)
    with pytest.raises(SinetuneError, match="has shape 6×8"):
        read_mask(png, (8, 6))
    with pytest.raises(SinetuneError, match="no such mask"):
        read_mask(tmp_path / "missing.png", (6, 8))


def test_downsample_is_a_block_average_and_crops():
    values = np.arange(36, dtype=np.float32).reshape(6, 6, 1)
    assert downsample(values, 2)[0, 0, 0] == pytest.approx(np.mean([0, 1, 6, 7]))
    assert crop_to_multiple(np.zeros((7, 9, 3)), 2).shape == (6, 8, 3)
    with pytest.raises(SinetuneError, match="fewer than 2 samples"):
        crop_to_multiple(np.zeros((7, 9, 3)), 4)


@pytest.mark.parametrize("low_shape, factor", [((5, 7), 2), ((4, 4), 3), ((9,), 4)])
def test_superres_coordinates_average_to_the_low_resolution_grid(low_shape, factor):
    from sinetune.signals import grid_coordinates

    (_, coords), = list(superres_coordinates(low_shape, factor, chunk=10 ** 6))
    high = tuple(n * factor for n in low_shape)
    grid = coords.numpy().reshape(*high, len(low_shape))
    block_means = downsample(grid, factor)  # each block's centre is its low-resolution sample
    assert np.allclose(block_means.reshape(-1, len(low_shape)), grid_coordinates(low_shape).numpy(), atol=1e-6)
