"""The allocator fast path (runtime.py, issue #16): applied for every training loop, API included,
scoped to it, and off with ``SINETUNE_MALLOC=system``. (How much faster it is lives in ``bench speed``.)"""

from __future__ import annotations

import sys

import pytest
import torch

from sinetune import TrainOptions
from sinetune.runtime import allocator_tuned, fast_allocator
from sinetune.training import train

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the setting is glibc's")


@pytest.fixture(autouse=True)
def library_process(monkeypatch):
    """As in a library user's process: the CLI's process-wide setting (other tests ran main()) not applied."""
    import sinetune.runtime as runtime

    monkeypatch.setitem(runtime._state, "process_wide", False)


def _tuned_during_training() -> list[bool]:
    field = torch.nn.Linear(2, 1)
    seen = []
    train(field, torch.rand(8, 2), torch.rand(8, 1), TrainOptions(steps=2), 1e-3,
          on_step=lambda step, module: seen.append(allocator_tuned()))
    return seen


@glibc
def test_every_training_loop_gets_the_fast_allocator_and_gives_it_back(monkeypatch):
    monkeypatch.delenv("SINETUNE_MALLOC", raising=False)
    assert not allocator_tuned()
    assert _tuned_during_training() == [True, True]
    assert not allocator_tuned()  # glibc's defaults are back after the fit


@glibc
def test_nested_scopes_restore_only_at_the_outermost(monkeypatch):
    monkeypatch.delenv("SINETUNE_MALLOC", raising=False)
    with fast_allocator() as applied:
        assert applied
        assert _tuned_during_training() == [True, True]
        assert allocator_tuned()  # the inner loop did not undo the outer scope
    assert not allocator_tuned()


def test_the_fast_allocator_can_be_disabled(monkeypatch):
    monkeypatch.setenv("SINETUNE_MALLOC", "system")
    assert _tuned_during_training() == [False, False]
