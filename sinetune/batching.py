"""The derived batch size and step count (issue #16): mini-batches by default on large signals.

A full-batch step costs time in proportion to the training samples ``N``; a mini-batch step of ``b``
samples costs about ``b / N`` of it (0.26–0.29× at ``b = N/4`` on the 256² images, BENCHMARKS.md
"Time-to-quality levers"), and a band-limited field needs only 1.1–1.5× as many of them to reach
the same held-out PSNR. So when :class:`~sinetune.training.TrainOptions` leaves them ``None``:

* ``batch_size`` = :data:`DEFAULT_BATCH` (16384) samples per step when a signal of two or more
  dimensions (image, video, volume, SDF) has more than :data:`FULL_BATCH_LIMIT` (32768) training
  samples, otherwise ``"full"`` (every training sample at every step). Sounds keep the full batch:
  the rule was measured on images only.
* ``steps`` = :data:`DEFAULT_EPOCHS` passes over the training samples: ``DEFAULT_EPOCHS · ⌈N / b⌉``
  steps (``DEFAULT_EPOCHS`` with a full batch, as before).

Both are pure functions of ``N`` and the signal's dimension (:func:`resolve_batching`); a run's saved
config holds the resolved values, so a rerun or a resume does exactly the same steps. Give
``batch_size: full`` (``--batch-size full``) for the full batch at any size.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .training import TrainOptions

#: the most training samples a signal may have and still be fitted with the full batch by default.
FULL_BATCH_LIMIT = 32768
#: the derived mini-batch size above :data:`FULL_BATCH_LIMIT` (a quarter of a 256² image's samples).
DEFAULT_BATCH = 16384
#: passes over the training samples when ``steps`` is derived (300 full-batch steps, as before).
DEFAULT_EPOCHS = 300


def derived_batch_size(count: int, dim: int) -> int | str:
    """The batch size for ``count`` training samples of a ``dim``-dimensional signal (module docstring)."""
    return DEFAULT_BATCH if dim >= 2 and count > FULL_BATCH_LIMIT else "full"


def samples_per_step(batch_size: int | str, count: int) -> int:
    """Samples in one optimizer step: ``count`` for ``"full"``, else ``min(batch_size, count)``."""
    return count if batch_size == "full" else min(int(batch_size), count)


def resolve_batching(options: TrainOptions, count: int, dim: int) -> TrainOptions:
    """``options`` with ``batch_size`` and ``steps`` filled in for ``count`` training samples of a
    ``dim``-dimensional signal; values the user gave are kept. Idempotent."""
    batch = options.batch_size if options.batch_size is not None else derived_batch_size(count, dim)
    steps = options.steps
    if steps is None:
        steps = DEFAULT_EPOCHS * math.ceil(max(count, 1) / samples_per_step(batch, max(count, 1)))
    return replace(options, batch_size=batch, steps=steps)


def describe_batching(options: TrainOptions, count: int, dim: int) -> str:
    """What the rule chose, for the ``derived:`` line: ``batches of 16384 (62259 samples > 32768), 1200
    steps = 300 epochs``. A value the user gave is left out, unless it is the one the rule gives (so a
    resumed run, whose saved config holds the resolved values, says the same as the first)."""
    rule = resolve_batching(replace(options, batch_size=None, steps=None), count, dim)
    resolved = resolve_batching(options, count, dim)
    parts = []
    if resolved.batch_size == rule.batch_size:
        if resolved.batch_size != "full":
            parts.append(f"batches of {resolved.batch_size} ({count} samples > {FULL_BATCH_LIMIT})")
        else:
            parts.append("full batch (" + ("a sound" if dim < 2 else f"{count} samples ≤ {FULL_BATCH_LIMIT}") + ")")
    if resolved.steps == resolve_batching(replace(resolved, steps=None), count, dim).steps:
        mini = resolved.steps != DEFAULT_EPOCHS
        parts.append(f"{resolved.steps} steps" + (f" = {DEFAULT_EPOCHS} epochs" if mini else ""))
    return ", ".join(parts)
