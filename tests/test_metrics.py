"""PSNR, SSIM and gradient metrics on hand-made data (metrics.py, tuner-spec §5)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import smooth_rgb
from torch import nn

from sinetune.metrics import (
    BT601,
    BT709,
    MS_SSIM_MIN_SIDE,
    field_gradient,
    gradient_psnr,
    gradient_psnr_of_magnitude,
    gray,
    ms_ssim,
    psnr,
    sobel_gradient,
    ssim,
)
from sinetune.signals import grid_coordinates


class Ramp(nn.Module):
    """``f(x, y) = a·x + b·y`` (one gray channel)."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.slope = nn.Parameter(torch.tensor([a, b], dtype=torch.float64))

    def forward(self, coords):
        return (coords.double() @ self.slope)[:, None]


class Quadratic(nn.Module):
    """``f(x, y) = x² + 3xy`` with RGB output (r = f, g = 2f, b = 0)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, coords):
        x, y = coords[:, 0], coords[:, 1]
        f = x ** 2 + 3 * x * y + self.dummy
        return torch.stack([f, 2 * f, torch.zeros_like(f)], dim=1)


def ramp_image(a, b, grid_shape):
    coords = grid_coordinates(grid_shape).double().numpy()
    return (coords @ np.array([a, b])).reshape(*grid_shape, 1)


def test_psnr_exact_values():
    target = np.zeros((4, 5, 3))
    assert psnr(target + 0.1, target) == pytest.approx(20.0, abs=1e-9)  # MSE 0.01
    assert psnr(target - 0.01, target) == pytest.approx(40.0, abs=1e-9)
    half = target.copy()
    half[:1] = 0.2  # a quarter of the entries off by 0.2: MSE = 0.04 / 4 = 0.01
    assert psnr(half, target) == pytest.approx(20.0, abs=1e-9)
    half[1:2] = 0.2  # half of them: MSE 0.02
    assert psnr(half, target) == pytest.approx(10 * math.log10(50), abs=1e-9)
    assert psnr(target, target) == math.inf
    assert psnr(torch.full((3, 3), 0.1), torch.zeros(3, 3)) == pytest.approx(20.0, abs=1e-5)


def test_psnr_does_not_clip_and_checks_shapes():
    target = np.ones((2, 2, 1))
    assert psnr(target + 0.1, target) == pytest.approx(20.0, abs=1e-9)  # 1.1 is not clipped to 1
    with pytest.raises(ValueError, match="shape mismatch"):
        psnr(np.zeros((2, 2, 3)), np.zeros((2, 2, 1)))


def test_ssim_identical_and_degraded():
    rng = np.random.default_rng(0)
    image = rng.random((24, 24, 3))
    assert ssim(image, image) == pytest.approx(1.0)
    assert ssim(np.clip(image + 0.2 * rng.standard_normal(image.shape), 0, 1), image) < 0.9
    # prediction is clipped to [0, 1] before SSIM
    assert ssim(image + (image > 0.5) * 5.0, np.clip(image + (image > 0.5) * 5.0, 0, 1)) == pytest.approx(1.0)


def test_gray_weights():
    pixel = np.array([[[0.2, 0.5, 0.9]]])
    assert gray(pixel)[0, 0] == pytest.approx(0.2126 * 0.2 + 0.7152 * 0.5 + 0.0722 * 0.9)
    assert gray(pixel, BT601)[0, 0] == pytest.approx(0.299 * 0.2 + 0.587 * 0.5 + 0.114 * 0.9)
    assert sum(BT709) == pytest.approx(1.0) and sum(BT601) == pytest.approx(1.0)
    one = np.full((2, 3, 1), 0.25)
    np.testing.assert_array_equal(gray(one), np.full((2, 3), 0.25))


@pytest.mark.parametrize("grid_shape", [(8, 12), (17, 9), (32, 32)])
def test_field_gradient_of_a_ramp_in_pixel_units(grid_shape):
    a, b = 0.3, -0.2
    height, width = grid_shape
    gx, gy = field_gradient(Ramp(a, b), grid_shape)
    assert gx.shape == gy.shape == grid_shape
    np.testing.assert_allclose(gx, a * 2 / (width - 1), rtol=1e-6)
    np.testing.assert_allclose(gy, b * 2 / (height - 1), rtol=1e-6)


def test_field_gradient_of_rgb_uses_bt709_gray():
    grid_shape = (9, 11)
    gx, gy = field_gradient(Quadratic(), grid_shape)
    coords = grid_coordinates(grid_shape).double().numpy()
    x, y = coords[:, 0].reshape(grid_shape), coords[:, 1].reshape(grid_shape)
    luma = BT709[0] + 2 * BT709[1]  # gray = (0.2126 + 2·0.7152) f
    np.testing.assert_allclose(gx, luma * (2 * x + 3 * y) * 2 / 10, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gy, luma * 3 * x * 2 / 8, rtol=1e-5, atol=1e-6)
    gx601, _ = field_gradient(Quadratic(), grid_shape, weights=BT601)
    np.testing.assert_allclose(gx601, (BT601[0] + 2 * BT601[1]) * (2 * x + 3 * y) * 2 / 10, rtol=1e-5, atol=1e-6)


def test_field_gradient_chunking():
    full = field_gradient(Quadratic(), (16, 16))
    chunked = field_gradient(Quadratic(), (16, 16), chunk=10)
    np.testing.assert_allclose(chunked[0], full[0])
    np.testing.assert_allclose(chunked[1], full[1])


@pytest.mark.parametrize("grid_shape", [(8, 12), (32, 32)])
def test_sobel_gradient_of_a_ramp_matches_the_field_gradient(grid_shape):
    a, b = 0.3, -0.2
    height, width = grid_shape
    image = ramp_image(a, b, grid_shape)[..., 0]
    sx, sy = sobel_gradient(image)
    gx, gy = field_gradient(Ramp(a, b), grid_shape)
    np.testing.assert_allclose(sx[1:-1, 1:-1], a * 2 / (width - 1), rtol=1e-5)
    np.testing.assert_allclose(sy[1:-1, 1:-1], b * 2 / (height - 1), rtol=1e-5)
    np.testing.assert_allclose(sx[1:-1, 1:-1], gx[1:-1, 1:-1], rtol=1e-5)
    np.testing.assert_allclose(sy[1:-1, 1:-1], gy[1:-1, 1:-1], rtol=1e-5)
    # reflect borders: the one-sided difference halves the derivative across the border
    np.testing.assert_allclose(sx[:, 0], a / (width - 1), rtol=1e-5)
    np.testing.assert_allclose(sy[-1, :], b / (height - 1), rtol=1e-5)


def expected_ramp_gradient_psnr(a, b, grid_shape):
    """Gradient PSNR of a ramp field vs its sampled image, from the border analysis (independent of Sobel)."""
    height, width = grid_shape
    sa, sb = abs(a) * 2 / (width - 1), abs(b) * 2 / (height - 1)
    m = math.hypot(sa, sb)  # interior magnitude = target maximum = prediction everywhere
    side_x = (1 - math.hypot(sa / 2, sb) / m) ** 2  # left/right columns
    side_y = (1 - math.hypot(sa, sb / 2) / m) ** 2  # top/bottom rows
    corner = (1 - math.hypot(sa / 2, sb / 2) / m) ** 2
    mse = (2 * (height - 2) * side_x + 2 * (width - 2) * side_y + 4 * corner) / (height * width)
    return 10 * math.log10(1 / mse)


@pytest.mark.parametrize("grid_shape", [(24, 32), (64, 48)])
def test_gradient_psnr_of_a_ramp_field(grid_shape):
    a, b = 0.3, 0.2
    target = ramp_image(a, b, grid_shape)
    value = gradient_psnr(Ramp(a, b), target)
    assert value == pytest.approx(expected_ramp_gradient_psnr(a, b, grid_shape), abs=1e-4)
    doubled = gradient_psnr(Ramp(2 * a, 2 * b), target)
    assert doubled < 1.0 < value - 15  # twice the slope: the interior error is the whole magnitude
    assert doubled == pytest.approx(expected_doubled(a, b, grid_shape), abs=1e-4)


def expected_doubled(a, b, grid_shape):
    height, width = grid_shape
    sa, sb = a * 2 / (width - 1), b * 2 / (height - 1)
    m = math.hypot(sa, sb)
    target = np.full(grid_shape, m)
    target[:, [0, -1]] = math.hypot(sa / 2, sb)
    target[[0, -1], :] = math.hypot(sa, sb / 2)
    target[[0, 0, -1, -1], [0, -1, 0, -1]] = math.hypot(sa / 2, sb / 2)
    mse = np.mean((2 * m / m - target / m) ** 2)
    return 10 * math.log10(1 / mse)


def test_gradient_psnr_is_high_for_a_large_ramp():
    target = ramp_image(0.3, 0.2, (256, 256))
    assert gradient_psnr(Ramp(0.3, 0.2), target) > 30.0
    assert gradient_psnr(Ramp(0.6, 0.4), target) < 1.0


def test_gradient_psnr_paper_variant_differs():
    grid_shape = (24, 24)
    coords = grid_coordinates(grid_shape).numpy()
    x, y = coords[:, 0].reshape(grid_shape), coords[:, 1].reshape(grid_shape)
    f = x ** 2 + 3 * x * y
    target = np.stack([f, 2 * f, np.zeros_like(f)], axis=-1)
    default = gradient_psnr(Quadratic(), target)
    paper = gradient_psnr(Quadratic(), target, variant="paper")
    assert math.isfinite(default) and math.isfinite(paper)
    assert abs(paper - default) > 0.1
    assert default > 15.0  # the field is the exact signal: only Sobel's discretisation error remains
    with pytest.raises(ValueError, match="variant"):
        gradient_psnr(Quadratic(), target, variant="other")


# --- SSIM and the paper variants pinned on hand-made inputs -------------------------------------

def window_ssim(x, y, weights, data_range, sample_covariance):
    """SSIM of one window from Wang et al.'s definition: weighted means, (co)variances, K1 = 0.01, K2 = 0.03."""
    mx, my = (weights * x).sum(), (weights * y).sum()
    vx, vy = (weights * (x - mx) ** 2).sum(), (weights * (y - my) ** 2).sum()
    cxy = (weights * (x - mx) * (y - my)).sum()
    if sample_covariance:
        factor = x.size / (x.size - 1)
        vx, vy, cxy = factor * vx, factor * vy, factor * cxy
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))


