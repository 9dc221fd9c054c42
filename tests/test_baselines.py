"""Classic baselines (sinetune.baselines) on tiny generated images and sounds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import smooth_rgb

from sinetune.baselines import (
    BASELINES,
    baselines_for,
    biharmonic_inpaint,
    bm3d_available,
    bm3d_denoise,
    run_baseline,
    tv_denoise,
    tv_denoise_oracle,
    upsample,
    wavelet_denoise,
)
from sinetune.corruptions import downsample
from sinetune.errors import SinetuneError
from sinetune.metrics import psnr
from sinetune.signals import Signal
from sinetune.tasks import TaskOptions, prepare_task, score_task


def smooth(height: int = 48, width: int = 48) -> np.ndarray:
    return smooth_rgb(height, width).astype(np.float32) / 255.0


def test_denoisers_beat_the_noisy_input():
    clean = smooth()
    noisy = (clean + 0.1 * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
    before = psnr(noisy, clean)
    tv, wavelet = tv_denoise(noisy), wavelet_denoise(noisy)
    assert tv.shape == wavelet.shape == clean.shape
    assert psnr(tv, clean) > before + 5 and psnr(wavelet, clean) > before + 3
    oracle, weight = tv_denoise_oracle(noisy, clean)
    assert psnr(oracle, clean) >= psnr(tv, clean) - 1e-9 and weight > 0
    sound = np.sin(np.linspace(0, 20, 2000))[:, None].astype(np.float32)  # any grid: a 1-D signal
    noisy_sound = sound + 0.05 * np.random.default_rng(1).standard_normal(sound.shape).astype(np.float32)
    assert psnr(tv_denoise(noisy_sound), sound, 2.0) > psnr(noisy_sound, sound, 2.0)


@pytest.mark.skipif(not bm3d_available(), reason="the optional bm3d package is not installed")
def test_bm3d_denoises_a_gray_image():
    clean = smooth(32, 32)[..., :1]
    noisy = (clean + 0.1 * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
    assert psnr(bm3d_denoise(noisy, 0.1), clean) > psnr(noisy, clean) + 5
    with pytest.raises(SinetuneError, match="BM3D denoises images"):
        bm3d_denoise(noisy[:, 0], 0.1)


def test_biharmonic_fills_a_smooth_image_and_a_gap():
    y, x = np.mgrid[0:32, 0:32] / 31.0
    ramp = (0.2 + 0.3 * x + 0.4 * y)[..., None].astype(np.float32)
    missing = np.zeros((32, 32), dtype=bool)
    missing[10:20, 12:22] = True
    assert np.abs(biharmonic_inpaint(np.where(missing[..., None], 0, ramp), missing) - ramp).max() < 1e-3
    line = np.linspace(-1, 1, 200, dtype=np.float32)[:, None]
    gap = np.zeros(200, dtype=bool)
    gap[80:100] = True
    assert np.abs(biharmonic_inpaint(line, gap) - line).max() < 1e-3


def test_upsample_keeps_constants_and_shapes_and_approximates():
    for method in ("bicubic", "lanczos"):
        constant = np.full((8, 6, 3), 0.3, dtype=np.float32)
        high = upsample(constant, 4, method)
        assert high.shape == (32, 24, 3) and np.allclose(high, 0.3, atol=1e-5)
    clean = smooth(64, 64)
    low = downsample(clean, 2)
    nearest = np.repeat(np.repeat(low, 2, axis=0), 2, axis=1)
    assert psnr(upsample(low, 2), clean) > psnr(nearest, clean)
    assert upsample(np.zeros((10, 1), dtype=np.float32), 3).shape == (30, 1)  # a 1-D grid: cubic spline
    with pytest.raises(SinetuneError, match="upsampling method"):
        upsample(low, 2, "nearest")


def test_baselines_for_each_task_score_like_a_field():
    signal = Signal(values=smooth(32, 32), name="smooth")
    for name, options in (("denoise", TaskOptions(task="denoise", noise=0.1)),
                          ("inpaint", TaskOptions(task="inpaint", mask_fraction=0.3)),
                          ("superres", TaskOptions(task="superres", factor=2))):
        task = prepare_task(options, signal)
        found = baselines_for(task)
        assert set(found) <= set(BASELINES[name]) and found
        for baseline, answer in found.items():
            if baseline == "bm3d":
                continue  # slow; tested above
            scored = score_task(task, answer())
            assert np.isfinite(scored["clean_psnr"]) and scored["clean_psnr"] > 15, (name, baseline)
    with pytest.raises(SinetuneError, match="does not apply"):
        run_baseline("bicubic", prepare_task(TaskOptions(task="denoise", noise=0.1), signal))
