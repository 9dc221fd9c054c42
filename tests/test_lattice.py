"""Sub-period test and repair of integer frequency sets (lattice.py, tuner-spec §7.4, TR §5.3)."""

from __future__ import annotations

import itertools
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from conftest import smooth_rgb, write_png

import sinetune
from sinetune import SinetuneError, TrainOptions, TunerOptions
from sinetune.lattice import (
    FrequencySetWarning,
    check_input_frequencies,
    generates_full_lattice,
    lattice_index,
    repair_frequencies,
    sub_period,
)
from sinetune.methods import get_method
from sinetune.spectral import sample_input_frequencies

ODD = ((1, 1), (1, -1), (3, 1), (1, 3), (3, -1), (1, -3), (3, 3), (3, -3))  # all-odd, no e_i
EVEN = ((2, 0), (0, 2), (2, 2), (4, -2), (2, -4), (6, 2))
DECADES = tuple((a, b) for a in (1, 10, 100) for b in (1, 10, 100))  # TR Fig. 8(b)


def exact_det(matrix: list[list[int]]) -> int:
    """Integer determinant by Laplace expansion (tiny matrices only)."""
    if len(matrix) == 1:
        return matrix[0][0]
    return sum((-1) ** j * matrix[0][j] * exact_det([row[:j] + row[j + 1:] for row in matrix[1:]])
               for j in range(len(matrix)))


def gcd_of_minors(rows: np.ndarray) -> int:
    """The definition: gcd of all d×d minors, by brute force."""
    dim = rows.shape[1]
    minors = (exact_det([[int(v) for v in rows[i]] for i in chosen])
              for chosen in itertools.combinations(range(len(rows)), dim))
    return math.gcd(*minors) if len(rows) >= dim else 0


# --- the index ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rows, index", [
    (ODD, 2),
    (EVEN, 4),
    (DECADES, 9),  # det((1,1),(1,10)) = 9, det((1,10),(10,1)) = -99, ...: gcd 9
    (((1, 0), (0, 1)), 1),
    (((1, 0), (0, 1)) + ODD, 1),
    (((1, 0),) + ODD, 1),  # one canonical vector already fixes the odd set
    (((0, 1),) + EVEN, 2),
    (((1, 1), (2, 2), (-3, -3)), 0),  # rank 1: constant along (1, -1)
    (((1, 2),), 0),  # fewer rows than dimensions
    (((1, 0, 0), (0, 1, 0), (1, 1, 2)), 2),
    (((1, 0, 0), (0, 1, 0), (1, 1, 2), (0, 0, 1)), 1),
])
def test_lattice_index_hand_examples(rows, index):
    assert lattice_index(np.array(rows)) == index
    assert generates_full_lattice(np.array(rows)) == (index == 1)


@pytest.mark.parametrize("rows, index", [
    ([[4], [6]], 2), ([[4], [6], [9]], 1), ([[3]], 3), ([[-1]], 1), ([[0], [0]], 0), ([[12], [-18], [30]], 6),
])
def test_lattice_index_one_dimensional_is_the_gcd(rows, index):
    assert lattice_index(rows) == index


def test_lattice_index_matches_gcd_of_minors_on_random_sets():
    rng = np.random.default_rng(0)
    for trial in range(300):
        dim = int(rng.integers(1, 4))
        count = int(rng.integers(dim, dim + 5))
        scale = int(rng.choice([1, 2, 3]))
        rows = rng.integers(-6, 7, size=(count, dim)) * scale
        assert lattice_index(rows) == gcd_of_minors(rows), rows


def test_lattice_index_is_exact_for_large_sets_and_entries():
    k = sample_input_frequencies(416, 80, 12, np.random.default_rng(0))
    assert lattice_index(k) == 1
    assert lattice_index(2 * k) == 4
    assert lattice_index(3 * k[2:]) % 9 == 0
    big = np.array([[10**12 + 1, 3], [7, 10**12 - 1]], dtype=object)  # beyond float precision
    assert lattice_index(big) == abs((10**12 + 1) * (10**12 - 1) - 21)