def sliding_ssim(x, y, size, weights, data_range, sample_covariance):
    """Mean SSIM over every window position fully inside the image (what skimage averages), per channel."""
    height, width = x.shape
    return np.mean([window_ssim(x[i:i + size, j:j + size], y[i:i + size, j:j + size], weights, data_range,
                                sample_covariance)
                    for i in range(height - size + 1) for j in range(width - size + 1)])


def test_ssim_paper_variant_is_8_bit_truncation_with_a_7x7_uniform_window():
    rng = np.random.default_rng(4)
    levels = rng.integers(0, 256, (9, 9, 2))                # target gray levels
    predicted_levels = np.clip(levels + rng.integers(-20, 21, levels.shape), 0, 255)
    target = (levels / 255).astype(np.float32)
    prediction = (predicted_levels + 0.9) / 255             # truncation keeps predicted_levels
    prediction[0, 0, 0], prediction[1, 1, 1] = 1.7, -0.4    # clipped to 255 and 0
    predicted_levels[0, 0, 0], predicted_levels[1, 1, 1] = 255, 0
    uniform = np.full((7, 7), 1 / 49)

    def expected(pred_levels):
        return np.mean([sliding_ssim(levels[..., c].astype(float), pred_levels[..., c].astype(float), 7, uniform,
                                     data_range=1.0, sample_covariance=True) for c in range(2)])

    assert ssim(prediction, target, variant="paper") == pytest.approx(expected(predicted_levels), abs=1e-9)
    # on a flat patch: truncation maps 100.1 and 100.9 to 100 (SSIM 1; rounding would make a ±1 texture) ...
    flat = np.full((7, 7, 1), 100 / 255, dtype=np.float32)
    jitter = np.where(np.indices((7, 7, 1)).sum(axis=0) % 2 == 0, 100.9, 100.1) / 255
    assert ssim(jitter, flat, variant="paper") == 1.0
    # ... and a real ±1 level texture costs almost everything, because data_range = 1 makes C2 = 9e-4
    # gray levels², negligible against a variance of 1/4 level² (with 255 the texture would score ≈ 0.99)
    texture = np.where(np.indices((7, 7, 1)).sum(axis=0) % 2 == 0, 101, 100)
    value = ssim(texture / 255, flat, variant="paper")
    assert value == pytest.approx(window_ssim(np.full((7, 7), 100.0), texture[..., 0].astype(float), uniform, 1.0,
                                              True), abs=1e-12)
    assert value < 0.01 < 0.99 < window_ssim(np.full((7, 7), 100.0), texture[..., 0].astype(float), uniform, 255.0,
                                             True)
    with pytest.raises(ValueError, match="variant"):
        ssim(prediction, target, variant="other")


