"""When a fit has diverged: one pure rule, shared by the training loop and the run's metrics.

A loss diverged when it is non-finite, or when it is more than :data:`DIVERGENCE_FACTOR` times the
loss the fit started from (30 dB worse than the start: a loss of a [0, 1] image that starts near
0.3 has diverged above 300, i.e. a PSNR below −25 dB) — :func:`is_diverged`, which a training loop
can call every step. A finished fit has also diverged when its *last* logged loss is still more than
:data:`ENDED_FACTOR` times its start (it ended 10 dB worse than a field that outputs zeros: ``--lr 10``
on a 32² image oscillates between 40 and 200 and ends there, below the spike rule).

The reference ``start_loss`` is the first loss of the fit; where that was not logged (the loop logs
every ``log_every`` steps, and a learning rate of 10 has already blown up by step 10)
:func:`start_reference` also takes the loss of an all-zero field, ``mean(y²)``, which is where any
field whose outputs start near 0 begins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: A loss above this many times its start counts as diverged.
DIVERGENCE_FACTOR = 1e3
#: A fit whose last logged loss is above this many times its start ended diverged.
ENDED_FACTOR = 10.0


def is_diverged(start_loss: float, loss: float, factor: float = DIVERGENCE_FACTOR) -> bool:
    """``True`` if ``loss`` is non-finite or above ``factor × start_loss`` (a finite, positive start).

    Pure and cheap: a training loop may call it every step with its first step's loss.
    """
    if not math.isfinite(loss):
        return True
    return math.isfinite(start_loss) and start_loss > 0 and loss > factor * start_loss


def start_reference(first_logged_loss: float | None, zero_field_loss: float) -> float:
    """The reference start loss of a fit: the smaller of its first logged loss and ``mean(y²)``."""
    candidates = [value for value in (first_logged_loss, zero_field_loss)
                  if value is not None and math.isfinite(value) and value > 0]
    return min(candidates) if candidates else math.nan


def divergence_reason(history: Iterable[dict[str, float]], zero_field_loss: float, nonfinite: bool = False,
                      factor: float = DIVERGENCE_FACTOR, ended_factor: float = ENDED_FACTOR) -> str | None:
    """Why a logged training curve diverged (one line), or ``None`` if it did not.

    Args:
        history: the logged rows (``step``, ``loss``) of :class:`~sinetune.training.TrainResult`.
        zero_field_loss: ``mean(y²)`` of the training targets (the loss of an all-zero field).
        nonfinite: the loop already stopped on a non-finite loss or non-finite weights.
    """
    rows = list(history)
    if nonfinite:
        return "the loss became non-finite; the field holds the last weights whose loss was finite"
    start = start_reference(rows[0]["loss"] if rows else None, zero_field_loss)
    for row in rows:
        if is_diverged(start, row["loss"], factor):
            return (f"the loss diverged: {row['loss']:.3g} at step {int(row['step'])} is more than {factor:g}× "
                    f"its start {start:.3g}; lower the learning rate (--lr)")
    if rows and is_diverged(start, rows[-1]["loss"], ended_factor):
        return (f"the loss diverged: it ended at {rows[-1]['loss']:.3g}, more than {ended_factor:g}× its start "
                f"{start:.3g}; lower the learning rate (--lr)")
    return None


__all__ = ["DIVERGENCE_FACTOR", "ENDED_FACTOR", "divergence_reason", "is_diverged", "start_reference"]
