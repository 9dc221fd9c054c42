"""The derived batch size and step count (sinetune.batching, issue #16)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sinetune.batching import (
    DEFAULT_BATCH,
    DEFAULT_EPOCHS,
    FULL_BATCH_LIMIT,
    describe_batching,
    resolve_batching,
    samples_per_step,
)
from sinetune.config import config_from_dict, config_to_dict
from sinetune.errors import SinetuneError
from sinetune.methods import build_field
from sinetune.runs import derived_text, prepare_fit
from sinetune.signals import Signal
from sinetune.training import TrainOptions, train


@pytest.mark.parametrize("count, dim, batch, steps", [
    (62259, 2, 16384, 1200),  # a 256² image, 5% held out: 4 batches per epoch
    (FULL_BATCH_LIMIT, 2, "full", 300),  # at the limit: the full batch
    (FULL_BATCH_LIMIT + 1, 2, 16384, 900),  # just above: ⌈32769 / 16384⌉ = 3 batches per epoch
    (249037, 2, 16384, 4800),  # 512²
    (2_000_000, 3, 16384, 300 * 123),  # a volume
    (80000, 1, "full", 300),  # a sound keeps the full batch
    (15565, 2, "full", 300),  # 128²
])
def test_the_derived_batch_and_steps_follow_the_documented_formula(count, dim, batch, steps):
    resolved = resolve_batching(TrainOptions(), count, dim)
    assert (resolved.batch_size, resolved.steps) == (batch, steps)
    assert resolve_batching(resolved, count, dim) == resolved  # idempotent


def test_values_the_user_gave_are_kept():
    assert resolve_batching(TrainOptions(steps=7), 62259, 2).steps == 7
    assert resolve_batching(TrainOptions(batch_size="full"), 62259, 2) == TrainOptions(batch_size="full", steps=300)
    assert resolve_batching(TrainOptions(batch_size=1000), 62259, 2).steps == 300 * 63
    assert describe_batching(TrainOptions(steps=7, batch_size="full"), 62259, 2) == ""
    resolved = resolve_batching(TrainOptions(), 62259, 2)  # a resumed run's saved values: described the same
    assert describe_batching(resolved, 62259, 2) == describe_batching(TrainOptions(), 62259, 2) != ""


@given(count=st.integers(1, 10**7), dim=st.integers(1, 4))
def test_derived_steps_visit_every_sample_the_default_number_of_times(count, dim):
    resolved = resolve_batching(TrainOptions(), count, dim)
    per_step = samples_per_step(resolved.batch_size, count)
    assert per_step <= count and (dim < 2 or per_step <= FULL_BATCH_LIMIT)  # sounds keep the full batch
    assert resolved.steps * per_step >= DEFAULT_EPOCHS * count  # at least 300 epochs of samples …
    assert (resolved.steps - DEFAULT_EPOCHS) * per_step < DEFAULT_EPOCHS * count  # … and less than one batch more each
    assert resolved.steps == DEFAULT_EPOCHS * math.ceil(count / per_step)


def test_full_round_trips_and_bad_values_are_one_clear_error():
    config = config_from_dict({"train": {"batch_size": "full"}})
    assert config.train.batch_size == "full"
    assert config_from_dict(config_to_dict(config)).train.batch_size == "full"
    with pytest.raises(SinetuneError, match="int or one of full or null"):
        config_from_dict({"train": {"batch_size": "half"}})
    for bad in (0, -1):
        with pytest.raises(SinetuneError, match="batch_size"):
            TrainOptions(batch_size=bad).validate()


def _large_signal() -> Signal:
    rng = np.random.default_rng(0)
    return Signal(rng.random((200, 200, 1), dtype=np.float32), "noise")  # 38000 training samples at 5% held out


def test_a_large_image_is_fitted_with_mini_batches_and_the_derived_line_says_so():
    config = config_from_dict({"options": {"input_width": 8, "hidden_width": 8}, "device": "cpu"})
    prepared = prepare_fit(config, _large_signal())
    assert prepared.config.train.batch_size == DEFAULT_BATCH and prepared.config.train.steps == 900
    assert "batches of 16384 (38000 samples > 32768), 900 steps = 300 epochs" in derived_text(prepared)
    given = prepare_fit(config_from_dict({"options": {"input_width": 8, "hidden_width": 8}, "device": "cpu",
                                          "train": {"batch_size": "full", "steps": 5}}), _large_signal())
    assert (given.config.train.batch_size, given.config.train.steps) == ("full", 5)
    assert "batches" not in derived_text(given) and "steps" not in derived_text(given)


def test_the_loop_derives_the_same_batches_when_called_directly(tiny_tuner_options):
    """``train`` with ``batch_size`` null takes the derived batches: the same weights as an explicit
    16384, different ones from the full batch."""
    signal = _large_signal()
    coords = torch.cartesian_prod(torch.linspace(-1, 1, 200), torch.linspace(-1, 1, 200))
    values = torch.from_numpy(signal.values.reshape(-1, 1))

    def weights(batch_size):
        built = build_field("tuner", (200, 200), 1, tiny_tuner_options, generator=torch.Generator().manual_seed(0))
        train(built.field, coords, values, TrainOptions(steps=3, batch_size=batch_size, log_every=3), 1e-3,
              built.constraints, generator=torch.Generator().manual_seed(1))
        return torch.cat([p.detach().flatten() for p in built.field.parameters()])

    derived, explicit, full = weights(None), weights(DEFAULT_BATCH), weights("full")
    assert torch.equal(derived, explicit)
    assert not torch.allclose(derived, full)