def test_ssim_default_is_an_11x11_gaussian_window_with_population_covariance():
    rng = np.random.default_rng(5)
    target = rng.random((11, 11, 1))
    prediction = np.clip(target + 0.1 * rng.standard_normal(target.shape), -0.2, 1.3)
    prediction[5, 5, 0] = 1.25  # clipped to 1
    taps = np.exp(-np.arange(-5, 6) ** 2 / (2 * 1.5 ** 2))  # σ = 1.5, truncated at 3.5 σ → radius 5
    weights = np.outer(taps, taps) / taps.sum() ** 2
    expected = window_ssim(target[..., 0], np.clip(prediction[..., 0], 0, 1), weights, data_range=1.0,
                           sample_covariance=False)  # one window: the whole 11×11 image
    assert ssim(prediction, target) == pytest.approx(expected, abs=1e-9)


def test_gradient_psnr_paper_variant_on_a_hand_made_image():
    """BT.601 Sobel / max target vs BT.709 min–max 8-bit prediction, float16 MSE, from hand arithmetic.

    Target: red ramps along x by ``a`` per pixel, green along y by ``b``; BT.601 gray has slopes
    ``α = 0.299 a``, ``β = 0.587 b``. Sobel (reflect borders) halves a derivative across the border, so
    the magnitude is ``2·hypot(α, β)`` inside, ``hypot(α, 2β)`` on the left/right columns, ``hypot(2α, β)``
    on the top/bottom rows and ``hypot(α, β)`` at the corners; the map is that / its maximum.
    """
    height, width, a, b = 5, 6, 0.1, 0.05
    rows, cols = np.mgrid[0:height, 0:width]
    target = np.stack([a * cols, b * rows, np.zeros((height, width))], axis=-1)
    alpha, beta = 0.299 * a, 0.587 * b
    x_factor = np.where((cols == 0) | (cols == width - 1), 1.0, 2.0)
    y_factor = np.where((rows == 0) | (rows == height - 1), 1.0, 2.0)
    target_map = np.hypot(x_factor * alpha, y_factor * beta) / (2 * np.hypot(alpha, beta))
    # prediction: any magnitude map; min–max to [0, 255] and truncated: level k ↦ ⌊255 k / 29⌋
    predicted = 0.01 * (rows * width + cols) + 0.3
    levels = (255 * (rows * width + cols)) // 29
    squares = [np.float16(np.float16(np.float16(q) / np.float16(255)) - np.float16(t)) ** 2
               for q, t in zip(levels.ravel(), target_map.ravel())]
    mse = np.float16(sum(float(s) for s in squares) / len(squares))
    expected = 10 * math.log10(1 / float(mse))
    value = gradient_psnr_of_magnitude(predicted, target, variant="paper")
    assert value == pytest.approx(expected, abs=1e-9)
    # each ingredient matters: rounding instead of truncating, BT.709 for the target, a float64 MSE
    rounded = np.round(255 * (rows * width + cols) / 29) / 255
    assert abs(10 * math.log10(1 / np.mean((rounded - target_map) ** 2)) - value) > 0.01
    alpha709, beta709 = 0.2126 * a, 0.7152 * b
    map709 = np.hypot(x_factor * alpha709, y_factor * beta709) / (2 * np.hypot(alpha709, beta709))
    assert abs(10 * math.log10(1 / np.mean((levels / 255 - map709) ** 2)) - value) > 0.01
    assert 10 * math.log10(1 / np.mean((levels / 255 - target_map) ** 2)) != value


