"""Structured pruning of a sinusoidal field's hidden matrix (tech report TR-24-02 §7, tuner-spec §7.2–7.3).

``A`` (:func:`sinetune.structure.hidden_matrix`, effective weights, ``(n_1, n_0)``): rows are hidden
units, columns input atoms. A round of pruning:

1. **Weight decay** for ``decay_steps`` (``e_wd``) steps: the loss is ``MSE + α(e)/(1 − α(e)) ‖A‖₁`` —
   the report's ``(1 − α) MSE + α ‖A‖₁`` divided by ``1 − α`` (same minimiser, the MSE keeps its
   scale) — with the report's schedule :func:`alpha_schedule`
   ``α(e) = α_s · (2e/e_wd)²`` for ``e ≤ e_wd/2`` and ``α_s · (2(e_wd − e)/e_wd)²`` after.
2. **Select** ``I``: per axis (rows, columns or both), the least informative units (information = L1
   norm of the row/column of ``A``) whose summed information is below ``threshold`` ``T_p`` of the
   axis' total — the largest such set (TR Algorithm P1, step 2).
3. ``mode="targeted"`` (TR §7.2.4, Algorithm P2): ``targeted_steps`` (``e_twd``) more steps with the
   decay on the candidates ``I`` only (``L_I = Σ_{i∈I} ‖A_i‖₁``); a candidate whose L1 norm is then
   still at least ``survive_norm`` (``T_n``) is essential and stays.
4. **Remove** the selected rows/columns for real (:mod:`sinetune.structure`): a smaller field. What a
   removed unit contributed on average over the training samples moves into the next layer's bias
   (mean replacement): a zero row of ``A`` still outputs the constant ``sin(ω b_i)``, which cutting it
   would otherwise take away.
5. **Fine-tune** ``finetune_steps`` (``e_rec``) steps on the MSE.

Rounds repeat until ``target_fraction`` of ``A``'s weights is removed, no unit is selected, or
``max_steps`` (``e_total``) / ``max_rounds`` is reached. Every step is :func:`sinetune.training.train`
(Adam, the method's constraints and penalties; the decay is one more penalty). Steps stand for the
report's epochs (one full-batch step = one epoch).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from .errors import SinetuneError
from .lattice import generates_full_lattice
from .models import SpectralEncoding
from .progress import Progress, as_progress
from .structure import hidden_matrix, hidden_shape, keep_hidden_units, keep_input_atoms
from .training import TrainOptions, TrainResult, train

Axes = Literal["columns", "rows", "both"]


@dataclass(frozen=True)
class PruneOptions:
    """How :func:`prune_field` prunes (tuner-spec §7.2–7.3; names of the report in brackets).

    Attributes:
        target_fraction: stop once this share of the hidden matrix's weights ``n_1 · n_0`` is removed
            (the last cut takes only as many units as reach it); ``None``: prune until no unit is
            selected or the step budget ends.
        threshold: ``T_p`` in (0, 1): a cut removes, per axis, the least informative rows/columns whose
            summed L1 norm is below this share of the axis' total.
        axes: ``"columns"`` (input atoms), ``"rows"`` (hidden units) or ``"both"``.
        mode: ``"decay"`` (Algorithm P1: decay on all of ``A``, then cut) or ``"targeted"`` (P2: then
            decay on the candidates only, and cut those that went below ``survive_norm``).
        alpha_scale: ``α_s``, the scale of the α schedule of the decay on all of ``A`` (the report's 1e-6).
        decay_steps: ``e_wd``, steps of weight decay per round (0: none).
        targeted_steps: ``e_twd``, steps of targeted decay per round (``mode="targeted"``).
        targeted_alpha: ``α_s`` of the targeted decay's schedule. It acts on the candidates only, so it
            can be large (the report: even ``α = 1`` does not collapse the field); at 1e-2 the
            candidates' weights reach ~0 within 50 steps and the cut costs almost nothing by itself.
        survive_norm: ``T_n``: after targeted decay a candidate with an L1 norm (effective units) at least
            this large stays; ``None``: every candidate is cut.
        finetune_steps: ``e_rec``, MSE-only steps after each cut.
        max_steps: ``e_total``, the most training steps of all rounds together (``None``: no limit).
        max_rounds: the most rounds.
        keep_canonical: never remove TUNER's canonical columns ``e_1 … e_d``: without them the atoms
            may stop generating ``Z^d`` and the field repeat at a sub-period (tuner-spec §7.4).
        train: the options of every training phase (its ``steps`` is ignored: the phases above set
            them); ``lr`` ``None`` = the ``lr`` given to :func:`prune_field`.
    """

    target_fraction: float | None = 0.25
    threshold: float = 0.1
    axes: Axes = "both"
    mode: Literal["decay", "targeted"] = "targeted"
    alpha_scale: float = 1e-6
    decay_steps: int = 50
    targeted_steps: int = 50
    targeted_alpha: float = 1e-2
    survive_norm: float | None = None
    finetune_steps: int = 100
    max_steps: int | None = None
    max_rounds: int = 50
    keep_canonical: bool = True
    train: TrainOptions = field(default_factory=lambda: TrainOptions(batch_size="full", log_every=50))

    def validate(self) -> None:
        """One-line :class:`SinetuneError` for an invalid option."""
        if self.target_fraction is not None and not 0 < self.target_fraction < 1:
            raise SinetuneError(f"target_fraction must be in (0, 1), got {self.target_fraction}")
        if not 0 < self.threshold < 1:
            raise SinetuneError(f"threshold T_p must be in (0, 1), got {self.threshold}")
        if self.axes not in ("columns", "rows", "both"):
            raise SinetuneError(f"axes must be columns, rows or both, got {self.axes!r}")
        if self.mode not in ("decay", "targeted"):
            raise SinetuneError(f"mode must be decay or targeted, got {self.mode!r}")
        if not (0 <= self.alpha_scale < 1 and 0 <= self.targeted_alpha < 1):
            raise SinetuneError(f"alpha_scale and targeted_alpha must be in [0, 1), got {self.alpha_scale}, "
                                f"{self.targeted_alpha}")
        if min(self.decay_steps, self.targeted_steps, self.finetune_steps) < 0:
            raise SinetuneError("decay_steps, targeted_steps and finetune_steps must be ≥ 0")
        if self.survive_norm is not None and not self.survive_norm >= 0:
            raise SinetuneError(f"survive_norm must be ≥ 0 (or null), got {self.survive_norm}")
        if self.max_steps is not None and self.max_steps < 1 or self.max_rounds < 1:
            raise SinetuneError("max_steps and max_rounds must be positive")
        replace(self.train, steps=1).validate()


def alpha_schedule(step: int, decay_steps: int, scale: float) -> float:
    """The report's α at decay step ``step`` of ``decay_steps`` (TR §7.2.1): ``α_s · α_f(e)`` with
    ``α_f(e) = (2e/e_wd)²`` for ``e ≤ e_wd/2`` and ``(2(e_wd − e)/e_wd)²`` after — 0 at both ends, 1
    (``α = α_s``) in the middle."""
    if decay_steps <= 0:
        return 0.0
    e = min(max(step, 0), decay_steps)
    rise = 2.0 * (e if e <= decay_steps / 2 else decay_steps - e) / decay_steps
    return scale * rise * rise


class HiddenL1Penalty:
    """``α(e)/(1 − α(e)) · L`` with ``L = Σ |A_ij|`` over the whole hidden matrix, or over the rows or
    columns ``targets`` only (targeted weight decay, TR Def. 3.3); ``α(e)`` is :func:`alpha_schedule`.

    A penalty for :func:`sinetune.training.train`; :meth:`advance` (passed as ``on_step``) moves the
    schedule on, so step ``e`` of the call uses ``α(e)``.
    """

    def __init__(self, field: nn.Module, decay_steps: int, scale: float, rows: torch.Tensor | None = None,
                 columns: torch.Tensor | None = None):
        self.field, self.decay_steps, self.scale = field, decay_steps, scale
        self.rows, self.columns = rows, columns
        self.step = 1

    def alpha(self) -> float:
        return alpha_schedule(self.step, self.decay_steps, self.scale)

    def advance(self, step: int, _field: nn.Module) -> None:
        self.step = step + 1

    def __call__(self) -> torch.Tensor:
        weights = hidden_matrix(self.field).abs()
        if self.rows is None and self.columns is None:
            norm = weights.sum()
        else:
            norm = weights.new_zeros(())
            if self.rows is not None and len(self.rows):
                norm = norm + weights[self.rows].sum()
            if self.columns is not None and len(self.columns):
                norm = norm + weights[:, self.columns].sum()
        alpha = self.alpha()
        return (alpha / (1.0 - alpha)) * norm


def least_informative(norms: torch.Tensor, threshold: float, protected: torch.Tensor | None = None) -> torch.Tensor:
    """The largest set of indices whose summed ``norms`` is below ``threshold`` of their total (the
    smallest norms first; ``protected`` indices never), ascending by norm. ``(n,)`` → ``(m,)`` int64."""
    order = torch.argsort(norms)
    if protected is not None and len(protected):
        order = order[~torch.isin(order, protected)]
    total = float(norms.sum())
    if total <= 0:
        return order
    cumulative = torch.cumsum(norms[order], 0)
    return order[cumulative < threshold * total]


@dataclass
class PruneRound:
    """One round: what was cut and how well the field fits after its fine-tune."""

    round: int
    removed_columns: int
    removed_rows: int
    hidden_shape: tuple[int, int]
    steps: int
    train_psnr: float
    heldout_psnr: float


@dataclass
class PruneResult:
    """What :func:`prune_field` returns.

    Attributes:
        field: the pruned field — a new, smaller module (the field given is not changed).
        constraints, penalties: the method's constraints and penalties, bound to ``field``.
        before, after: ``{"input_atoms": n_0, "hidden_units": n_1, "hidden_weights": n_1 n_0,
            "parameters": trainable count}`` of the field given and of the pruned one.
        removed_fraction: ``1 − after / before`` hidden weights.
        kept_columns, kept_rows: indices (into the original ``n_0`` / ``n_1``) of what stayed.
        rounds: one :class:`PruneRound` per round.
        history: every logged training row of every phase, ``step`` counted over the whole pruning.
        steps: training steps run in all; step_seconds: the wall time of each (as
            :attr:`~sinetune.training.TrainResult.step_seconds`); diverged: some phase's loss became non-finite.
    """

    field: nn.Module
    constraints: list
    penalties: list
    before: dict[str, int]
    after: dict[str, int]
    removed_fraction: float
    kept_columns: list[int]
    kept_rows: list[int]
    rounds: list[PruneRound] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    step_seconds: list[float] = field(default_factory=list)
    diverged: bool = False


def describe_size(field: nn.Module) -> dict[str, int]:
    """``input_atoms``, ``hidden_units``, ``hidden_weights`` (of ``A``) and trainable ``parameters``."""
    rows, columns = hidden_shape(field)
    return {"input_atoms": columns, "hidden_units": rows, "hidden_weights": rows * columns,
            "parameters": sum(p.numel() for p in field.parameters() if p.requires_grad)}


def _canonical_columns(field: nn.Module) -> torch.Tensor:
    encoding = field.encoding
    if not isinstance(encoding, SpectralEncoding):
        return torch.zeros(0, dtype=torch.int64)
    frequencies = encoding.input_frequencies.cpu()
    unit = (frequencies.abs().sum(dim=1) == 1) & (frequencies.abs().max(dim=1).values == 1)
    return torch.nonzero(unit).reshape(-1)


def _cap(rows: torch.Tensor, columns: torch.Tensor, row_norms: torch.Tensor, column_norms: torch.Tensor,
         shape: tuple[int, int], budget: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Take the selected units by ascending share of their axis' information until ``budget`` weights
    are gone (``None``: all); keeps at least one row and one column."""
    candidates = ([(float(row_norms[i]) / max(float(row_norms.sum()), 1e-30), 0, int(i)) for i in rows]
                  + [(float(column_norms[j]) / max(float(column_norms.sum()), 1e-30), 1, int(j)) for j in columns])
    candidates.sort()
    height, width = shape
    kept_rows, kept_columns = [], []
    for _, axis, index in candidates:
        if budget is not None and height * width <= shape[0] * shape[1] - budget:
            break
        if axis == 0 and height > 1:
            kept_rows.append(index)
            height -= 1
        elif axis == 1 and width > 1:
            kept_columns.append(index)
            width -= 1
    return torch.tensor(kept_rows, dtype=torch.int64), torch.tensor(kept_columns, dtype=torch.int64)


def prune_field(
    field: nn.Module,
    coords: torch.Tensor,
    values: torch.Tensor,
    options: PruneOptions,
    lr: float,
    *,
    constraints: list = (),
    penalties: list = (),
    heldout: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    data_range: float = 1.0,
    progress: bool | Progress = False,
) -> PruneResult:
    """Prune a trained TUNER or SIREN field by rounds of weight decay, cut and fine-tune (module docstring).

    Args:
        field: a trained :class:`~sinetune.models.SinusoidalField` (one field, on its device); not
            changed — the result is a pruned copy.
        coords, values: ``(N, d)`` / ``(N, C)`` training samples (as :func:`sinetune.training.train`).
        options: see :class:`PruneOptions`.
        lr: Adam learning rate of every phase (unless ``options.train.lr`` is set).
        constraints, penalties: the method's (``Built.constraints`` / ``.penalties``): copied along with
            the field, applied in every phase.
        heldout: ``(coords, values)`` scored at log steps and after each round.
        generator: mini-batch order when ``options.train.batch_size`` is set.
        data_range: PSNR's value range (1 for images).
        progress: report rounds and steps.

    Returns:
        :class:`PruneResult` with the smaller field and its counts before and after.
    """
    options.validate()
    field, constraints, penalties = copy.deepcopy((field, list(constraints), list(penalties)))
    before = describe_size(field)
    start_rows, start_columns = hidden_shape(field)
    kept_rows, kept_columns = torch.arange(start_rows), torch.arange(start_columns)
    report = as_progress(progress)
    lr = options.train.lr or lr
    result = PruneResult(field, constraints, penalties, before, before, 0.0, [], [])

    def phase(steps: int, extra: HiddenL1Penalty | None = None) -> TrainResult | None:
        if options.max_steps is not None:
            steps = min(steps, options.max_steps - result.steps)
        if steps <= 0:
            return None
        trained = train(field, coords, values, replace(options.train, steps=steps, keep_best=False), lr,
                        constraints, penalties + ([extra] if extra is not None else []), heldout=heldout,
                        generator=generator, on_step=extra.advance if extra is not None else None,
                        data_range=data_range, progress=report)
        result.history += [{**row, "step": row["step"] + result.steps} for row in trained.history]
        result.steps += len(trained.step_seconds)
        result.step_seconds += trained.step_seconds
        result.diverged |= trained.diverged
        return trained

    goal = None if options.target_fraction is None else round(options.target_fraction * before["hidden_weights"])
    for number in range(1, options.max_rounds + 1):
        removed = before["hidden_weights"] - describe_size(field)["hidden_weights"]
        if (goal is not None and removed >= goal) or (options.max_steps is not None
                                                      and result.steps >= options.max_steps):
            break
        phase(options.decay_steps, HiddenL1Penalty(field, options.decay_steps, options.alpha_scale)
              if options.alpha_scale > 0 else None)
        rows, columns = _select(field, options)
        if options.mode == "targeted" and (len(rows) or len(columns)) and options.targeted_steps:
            phase(options.targeted_steps, HiddenL1Penalty(field, options.targeted_steps, options.targeted_alpha,
                                                          rows, columns))
            rows, columns = _survivors_removed(field, rows, columns, options.survive_norm)
        with torch.no_grad():
            weights = hidden_matrix(field).abs()
        rows, columns = _cap(rows, columns, weights.sum(dim=1), weights.sum(dim=0), hidden_shape(field),
                             None if goal is None else goal - removed)
        if not len(rows) and not len(columns):
            break
        height, width = hidden_shape(field)
        keep_r = torch.nonzero(~torch.isin(torch.arange(height), rows)).reshape(-1)
        keep_c = torch.nonzero(~torch.isin(torch.arange(width), columns)).reshape(-1)
        keep_hidden_units(field, keep_r, coords)
        keep_input_atoms(field, keep_c, coords)
        kept_rows, kept_columns = kept_rows[keep_r], kept_columns[keep_c]
        trained = phase(options.finetune_steps)
        last = trained.history[-1] if trained is not None and trained.history else {}
        result.rounds.append(PruneRound(number, len(columns), len(rows), hidden_shape(field), result.steps,
                                        last.get("train_psnr", float("nan")), last.get("heldout_psnr", float("nan"))))
        report.note(f"prune round {number}: cut {len(columns)} columns, {len(rows)} rows → A "
                    f"{hidden_shape(field)[0]}×{hidden_shape(field)[1]}")
    result.after = describe_size(field)
    result.removed_fraction = 1.0 - result.after["hidden_weights"] / before["hidden_weights"]
    result.kept_rows, result.kept_columns = kept_rows.tolist(), kept_columns.tolist()
    if isinstance(field.encoding, SpectralEncoding) and not generates_full_lattice(
            field.encoding.input_frequencies.cpu().numpy()):
        report.note("warning: the kept input frequencies do not generate Z^d; the field repeats at a sub-period "
                    "(tuner-spec §7.4)")
    return result


def _select(field: nn.Module, options: PruneOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 2: the least informative rows and columns of ``A`` under ``T_p`` (per the chosen axes)."""
    with torch.no_grad():
        weights = hidden_matrix(field).abs()
    empty = torch.zeros(0, dtype=torch.int64)
    rows = least_informative(weights.sum(dim=1).cpu(), options.threshold) if options.axes != "columns" else empty
    protected = _canonical_columns(field) if options.keep_canonical else None
    columns = (least_informative(weights.sum(dim=0).cpu(), options.threshold, protected)
               if options.axes != "rows" else empty)
    return rows, columns


def _survivors_removed(field: nn.Module, rows: torch.Tensor, columns: torch.Tensor,
                       survive_norm: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """P2 step 4: drop from the candidates those whose L1 norm stayed ≥ ``T_n`` (essential ones)."""
    if survive_norm is None:
        return rows, columns
    with torch.no_grad():
        weights = hidden_matrix(field).abs().cpu()
    rows = rows[weights[rows].sum(dim=1) < survive_norm] if len(rows) else rows
    columns = columns[weights[:, columns].sum(dim=0) < survive_norm] if len(columns) else columns
    return rows, columns


__all__ = ["HiddenL1Penalty", "PruneOptions", "PruneResult", "PruneRound", "alpha_schedule", "describe_size",
           "least_informative", "prune_field"]