def test_lattice_index_rejects_non_integers():
    with pytest.raises(ValueError, match="integers"):
        lattice_index(np.array([[1.5, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        lattice_index(np.array([1, 2, 3]))


# --- sub-periods ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rows, period", [
    (ODD, (Fraction(1, 2), Fraction(1, 2))),
    (((1, 0), (0, 1), (1, 1)), None),
])
def test_sub_period(rows, period):
    assert sub_period(rows) == period


@pytest.mark.parametrize("rows", [EVEN, DECADES, ((1, 0, 0), (0, 1, 0), (1, 1, 2))])
def test_sub_period_is_a_period_of_every_row(rows):
    t = sub_period(rows)
    assert t is not None and any(v != 0 for v in t)
    for row in rows:  # ⟨K_j, t⟩ ∈ Z: every input neuron, hence every field, repeats under t·p
        assert sum(Fraction(k) * v for k, v in zip(row, t)).denominator == 1


# --- repair ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows, replaced", [
    (ODD, [7]),
    (EVEN, [5, 4]),
    (DECADES, [8]),
    (((1, 0), (2, 2), (1, 0)), [2]),  # a duplicate of e_1 is not protected; its first occurrence is
    (((1, 1), (2, 2), (-3, -3)), [2]),  # rank-deficient: e_1 next to (1, 1) already gives Z^2
])
def test_repair_frequencies(rows, replaced):
    repaired, rows_replaced = repair_frequencies(np.array(rows))
    assert rows_replaced == replaced
    assert repaired.shape == np.array(rows).shape
    assert generates_full_lattice(repaired)
    untouched = [i for i in range(len(rows)) if i not in replaced]
    np.testing.assert_array_equal(repaired[untouched], np.array(rows)[untouched])
    for i in replaced:
        assert np.abs(repaired[i]).sum() == 1  # a canonical vector


def test_repair_keeps_a_good_set_and_needs_enough_rows():
    good = np.array(((1, 0), (0, 1)) + ODD)
    repaired, replaced = repair_frequencies(good)
    assert replaced == [] and np.array_equal(repaired, good)
    with pytest.raises(ValueError, match="at least 2"):
        repair_frequencies(np.array([[2, 2]]))


def test_check_input_frequencies_modes():
    with pytest.warns(FrequencySetWarning, match=r"index-2 sublattice .* sub-period \(1/2, 1/2\)·p; repaired: row 7"):
        repaired = check_input_frequencies(np.array(ODD), "repair", "input_frequencies")
    assert generates_full_lattice(repaired)
    with pytest.raises(SinetuneError, match="index-4 sublattice"):
        check_input_frequencies(np.array(EVEN), "strict")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(check_input_frequencies(np.array(ODD), "off"), np.array(ODD))
        good = np.array(((1, 0), (0, 1)) + ODD)
        assert np.array_equal(check_input_frequencies(good, "strict"), good)
    with pytest.raises(SinetuneError, match="frequency_check"):
        check_input_frequencies(np.array(ODD), "fix")


# --- wired into TUNER -----------------------------------------------------------------------------

def odd_options(**kwargs) -> TunerOptions:
    return TunerOptions(input_width=len(ODD), hidden_width=8, input_frequencies=ODD, **kwargs)


def test_tuner_resolve_repairs_given_frequencies_and_records_them():
    tuner = get_method("tuner")
    with pytest.warns(FrequencySetWarning, match="sub-period"):
        options = tuner.resolve(odd_options(), (16, 16))
    assert options.input_frequencies[:-1] == ODD[:-1] and options.input_frequencies[-1] == (1, 0)
    assert generates_full_lattice(np.array(options.input_frequencies))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tuner.resolve(options, (16, 16)) == options  # the saved config re-runs without a warning