def test_metrics_json_records_both_ssims(fitted_run):
    result, run_dir, _ = fitted_run
    written = json.loads((run_dir / "metrics.json").read_text())
    target = result.signal.values
    prediction = result.field(result.signal.coords()).detach().numpy().reshape(target.shape)
    assert written["ssim"] == pytest.approx(ssim(prediction, target), abs=1e-6)
    assert written["ssim_paper"] == pytest.approx(ssim(prediction, target, variant="paper"), abs=1e-6)
    assert written["ssim_paper"] != written["ssim"]


def test_ssim_is_nan_where_its_window_does_not_fit():
    image = np.full((8, 8, 3), 0.5)  # fits the 7×7 uniform window, not the 11×11 Gaussian one
    assert math.isnan(ssim(image, image)) and ssim(image, image, variant="paper") == pytest.approx(1.0)
    assert ssim(np.full((11, 11, 1), 0.5), np.full((11, 11, 1), 0.5)) == pytest.approx(1.0)


def test_ms_ssim_is_one_for_identical_images_and_falls_with_noise():
    pytest.importorskip("pytorch_msssim")
    target = smooth_rgb(176, 170).astype(np.float64) / 255  # both sides ≥ MS_SSIM_MIN_SIDE
    noise = np.random.default_rng(0).normal(size=target.shape)
    assert ms_ssim(target, target) == pytest.approx(1.0, abs=1e-9)
    scores = [ms_ssim(np.clip(target + sigma * noise, 0, 1), target) for sigma in (0.02, 0.1, 0.3)]
    assert 1 > scores[0] > scores[1] > scores[2] > 0
    # the prediction is clipped to [0, 1] before it is measured
    assert ms_ssim(target + 2.0 * (target > 0.99), target) == pytest.approx(1.0, abs=1e-9)
    # not SSIM under another name: a blur costs MS-SSIM less than single-scale SSIM at the finest scale
    blurred = np.stack([np.convolve(row, np.ones(5) / 5, mode="same") for row in target.transpose(0, 2, 1)
                        .reshape(-1, target.shape[1])]).reshape(176, 3, 170).transpose(0, 2, 1)
    assert ms_ssim(blurred, target) != pytest.approx(ssim(blurred, target), abs=1e-3)


def test_ms_ssim_is_nan_below_its_smallest_side():
    pytest.importorskip("pytorch_msssim")
    small = smooth_rgb(MS_SSIM_MIN_SIDE - 1, 200).astype(np.float64) / 255
    assert math.isnan(ms_ssim(small, small))
    assert ms_ssim(smooth_rgb(MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE) / 255.0,
                   smooth_rgb(MS_SSIM_MIN_SIDE, MS_SSIM_MIN_SIDE) / 255.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one shape"):
        ms_ssim(small, small[:, :100])
