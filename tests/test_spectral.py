"""Integer input frequencies, band-limits and column bounds (tuner-spec §2, §3, §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sinetune.spectral import (
    block_column_bounds,
    canonical_half_plane,
    energy_radius,
    half_plane_count,
    half_plane_points,
    log_magnitude_spectrum,
    max_input_width,
    nyquist_index,
    resolution_defaults,
    sample_input_frequencies,
)


def in_half_plane(k: np.ndarray) -> np.ndarray:
    """First non-zero coordinate positive (and not the zero vector)."""
    nonzero = k != 0
    first = np.argmax(nonzero, axis=1)
    return nonzero.any(axis=1) & (k[np.arange(len(k)), first] > 0)


# --- sample_input_frequencies -------------------------------------------------------------------

SAMPLING_CASES = [  # count, band_limit, low_range, dim
    (64, 20, 6, 2),
    (256, 40, 12, 2),
    (416, 80, 12, 2),
    (40, 4, 2, 2),  # the whole band: every half-plane frequency is used
    (10, 30, 5, 1),
    (30, 6, 2, 3),
]


@pytest.mark.parametrize("count, band_limit, low_range, dim", SAMPLING_CASES)
def test_sampled_frequencies_structure(count, band_limit, low_range, dim):
    k = sample_input_frequencies(count, band_limit, low_range, np.random.default_rng(0), dim=dim)
    assert k.shape == (count, dim)
    assert k.dtype == np.int64
    assert in_half_plane(k).all(), "every row must be in the half-plane (first non-zero coordinate > 0)"
    assert len({tuple(row) for row in k}) == count, "rows must be unique"
    np.testing.assert_array_equal(k[:dim], np.eye(dim, dtype=np.int64))  # e_1 … e_d first
    assert np.abs(k).max() <= band_limit


@pytest.mark.parametrize("count, band_limit, low_range", [(64, 20, 6), (256, 40, 12), (416, 80, 12), (100, 30, 8)])
@pytest.mark.parametrize("low_fraction", [0.7, 0.5])
def test_sampled_frequencies_low_fraction(count, band_limit, low_range, low_fraction):
    k = sample_input_frequencies(count, band_limit, low_range, np.random.default_rng(1), low_fraction=low_fraction)
    rest = k[2:]
    inside = np.abs(rest).max(axis=1) <= low_range
    # the low square holds enough candidates in these cases, so the split is exact
    assert half_plane_count(low_range) - 2 >= round(low_fraction * (count - 2))
    assert inside.sum() == round(low_fraction * (count - 2))
    assert abs(inside.mean() - low_fraction) < 0.02
    # the high block is a lattice outside the low square
    high = rest[~inside]
    assert (np.abs(high).max(axis=1) > low_range).all()


def test_sparse_high_block_is_a_coarse_lattice():
    # few high neurons in a wide band: they must be spread on a lattice of spacing > 1
    k = sample_input_frequencies(64, 40, 6, np.random.default_rng(0))
    high = k[2:][np.abs(k[2:]).max(axis=1) > 6]
    assert len(high) == 64 - 2 - round(0.7 * 62)
    assert np.gcd.reduce(np.abs(high).ravel()) > 1
    assert np.abs(high).max() > 20  # reaches into the band, not only just outside the low square


def test_sampling_is_deterministic_given_the_rng():
    first = sample_input_frequencies(128, 30, 8, np.random.default_rng(7))
    again = sample_input_frequencies(128, 30, 8, np.random.default_rng(7))
    other = sample_input_frequencies(128, 30, 8, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_sampling_dim1():
    k = sample_input_frequencies(10, 30, 5, np.random.default_rng(0), dim=1)
    assert k[0, 0] == 1
    assert (k[:, 0] > 0).all() and len(set(k[:, 0])) == 10 and k.max() <= 30
    # whole band in 1-D: exactly the positive integers up to b
    full = sample_input_frequencies(12, 12, 3, np.random.default_rng(0), dim=1)
    assert sorted(full[:, 0]) == list(range(1, 13))


def test_whole_band_uses_every_half_plane_frequency():
    k = sample_input_frequencies(40, 4, 2, np.random.default_rng(0))
    assert {tuple(r) for r in k} == {tuple(r) for r in half_plane_points(4)}


@pytest.mark.parametrize("count, band_limit, dim", [(41, 4, 2), (13, 12, 1), (2, 10, 2), (1, 10, 1), (0, 10, 2)])
def test_sampling_rejects_impossible_counts(count, band_limit, dim):
    with pytest.raises(ValueError, match="input width"):
        sample_input_frequencies(count, band_limit, 1, np.random.default_rng(0), dim=dim)


def test_sampling_rejects_bad_low_range():
    with pytest.raises(ValueError, match="low_range"):
        sample_input_frequencies(10, 4, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="low_range"):
        sample_input_frequencies(10, 4, 0, np.random.default_rng(0))


# --- resolution_defaults ------------------------------------------------------------------------

@pytest.mark.parametrize("n", [16, 32, 64, 100, 256, 512, 1024])
@pytest.mark.parametrize("period", [2.0, 2.1, 4.0])
def test_band_limit_rule(n, period):
    d = resolution_defaults((n, n), period, 256)
    assert d.nyquist == pytest.approx(period * (n - 1) / 4)
    assert d.band_limit == max(1, math.floor(0.2 * period * (n - 1) / 4))
    assert d.band_limit < d.nyquist
    if d.band_limit >= 2:
        assert 1 <= d.low_range <= d.band_limit // 2


def test_band_limit_uses_smallest_side_and_fraction():
    assert resolution_defaults((64, 512), 2.1, 64).band_limit == math.floor(0.2 * 2.1 * 63 / 4)
    assert resolution_defaults((512, 512), 2.1, 64, band_fraction=0.5).band_limit == math.floor(0.5 * 2.1 * 511 / 4)


def test_band_limit_grows_with_resolution():
    limits = [resolution_defaults((n, n), 2.1, 256).band_limit for n in (32, 64, 128, 256, 512, 1024)]
    assert limits == sorted(limits) and len(set(limits)) == len(limits)


def test_band_limit_matches_paper_scale():
    # the authors' 512² choice (b ≈ 85 at p = 2.1) is ≈ 0.3 of Nyquist; sinetune's default is 0.2
    paper = resolution_defaults((512, 512), 2.1, 416, band_fraction=0.3).band_limit
    assert 75 <= paper <= 90
    b512 = resolution_defaults((512, 512), 2.1, 416).band_limit
    b256 = resolution_defaults((256, 256), 2.1, 416).band_limit
    assert (b512, b256) == (53, 26)
    assert 0.45 <= b256 / b512 <= 0.55
    # second-order sums of two high frequencies stay below Nyquist
    assert 2 * b256 < resolution_defaults((256, 256), 2.1, 416).nyquist


@pytest.mark.parametrize("width", [16, 64, 256, 416])
def test_low_range_holds_the_low_share(width):
    d = resolution_defaults((512, 512), 2.1, width)
    n_low = round(0.7 * (width - 2))
    assert half_plane_count(d.low_range) - 2 >= n_low
    assert d.low_range == 1 or half_plane_count(d.low_range - 1) - 2 < n_low  # the smallest such radius


def test_low_range_is_capped_at_half_the_band():
    d = resolution_defaults((32, 32), 2.1, 40, band_fraction=0.3)  # b = 4; 40 neurons would need radius 4
    assert d.band_limit == 4
    assert d.low_range == 2


@pytest.mark.parametrize("kwargs", [{"period": 0}, {"period": -1}, {"band_fraction": 0}, {"band_fraction": 1.5}])
def test_resolution_defaults_validation(kwargs):
    args = {"grid_shape": (64, 64), "period": 2.1, "input_width": 16, **kwargs}
    with pytest.raises(ValueError):
        resolution_defaults(**args)


def test_nyquist_index():
    assert nyquist_index(513, 2.0) == 256.0
    assert nyquist_index(257, 4.0) == 256.0


# --- half-plane helpers -------------------------------------------------------------------------

@pytest.mark.parametrize("radius, dim", [(1, 1), (5, 1), (1, 2), (3, 2), (10, 2), (2, 3)])
def test_half_plane_points_count(radius, dim):
    points = half_plane_points(radius, dim)
    assert len(points) == half_plane_count(radius, dim) == ((2 * radius + 1) ** dim - 1) // 2
    assert in_half_plane(points).all()
    assert np.abs(points).max() == radius
    assert len({tuple(p) for p in points}) == len(points)
    # exactly one of ±k for every non-zero k in the cube
    assert not ({tuple(p) for p in points} & {tuple(-p) for p in points})
    assert max_input_width(radius, dim) == len(points)


def test_half_plane_points_with_step_are_on_the_lattice():
    points = half_plane_points(10, 2, step=3)
    assert (points % 3 == 0).all()
    assert len(points) == half_plane_count(3)  # lattice 3·{-3..3}²
    assert in_half_plane(points).all()


def test_canonical_half_plane():
    k = np.array([[-1, 2], [0, -3], [2, -1], [0, 4]])
    np.testing.assert_array_equal(canonical_half_plane(k), [[1, -2], [0, 3], [2, -1], [0, 4]])


# --- block_column_bounds ------------------------------------------------------------------------

def test_block_bounds_limit_belongs_to_lower_block():
    k = np.array([[1, 0], [10, -3], [0, -10], [11, 0], [-4, 11], [10, 10]])
    bounds = block_column_bounds(k, (10,), (1.0, 0.6))
    np.testing.assert_array_equal(bounds, [1.0, 1.0, 1.0, 0.6, 0.6, 1.0])


def test_block_bounds_with_several_limits():
    k = np.array([[1, 0], [5, 0], [6, 1], [0, 20], [21, 0], [3, 40], [41, 0], [100, 100]])
    bounds = block_column_bounds(k, (5, 20, 40), (1.2, 0.8, 0.4, 0.1))
    np.testing.assert_allclose(bounds, [1.2, 1.2, 0.8, 0.8, 0.4, 0.4, 0.1, 0.1])


# max|k| = 9, 10 (on the first limit), 11, 20 (on the second), 21, and 10 again from a negative entry
EDGE_CASES = np.array([[9, 0], [10, -3], [0, 11], [-20, 4], [21, 0], [0, -10]])


@pytest.mark.parametrize("edge, expected", [
    ("lower", [1.0, 1.0, 0.6, 0.6, 0.3, 1.0]),  # blocks (L_i, L_{i+1}]: the authors' create_clamps
    ("upper", [1.0, 0.6, 0.6, 0.3, 0.3, 0.6]),  # blocks [L_i, L_{i+1}): the tech report
])
def test_block_edge_puts_a_frequency_on_a_limit_in_the_chosen_block(edge, expected):
    bounds = block_column_bounds(EDGE_CASES, (10, 20), (1.0, 0.6, 0.3), edge)
    np.testing.assert_array_equal(bounds, expected)
    # off the limits the two conventions agree
    lower = block_column_bounds(EDGE_CASES, (10, 20), (1.0, 0.6, 0.3))  # default: lower
    off = np.abs(EDGE_CASES).max(axis=1) % 10 != 0
    np.testing.assert_array_equal(bounds[off], lower[off])


def test_block_edge_default_is_lower_and_is_validated():
    np.testing.assert_array_equal(block_column_bounds(EDGE_CASES, (10, 20), (1.0, 0.6, 0.3)),
                                  block_column_bounds(EDGE_CASES, (10, 20), (1.0, 0.6, 0.3), "lower"))
    with pytest.raises(ValueError, match="edge"):
        block_column_bounds(EDGE_CASES, (10,), (1.0, 0.6), "middle")


@pytest.mark.parametrize("limits, bounds, message", [
    ((10,), (1.0,), "len"),
    ((10,), (1.0, 0.6, 0.3), "len"),
    ((5, 10), (1.0, 0.6), "len"),
    ((10,), (1.0, 0.0), "positive"),
    ((10, 5), (1.0, 0.6, 0.3), "increasing"),
])
def test_block_bounds_validation(limits, bounds, message):
    with pytest.raises(ValueError, match=message):
        block_column_bounds(np.array([[1, 0]]), limits, bounds)


# --- spectrum -----------------------------------------------------------------------------------

def test_log_magnitude_spectrum_peak_at_the_sinusoid_frequency():
    n = 32
    x = np.arange(n)
    image = np.cos(2 * np.pi * 5 * x / n)[None, :].repeat(n, axis=0)  # 5 cycles along columns
    spectrum = log_magnitude_spectrum(image)
    assert spectrum.shape == (n, n)
    assert spectrum.min() == 0.0 and spectrum.max() == 1.0
    peaks = {tuple(p) for p in np.argwhere(spectrum == 1.0)}
    assert peaks == {(n // 2, n // 2 + 5), (n // 2, n // 2 - 5)}
    constant = log_magnitude_spectrum(np.full((8, 8), 0.5))  # only DC: the centre is the maximum
    assert constant[4, 4] == 1.0 and constant.sum() == 1.0
    np.testing.assert_array_equal(log_magnitude_spectrum(np.zeros((8, 8))), np.zeros((8, 8)))


# --- energy_radius (the spectrum rule's measurement, issue #4) ----------------------------------------


@pytest.mark.parametrize("cycles", [4, 20, 50])
def test_energy_radius_of_a_sinusoid_is_its_frequency(cycles):
    n = 128
    x = np.linspace(-1, 1, n)
    grid = np.meshgrid(x, x, indexing="ij")
    image = (0.5 + 0.3 * np.sin(np.pi * cycles * grid[1]))[..., None]  # `cycles` periods along the 2nd axis
    expected = cycles * n / (n - 1) / (n / 2)  # bins per Nyquist
    radius = energy_radius(image, 0.99)
    assert expected - 1e-9 <= radius <= expected + 2.5 / (n / 2)  # the Hann window spreads ±2 bins
    assert energy_radius(image.transpose(1, 0, 2), 0.99) == radius  # max-norm: either axis counts


def test_energy_radius_ignores_the_mean_the_scale_and_the_border_jump():
    rng = np.random.default_rng(0)
    n = 200
    ramp = np.linspace(0, 1, n)[:, None]  # a ramp jumps from 1 back to 0 in the FFT's periodic extension
    tone = np.sin(2 * np.pi * 10 * np.arange(n) / n)[:, None]
    signal = ramp + 0.2 * tone
    radius = energy_radius(signal, 0.99)
    assert radius < 0.2  # without the window the jump's 1/f tail would push ν far up
    assert energy_radius(5.0 * signal + 3.0, 0.99) == pytest.approx(radius)
    noise = rng.standard_normal((n, 2))
    assert energy_radius(noise, 0.9) > 0.8  # white noise: energy spread up to Nyquist
    assert energy_radius(np.ones((n, 3)), 0.99) == 0.0


def test_energy_radius_grows_with_the_energy_share():
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.standard_normal((256, 1)), axis=0)  # a 1/f² (Brownian) spectrum
    radii = [energy_radius(values, q) for q in (0.5, 0.9, 0.99, 0.999)]
    assert radii == sorted(radii) and radii[0] < radii[-1]


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_energy_radius_validation(fraction):
    with pytest.raises(ValueError, match="energy_fraction"):
        energy_radius(np.zeros((8, 1)), fraction)
    with pytest.raises(ValueError, match="grid_shape"):
        energy_radius(np.zeros(8), 0.5)
    assert energy_radius(np.random.default_rng(0).normal(size=(16, 1)), 0.0) == 0.0  # nothing asked, no band