def test_tuner_strict_refuses_and_off_keeps():
    tuner = get_method("tuner")
    with pytest.raises(SinetuneError, match="sub-period"):
        tuner.resolve(odd_options(frequency_check="strict"), (16, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tuner.resolve(odd_options(frequency_check="off"), (16, 16)).input_frequencies == ODD
    with pytest.raises(SinetuneError, match="frequency_check"):
        tuner.resolve(odd_options(frequency_check="maybe"), (16, 16))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_frequency_sets_pass_silently(seed):
    tuner = get_method("tuner")
    options = tuner.resolve(TunerOptions(input_width=16, hidden_width=4, band_fraction=0.3, frequency_check="strict"),
                            (32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        built = tuner.build(options, (32, 32), 3, torch.Generator().manual_seed(seed))
    assert generates_full_lattice(built.field.encoding.input_frequencies.numpy())


def randomise(field: torch.nn.Module, generator: torch.Generator, scale: float) -> torch.nn.Module:
    """Every trainable parameter ~ N(0, scale²) (hidden weights in effective units): "any weights"."""
    field = field.double()
    with torch.no_grad():
        for name, parameter in field.named_parameters():
            value = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * scale
            parameter.copy_(value / 30.0 if name == "hidden.0.weight" else value)
    return field


def build_field(options: TunerOptions, seed: int = 0):
    tuner = get_method("tuner")
    resolved = tuner.resolve(options, (16, 16))
    return tuner.build(resolved, (16, 16), 3, torch.Generator().manual_seed(seed)).field, resolved


def test_all_odd_frequencies_repeat_at_half_period_and_the_repair_removes_it():
    generator = torch.Generator().manual_seed(5)
    x = torch.rand(256, 2, generator=generator, dtype=torch.float64) * 2 - 1
    period = TunerOptions().period
    half_diagonal = torch.tensor([period / 2, period / 2], dtype=torch.float64)
    half_x = torch.tensor([period / 2, 0.0], dtype=torch.float64)

    broken, options = build_field(odd_options(frequency_check="off"))
    assert options.input_frequencies == ODD
    for scale in (0.5, 1.0, 3.0):  # any weights: the repetition is structural
        field = randomise(broken, generator, scale)
        with torch.no_grad():
            y, shifted, sideways = field(x), field(x + half_diagonal), field(x + half_x)
        torch.testing.assert_close(shifted, y, atol=1e-10, rtol=0)  # sub-period (p/2, p/2)
        assert (sideways - y).abs().max() > 1e-2  # (p/2, 0) is not one

    with pytest.warns(FrequencySetWarning):
        repaired, options = build_field(odd_options())
    assert options.input_frequencies[-1] == (1, 0)
    for scale in (0.5, 1.0, 3.0):
        field = randomise(repaired, generator, scale)
        with torch.no_grad():
            y = field(x)
            assert (field(x + half_diagonal) - y).abs().max() > 1e-2  # no longer p/2-periodic on the diagonal
            for shift in ([period, 0.0], [0.0, period], [period, -period]):  # still p-periodic
                torch.testing.assert_close(field(x + torch.tensor(shift, dtype=torch.float64)), y, atol=1e-9, rtol=0)


def test_fit_repairs_with_one_warning_line(tmp_path):
    image = write_png(tmp_path / "smooth.png", smooth_rgb(16, 16))
    with pytest.warns(FrequencySetWarning) as record:
        result = sinetune.fit(str(image), "tuner", size=None, options=odd_options(),
                              train_options=TrainOptions(steps=2), holdout=0.0, device="cpu")
    assert len(record) == 1 and "\n" not in str(record[0].message)
    assert result.config.options.input_frequencies[-1] == (1, 0)
    assert generates_full_lattice(result.field.encoding.input_frequencies.numpy())
    assert result.config.options.frequency_check == "repair"
