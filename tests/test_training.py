"""Training loop, constraints and penalties (training.py, tuner-spec §3–4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import sinetune
from sinetune import SinetuneError, TunerOptions
from sinetune.constraints import BoundPenalty, ColumnClamp, PositiveBounds
from sinetune.methods import get_method
from sinetune.metrics import psnr, psnr_from_mse
from sinetune.models import SineLayer
from sinetune.signals import grid_coordinates, load_image
from sinetune.training import TrainOptions, predict, train

GRID = (32, 32)


def tuner(options: TunerOptions, seed: int = 0, grid_shape=GRID, channels: int = 3):
    method = get_method("tuner")
    resolved = method.resolve(options, grid_shape)
    return method.build(resolved, grid_shape, channels, torch.Generator().manual_seed(seed))


def random_targets(generator, grid_shape=GRID, channels=3):
    coords = grid_coordinates(grid_shape)
    return coords, torch.rand(len(coords), channels, generator=generator)


def test_mse_psnr():
    assert psnr_from_mse(0.01) == pytest.approx(20.0)
    assert psnr_from_mse(1e-4) == pytest.approx(40.0)
    assert psnr_from_mse(0.0) == math.inf
    assert psnr_from_mse(math.inf) == -math.inf and math.isnan(psnr_from_mse(math.nan))  # a diverged field, no crash


def test_weights_going_non_finite_at_a_log_step_with_heldout_pixels_are_restored(generator):
    coords, values = random_targets(generator)
    built = tuner(TunerOptions(input_width=24, hidden_width=24))

    def poison(step, field):
        if step == 3:
            with torch.no_grad():
                field.head.weight.fill_(math.inf)

    result = train(built.field, coords, values, TrainOptions(steps=10, log_every=3), 5e-4, built.constraints,
                   heldout=(coords[:20], values[:20]), on_step=poison)
    assert result.diverged and result.stopped == "diverged"
    assert all(torch.isfinite(p).all() for p in built.field.parameters())


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps"), ({"steps": -5}, "steps"),
    ({"lr": 0.0}, "lr"), ({"lr": -1e-3}, "lr"), ({"lr": float("nan")}, "lr"), ({"lr": float("inf")}, "lr"),
    ({"batch_size": 0}, "batch_size"), ({"batch_size": "half"}, "batch_size"), ({"log_every": 0}, "log_every"),
])
def test_train_options_validation(kwargs, message):
    with pytest.raises(SinetuneError, match=message):
        TrainOptions(**kwargs).validate()


def test_train_options_valid():
    TrainOptions(steps=1, lr=1e-3, batch_size=1, log_every=1).validate()  # no exception
    assert TrainOptions().lr is None and TrainOptions().steps is None and TrainOptions().batch_size is None


def test_predict_in_chunks_equals_one_pass(generator):
    built = tuner(TunerOptions(input_width=16, hidden_width=16))
    coords = grid_coordinates(GRID)
    torch.testing.assert_close(predict(built.field, coords, chunk=37), predict(built.field, coords))
    assert predict(built.field, coords[:0]).shape == (0, 3)


def test_clamp_holds_after_every_step_even_with_a_huge_lr(generator):
    built = tuner(TunerOptions(input_width=24, hidden_width=16, block_bounds=(0.5, 0.2)))
    layer = built.field.hidden[0]
    bounds = layer.column_bounds.clone()
    coords, values = random_targets(generator)
    seen, clamped = [], []

    def check(step, field):
        effective = field.hidden[0].effective_weight().detach()
        assert (effective.abs() <= bounds + 1e-6).all(), f"bound violated after step {step}"
        seen.append(step)
        clamped.append(int(((effective.abs() - bounds).abs() < 1e-6).sum()))

    result = train(built.field, coords, values, TrainOptions(steps=12, log_every=4), 0.5, built.constraints,
                   on_step=check)
    assert seen == list(range(1, 13))
    assert not result.diverged
    assert max(clamped) > 0, "the lr must actually push weights onto the bounds"
    # without the constraint the same lr leaves the box: the clamp is what keeps it
    free = tuner(TunerOptions(input_width=24, hidden_width=16, block_bounds=(0.5, 0.2)))
    train(free.field, coords, values, TrainOptions(steps=3), 0.5)
    assert (free.field.hidden[0].effective_weight().abs() > bounds + 1e-3).any()


def test_column_clamp_projects_stored_weights():
    built = tuner(TunerOptions(input_width=16, hidden_width=8))
    layer = built.field.hidden[0]
    with torch.no_grad():
        layer.weight.fill_(1.0)  # effective 30 ≫ every bound
        layer.weight[0].fill_(-1.0)
    ColumnClamp(layer).apply()
    bounds = layer.column_bounds
    torch.testing.assert_close(layer.weight[1], bounds / 30.0)
    torch.testing.assert_close(layer.weight[0], -bounds / 30.0)
    with pytest.raises(ValueError):
        ColumnClamp(tuner(TunerOptions(input_width=16, hidden_width=8, bound_mode="learned")).field.hidden[0])


def test_learned_bounds_stay_non_negative_after_every_step(generator):
    built = tuner(TunerOptions(input_width=16, hidden_width=16, bound_mode="learned", bound_penalty=1.0))
    coords, values = random_targets(generator)
    initial = built.field.hidden[0].column_bounds.detach().clone()
    minima = []

    def check(step, field):
        c = field.hidden[0].column_bounds.detach()
        minima.append(float(c.min()))
        assert (c >= 0).all(), f"negative bound after step {step}"
        effective = field.hidden[0].effective_weight().detach()
        assert (effective.abs() <= c[None, :] + 1e-6).all()

    # λ = 1 and lr 0.5: the L1 gradient drives c through zero, PositiveBounds must reflect it back
    train(built.field, coords, values, TrainOptions(steps=8), 0.5, built.constraints, built.penalties, on_step=check)
    assert len(minima) == 8
    assert not torch.equal(built.field.hidden[0].column_bounds.detach(), initial)  # c is trained


def test_learned_bounds_move_at_the_weights_pace():
    """Stored as c / ω, an Adam step of lr moves c by up to ω·lr: over 40 steps at lr 5e-4 the bounds
    move by far more than the 40 · lr = 0.02 a raw parameter could (and the penalty is tiny)."""
    built = tuner(TunerOptions(input_width=16, hidden_width=16, bound_mode="learned"))
    coords, values = random_targets(torch.Generator().manual_seed(1))
    initial = built.field.hidden[0].column_bounds.detach().clone()
    train(built.field, coords, values, TrainOptions(steps=40), 5e-4, built.constraints, built.penalties)
    moved = (built.field.hidden[0].column_bounds.detach() - initial).abs()
    assert moved.max() > 0.1  # > 5 × what raw storage allows


def test_bound_penalty_shrinks_the_bound_of_an_unused_column():
    """A column whose input is always 0 gets no gradient from the MSE: only λ Σ|c| acts on its bound,
    which shrinks step after step, while the used columns keep theirs near where the fit wants them."""
    generator = torch.Generator().manual_seed(0)
    layer = SineLayer(4, 8, 30.0, 0.3 * torch.randn(8, 4, generator=generator), torch.zeros(8), "learned",
                      torch.ones(4))
    head = torch.nn.Linear(8, 1)
    with torch.no_grad():  # from the test's generator, not the global RNG (the result must not depend on test order)
        head.weight.copy_(0.3 * torch.randn(1, 8, generator=generator))
        head.bias.zero_()
    features = torch.rand(256, 4, generator=generator)
    features[:, 3] = 0.0  # column 3 is unused
    target = torch.sin(3 * features[:, :1])
    penalty = BoundPenalty(layer, 1e-2)
    optimizer = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=1e-3)
    unused = []
    for _ in range(30):
        optimizer.zero_grad()
        (torch.mean((head(layer(features)) - target) ** 2) + penalty()).backward()
        optimizer.step()
        PositiveBounds(layer).apply()
        unused.append(float(layer.column_bounds[3].detach()))
    assert all(b < a for a, b in zip(unused, unused[1:]))  # shrinks at every step
    assert unused[-1] < 0.2  # ≈ 1 − 30 · 30 · lr: the ω-scaled step
    assert layer.column_bounds[:3].detach().min() > unused[-1]


def test_checkpoints_with_raw_learned_bounds_still_load():
    layer = tuner(TunerOptions(input_width=16, hidden_width=8, bound_mode="learned")).field.hidden[0]
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    state["column_bounds"] = state.pop("scaled_bounds") * layer.omega  # the old file's key and unit
    with torch.no_grad():
        layer.scaled_bounds.zero_()
    layer.load_state_dict(state)
    torch.testing.assert_close(layer.column_bounds.detach(), state["column_bounds"])


def test_positive_bounds_reflects_negative_values():
    layer = tuner(TunerOptions(input_width=16, hidden_width=8, bound_mode="learned")).field.hidden[0]
    with torch.no_grad():
        layer.scaled_bounds.copy_(torch.linspace(-1, 1, 16) / layer.omega)
    PositiveBounds(layer).apply()
    torch.testing.assert_close(layer.column_bounds.detach(), torch.linspace(-1, 1, 16).abs())


def test_bound_penalty_gradient_is_lambda_sign_c():
    layer = tuner(TunerOptions(input_width=16, hidden_width=8, bound_mode="learned")).field.hidden[0]
    with torch.no_grad():
        layer.scaled_bounds.copy_(torch.tensor([0.5, -0.3, 1.0, -2.0] * 4) / layer.omega)
    penalty = BoundPenalty(layer, 0.01)
    value = penalty()
    assert value.item() == pytest.approx(0.01 * 3.8 * 4)
    # λ sign(c) with respect to c; the stored c / ω receives ω times that (chain rule)
    (gradient,) = torch.autograd.grad(value, layer.scaled_bounds)
    torch.testing.assert_close(gradient, layer.omega * 0.01 * torch.sign(layer.column_bounds.detach()))
    with pytest.raises(ValueError):
        BoundPenalty(tuner(TunerOptions(input_width=16, hidden_width=8)).field.hidden[0], 1.0)


def test_frozen_frequencies_do_not_change_and_phases_do(generator):
    built = tuner(TunerOptions(input_width=16, hidden_width=16))
    k = built.field.encoding.input_frequencies.clone()
    omega = built.field.encoding.angular_frequencies.clone()
    phases = built.field.encoding.phases.detach().clone()
    coords, values = random_targets(generator)
    train(built.field, coords, values, TrainOptions(steps=3), 1e-2, built.constraints)
    assert torch.equal(built.field.encoding.input_frequencies, k)
    assert torch.equal(built.field.encoding.angular_frequencies, omega)
    assert not torch.equal(built.field.encoding.phases.detach(), phases)


def test_history_logging_and_step_times(generator):
    built = tuner(TunerOptions(input_width=16, hidden_width=16))
    coords, values = random_targets(generator)
    before = float(torch.mean((predict(built.field, coords) - values) ** 2))
    held = (coords[:50], values[:50])
    result = train(built.field, coords, values, TrainOptions(steps=7, log_every=3), 1e-3, built.constraints,
                   heldout=held)
    assert [row["step"] for row in result.history] == [3, 6, 7]
    assert len(result.step_seconds) == 7 and all(t > 0 for t in result.step_seconds)
    assert set(result.history[0]) == {"step", "loss", "train_psnr", "heldout_psnr", "elapsed_s"}
    elapsed = [row["elapsed_s"] for row in result.history]
    assert elapsed == sorted(elapsed) and elapsed[-1] == pytest.approx(sum(result.step_seconds))
    # held-out PSNR is scored after the update of the logged step: at the last step, on the final field
    final = float(torch.mean((predict(built.field, held[0]) - held[1]) ** 2))
    assert result.history[-1]["heldout_psnr"] == pytest.approx(psnr_from_mse(final), abs=1e-6)
    # train PSNR of a logged step comes from that step's MSE, before its update
    first = train(tuner(TunerOptions(input_width=16, hidden_width=16)).field, coords, values,
                  TrainOptions(steps=1, log_every=1), 1e-3)
    assert first.history[0]["train_psnr"] == pytest.approx(psnr_from_mse(before), abs=1e-4)
    assert first.history[0]["loss"] == pytest.approx(before, rel=1e-5)
    assert math.isnan(first.history[0]["heldout_psnr"])


def test_loss_includes_penalties(generator):
    built = tuner(TunerOptions(input_width=16, hidden_width=16, bound_mode="learned", bound_penalty=0.1))
    coords, values = random_targets(generator)
    mse = float(torch.mean((predict(built.field, coords) - values) ** 2))
    penalty = float(built.penalties[0]().detach())
    result = train(built.field, coords, values, TrainOptions(steps=1, log_every=1), 1e-4, built.constraints,
                   built.penalties)
    assert result.history[0]["loss"] == pytest.approx(mse + penalty, rel=1e-5)


def test_minibatches_are_deterministic_given_the_generator(generator):
    coords, values = random_targets(generator)

    def fit(seed):
        built = tuner(TunerOptions(input_width=16, hidden_width=16))
        train(built.field, coords, values, TrainOptions(steps=6, batch_size=200), 1e-3, built.constraints,
              generator=torch.Generator().manual_seed(seed))
        return built.field.head.weight.detach().clone()

    assert torch.equal(fit(1), fit(1))
    assert not torch.equal(fit(1), fit(2))


class _PoisonAt:
    """A constraint that writes NaN into the head weights right after optimizer step ``step``."""

    def __init__(self, field, step):
        self.field, self.step, self.calls = field, step, 0

    def apply(self):
        self.calls += 1  # train() applies constraints once before step 1
        if self.calls == self.step + 1:
            with torch.no_grad():
                self.field.head.weight.fill_(float("nan"))


def _all_finite(field) -> bool:
    return all(torch.isfinite(t).all() for t in field.state_dict().values() if t.is_floating_point())


@pytest.mark.parametrize("poison_step", [3, 7])
def test_divergence_guard_between_log_steps(generator, poison_step):
    built = tuner(TunerOptions(input_width=16, hidden_width=16))
    coords, values = random_targets(generator)
    result = train(built.field, coords, values, TrainOptions(steps=20, log_every=5), 1e-3,
                   built.constraints + [_PoisonAt(built.field, poison_step)])
    assert result.diverged
    assert len(result.step_seconds) == poison_step  # stopped at the first non-finite loss
    assert _all_finite(built.field)
    assert torch.isfinite(predict(built.field, coords)).all()


@pytest.mark.parametrize("poison_step, log_every", [(5, 5), (2, 1)])
def test_divergence_guard_on_a_log_step(generator, poison_step, log_every):
    built = tuner(TunerOptions(input_width=16, hidden_width=16))
    coords, values = random_targets(generator)
    result = train(built.field, coords, values, TrainOptions(steps=20, log_every=log_every), 1e-3,
                   built.constraints + [_PoisonAt(built.field, poison_step)])
    assert result.diverged
    assert _all_finite(built.field)


def test_tuner_fits_a_smooth_image(rgb_image):
    # measured: train 31.2 dB, held-out 29.5 dB after 200 steps (0.5 s on one core)
    options = TunerOptions(input_width=32, hidden_width=32, band_fraction=0.3)
    result = sinetune.fit(str(rgb_image), "tuner", size=None, options=options,
                          train_options=TrainOptions(steps=200), device="cpu")
    metrics = result.metrics
    assert metrics["train_psnr"] > 29.0
    assert metrics["heldout_psnr"] > 27.5
    assert metrics["ssim"] > 0.85
    assert not metrics["diverged"]
    # far better than the best constant image
    values = load_image(rgb_image).values
    baseline = psnr(np.broadcast_to(values.mean(axis=(0, 1)), values.shape).copy(), values)
    assert metrics["full_psnr"] > baseline + 12
    curve = [row["train_psnr"] for row in result.history]
    assert curve[-1] > curve[0] + 10


def _smooth_problem(generator):
    from sinetune.signals import grid_coordinates

    coords = grid_coordinates((16, 16))
    values = 0.5 + 0.25 * torch.sin(3 * coords[:, :1]) * torch.cos(2 * coords[:, 1:])
    options = get_method("tuner").resolve(TunerOptions(input_width=16, hidden_width=16, band_fraction=0.5), (16, 16))
    built = get_method("tuner").build(options, (16, 16), 1, generator)
    return coords, values, built


def test_stop_psnr_ends_training_at_the_first_log_step_that_reaches_it(generator):
    coords, values, built = _smooth_problem(generator)
    options = TrainOptions(steps=2000, log_every=5, stop_psnr=25.0)
    result = train(built.field, coords, values, options, 5e-3, built.constraints, built.penalties)
    assert result.stopped == "psnr"
    assert result.history[-1]["train_psnr"] >= 25.0
    assert all(row["train_psnr"] < 25.0 for row in result.history[:-1])
    assert len(result.step_seconds) == result.history[-1]["step"] < 2000


def test_stop_plateau_ends_training_when_the_loss_stops_improving(generator):
    coords, values, built = _smooth_problem(generator)
    # lr 0 never improves the loss: the plateau rule must fire after window + 1 log steps
    result = train(built.field, coords, values, TrainOptions(steps=500, log_every=2, stop_plateau=3), 0.0,
                   built.constraints, built.penalties)
    assert result.stopped == "plateau" and len(result.history) == 4
    full = train(built.field, coords, values, TrainOptions(steps=20, log_every=2), 5e-3, built.constraints)
    assert full.stopped is None and len(full.step_seconds) == 20


@pytest.mark.parametrize("kwargs", [{"stop_plateau": 0}, {"plateau_tolerance": 1.0}, {"plateau_tolerance": -0.1}])
def test_early_stop_options_are_validated(kwargs):
    with pytest.raises(SinetuneError):
        TrainOptions(**kwargs).validate()


@pytest.mark.parametrize("bound_mode", ["clamp", "learned"])
def test_cached_encoding_trains_like_the_uncached_path(generator, bound_mode):
    coords, values = random_targets(generator)
    fields = []
    for cache in (True, False):
        built = tuner(TunerOptions(input_width=24, hidden_width=24, bound_mode=bound_mode))
        train(built.field, coords, values, TrainOptions(steps=8, cache_encoding=cache), 5e-4, built.constraints,
              built.penalties)
        fields.append(built.field)
    for (name, cached), (_, direct) in zip(fields[0].named_parameters(), fields[1].named_parameters()):
        torch.testing.assert_close(cached, direct, atol=2e-5, rtol=1e-5, msg=name)
    torch.testing.assert_close(fields[0](coords), fields[1](coords), atol=1e-4, rtol=0)


def test_training_matches_the_plain_pytorch_network_step_for_step(generator):
    """sinetune's TUNER step (ω folded, cached encoding, column clamp) against nn.Linear + torch.sin + Adam."""
    from sinetune.bench.reference import PlainSineNetwork

    coords, values = random_targets(generator)
    built = tuner(TunerOptions(input_width=24, hidden_width=24))
    ours = built.field
    omega = ours.hidden[0].omega
    plain = PlainSineNetwork(2, 24, 24, 3, 1.0, omega, 1, ours.encoding.angular_frequencies.float())
    with torch.no_grad():
        plain.first.bias.copy_(ours.encoding.phases)
        plain.hidden[0].weight.copy_(ours.hidden[0].weight)
        plain.hidden[0].bias.copy_(ours.hidden[0].bias)
        plain.out.weight.copy_(ours.head.weight)
        plain.out.bias.copy_(ours.head.bias)
    torch.testing.assert_close(plain(coords), ours(coords), atol=1e-5, rtol=0)
    limit = ours.hidden[0].column_bounds / omega
    optimizer = torch.optim.Adam([p for p in plain.parameters() if p.requires_grad], lr=5e-4)
    for _ in range(8):
        optimizer.zero_grad()
        torch.mean((plain(coords) - values) ** 2).backward()
        optimizer.step()
        with torch.no_grad():
            plain.hidden[0].weight.copy_(torch.maximum(torch.minimum(plain.hidden[0].weight, limit), -limit))
    train(ours, coords, values, TrainOptions(steps=8), 5e-4, built.constraints)
    torch.testing.assert_close(ours.hidden[0].weight, plain.hidden[0].weight, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(ours.encoding.phases, plain.first.bias, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(ours(coords), plain(coords), atol=1e-4, rtol=0)


class _SpikeAt:
    """A constraint that kicks the head's weights at one step: a stand-in for a late Adam spike."""

    def __init__(self, field, step: int):
        self.field, self.step, self.calls = field, step, -1  # apply() also runs once before step 1

    def apply(self) -> None:
        self.calls += 1
        if self.calls == self.step:
            with torch.no_grad():
                self.field.head.weight.add_(0.5)


@pytest.mark.parametrize("heldout", [False, True])
def test_keep_best_ends_with_the_best_logged_weights(generator, heldout):
    """A spike at step 16 of 20 ruins the last weights; keep_best returns those of the best logged step,
    whose score the restored field reproduces (held-out: after that step's update; training: before)."""
    coords, values, _ = _smooth_problem(generator)
    pairs = (coords[::7], values[::7]) if heldout else None
    finals = {}
    for keep_best in (False, True):
        _, _, built = _smooth_problem(torch.Generator().manual_seed(0))
        options = TrainOptions(steps=20, log_every=2, keep_best=keep_best)
        result = train(built.field, coords, values, options, 5e-3, built.constraints + [_SpikeAt(built.field, 16)],
                       heldout=pairs)
        key = "heldout_psnr" if heldout else "train_psnr"
        scores = [row[key] for row in result.history]
        best = max(range(len(scores)), key=scores.__getitem__)
        assert scores[-1] < max(scores) - 3  # the spike is visible in the history
        probe_coords, probe_values = pairs if heldout else (coords, values)
        finals[keep_best] = psnr_from_mse(float(torch.mean((predict(built.field, probe_coords) - probe_values) ** 2)))
        if keep_best:
            assert result.best_step == result.history[best]["step"] <= 16
            assert finals[True] == pytest.approx(scores[best], abs=1e-3)
        else:
            assert result.best_step is None
    assert finals[True] > finals[False] + 3
