"""Many signals at once: N fits of equal-shape signals trained as one batched model (issue #5).

Each signal's field is set up exactly as a separate :func:`sinetune.runs.run` would do it
(:func:`sinetune.runs.prepare_fit`: same seed → same initial weights, hold-out mask and resolved
options). The N fields are then stacked into a :class:`StackedField` — every parameter gains a
leading signal axis ``B`` — and trained together: the sine layers are ``torch.baddbmm`` on
``(B, n, in) × (B, in, out)``, the loss is the **sum over signals of each signal's mean MSE**
(plus its penalties), and one Adam steps the stacked parameters. Adam is element-wise and the
gradient of that sum with respect to signal ``b``'s parameters is exactly the gradient of
signal ``b``'s own loss, so the batched run is N separate runs up to float rounding (batched
matrix products sum in another order: ~1e-7 relative per step). Constraints are applied batched
(the same per-column clamp on every signal's hidden weights). Afterwards the stacked parameters
are copied back into N ordinary :class:`~sinetune.models.SinusoidalField` s, which are evaluated
and written as N normal run directories (:func:`sinetune.runs.finish_fit`).

Per-signal stopping is kept exact: a signal that meets a stopping rule (``stop_psnr``,
``stop_plateau``) or diverges is *finished* at that step — its history, step count and weights are
frozen then (a diverged signal keeps its last weights whose loss was finite, as in
:func:`~sinetune.training.train`) — while the others go on; the batched run ends when every signal
has finished. A finished signal is still computed (and its discarded weights still updated) until
then, so early stopping saves no time here.

Batched: the sine MLPs :data:`BATCHED_METHODS` (a :class:`~sinetune.models.SinusoidalField` of a
:class:`~sinetune.models.SpectralEncoding` or :class:`~sinetune.models.SineLayer`, sine layers and a
linear head). On a CPU this saves the per-fit overheads, not arithmetic: the matrix products are
the same size per signal (measured throughput: ``benchmarks/fit_many.py``, README "fit-many").
"""

from __future__ import annotations

import glob
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .config import RunConfig, SignalConfig
from .errors import SinetuneError
from .methods import Method, get_method
from .models import SineLayer, SinusoidalField, SpectralEncoding
from .runs import FitResult, PreparedFit, finish_fit, prepare_fit, prepare_run_dir
from .signals import Signal, load_signal
from .training import (
    BoundPenalty,
    ColumnClamp,
    MinibatchOrder,
    PositiveBounds,
    TrainOptions,
    TrainResult,
    _early_stop,
    _score,
    mse_psnr,
)

#: Methods whose fields :class:`StackedField` batches (sine MLPs with a linear head).
BATCHED_METHODS = ("tuner", "siren", "siren2", "ssn")
#: File suffixes a directory given to :func:`find_signals` contributes (images).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


# --- Stacked layers: the parameters of B fields with a leading signal axis ----------------------


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).contiguous()


class StackedEncoding(nn.Module):
    """B :class:`SpectralEncoding` s with one shared frequency set ``Ω`` and their own phases.

    Parameters: ``phases`` ``(B, n_0)``. Buffer: ``angular_frequencies`` ``(n_0, d)`` (float64, shared).
    """

    def __init__(self, encodings: list[SpectralEncoding]):
        super().__init__()
        first = encodings[0]
        for other in encodings[1:]:
            if other.period != first.period or not torch.equal(other.input_frequencies, first.input_frequencies):
                raise SinetuneError("the signals' fields do not share one input frequency set; fit them separately")
        self.register_buffer("angular_frequencies", first.angular_frequencies.clone())
        self.phases = nn.Parameter(_stack([e.phases for e in encodings]))

    @property
    def out_features(self) -> int:
        return self.angular_frequencies.shape[0]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(n, d)`` shared coordinates → ``(B, n, n_0)`` = ``sin(Ω x + φ_b)``."""
        omega = self.angular_frequencies.to(coords.dtype).T
        count = self.phases.shape[0]
        return torch.sin(torch.baddbmm(self.phases.unsqueeze(1), coords.expand(count, -1, -1),
                                       omega.expand(count, -1, -1)))

    def basis(self, coords: torch.Tensor) -> torch.Tensor:
        """``(n, 2 n_0)`` = ``[sin(Ω x) | cos(Ω x)]``, shared by every signal (:meth:`SpectralEncoding.basis`)."""
        angles = coords.to(torch.float64) @ self.angular_frequencies.T
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).to(coords.dtype)

    def from_basis(self, basis: torch.Tensor) -> torch.Tensor:
        """``(n, 2 n_0)`` :meth:`basis` → ``(B, n, n_0)`` = ``sin(Ωx) cos φ_b + cos(Ωx) sin φ_b``."""
        sines, cosines = basis.split(self.out_features, dim=1)
        phases = self.phases.unsqueeze(1)
        return torch.addcmul(sines * torch.cos(phases), cosines, torch.sin(phases))

    def load_into(self, encodings: list[SpectralEncoding]) -> None:
        with torch.no_grad():
            for index, encoding in enumerate(encodings):
                encoding.phases.copy_(self.phases[index])


class StackedSineLayer(nn.Module):
    """B :class:`SineLayer` s with equal ``ω`` and bound mode: ``h_b = sin(ω (W_b z_b + b_b))``.

    Parameters: ``weight`` ``(B, out, in)`` (stored ``W``), ``bias`` ``(B, out)``; ``column_bounds``
    ``(B, in)`` (a buffer for ``"clamp"``, a parameter for ``"learned"``).
    """

    def __init__(self, layers: list[SineLayer]):
        super().__init__()
        first = layers[0]
        if any((layer.omega, layer.bound_mode, layer.in_features, layer.out_features)
               != (first.omega, first.bound_mode, first.in_features, first.out_features) for layer in layers):
            raise SinetuneError("the signals' fields differ in a sine layer's ω, bound mode or size; "
                                "fit them separately")
        self.omega, self.bound_mode = first.omega, first.bound_mode
        self.in_features, self.out_features = first.in_features, first.out_features
        self.weight = nn.Parameter(_stack([layer.weight for layer in layers]))
        self.bias = nn.Parameter(_stack([layer.bias for layer in layers]))
        if self.bound_mode == "clamp":
            self.register_buffer("column_bounds", _stack([layer.column_bounds for layer in layers]))
        elif self.bound_mode == "learned":
            self.column_bounds = nn.Parameter(_stack([layer.column_bounds for layer in layers]))

    def effective_weight(self) -> torch.Tensor:
        """``(B, out, in)`` effective weights (:meth:`SineLayer.effective_weight` per signal)."""
        if self.bound_mode == "learned":
            return self.column_bounds.unsqueeze(1) * torch.tanh(self.omega * self.weight)
        return self.omega * self.weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, n, in)`` — or ``(n, in)`` shared by every signal — → ``(B, n, out)``."""
        count = self.weight.shape[0]
        if features.ndim == 2:
            features = features.expand(count, -1, -1)
        return torch.sin(torch.baddbmm((self.omega * self.bias).unsqueeze(1), features,
                                       self.effective_weight().transpose(1, 2)))

    def load_into(self, layers: list[SineLayer]) -> None:
        with torch.no_grad():
            for index, layer in enumerate(layers):
                layer.weight.copy_(self.weight[index])
                layer.bias.copy_(self.bias[index])
                if self.bound_mode == "learned":
                    layer.column_bounds.copy_(self.column_bounds[index])


class StackedLinear(nn.Module):
    """B ``nn.Linear`` heads: ``weight`` ``(B, C, in)``, ``bias`` ``(B, C)``; ``(B, n, in) → (B, n, C)``."""

    def __init__(self, layers: list[nn.Linear]):
        super().__init__()
        if any(layer.weight.shape != layers[0].weight.shape or layer.bias is None for layer in layers):
            raise SinetuneError("the signals' fields differ in their output layer; fit them separately")
        self.weight = nn.Parameter(_stack([layer.weight for layer in layers]))
        self.bias = nn.Parameter(_stack([layer.bias for layer in layers]))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), features, self.weight.transpose(1, 2))

    def load_into(self, layers: list[nn.Linear]) -> None:
        with torch.no_grad():
            for index, layer in enumerate(layers):
                layer.weight.copy_(self.weight[index])
                layer.bias.copy_(self.bias[index])


class StackedField(nn.Module):
    """B :class:`SinusoidalField` s of one architecture as one module (signal axis first).

    Build with :meth:`from_fields`; :meth:`load_into` copies the trained parameters back.
    Forward: ``(n, d)`` coordinates shared by every signal → ``(B, n, C)`` values.
    """

    def __init__(self, encoding: StackedEncoding | StackedSineLayer, hidden: list[StackedSineLayer],
                 head: StackedLinear):
        super().__init__()
        self.encoding = encoding
        self.hidden = nn.ModuleList(hidden)
        self.head = head

    @classmethod
    def from_fields(cls, fields: list[nn.Module]) -> StackedField:
        """Stack ``fields`` (equal architecture; a one-line :class:`SinetuneError` otherwise)."""
        if not fields:
            raise SinetuneError("nothing to stack: no fields")
        for field in fields:
            if not (isinstance(field, SinusoidalField) and isinstance(field.encoding, (SpectralEncoding, SineLayer))
                    and all(isinstance(layer, SineLayer) for layer in field.hidden)
                    and type(field.head) is nn.Linear):
                raise SinetuneError(f"fit-many batches sine MLPs only ({', '.join(BATCHED_METHODS)}); "
                                    f"this field is a {type(field).__name__}")
        encodings = [field.encoding for field in fields]
        if any(type(e) is not type(encodings[0]) for e in encodings) \
                or any(len(field.hidden) != len(fields[0].hidden) for field in fields):
            raise SinetuneError("the signals' fields differ in architecture; fit them separately")
        encoding = (StackedEncoding(encodings) if isinstance(encodings[0], SpectralEncoding)
                    else StackedSineLayer(encodings))
        hidden = [StackedSineLayer([field.hidden[i] for field in fields]) for i in range(len(fields[0].hidden))]
        return cls(encoding, hidden, StackedLinear([field.head for field in fields])).to(
            next(fields[0].parameters()).device)

    @property
    def count(self) -> int:
        """``B``, the number of signals."""
        return self.head.weight.shape[0]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self._after_encoding(self.encoding(coords))

    def prepare(self, coords: torch.Tensor) -> torch.Tensor:
        """The shared frozen part of a TUNER encoding (``(n, 2 n_0)``), ``coords`` otherwise
        (:meth:`SinusoidalField.prepare`)."""
        return self.encoding.basis(coords) if isinstance(self.encoding, StackedEncoding) else coords

    def forward_prepared(self, inputs: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` from :meth:`prepare`'s output → ``(B, n, C)``."""
        if isinstance(self.encoding, StackedEncoding):
            return self._after_encoding(self.encoding.from_basis(inputs))
        return self.forward(inputs)

    def _after_encoding(self, features: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            features = layer(features)
        return self.head(features)

    def layer(self, field: SinusoidalField, module: nn.Module) -> nn.Module:
        """The stacked counterpart of ``module`` (the encoding or a hidden layer of ``field``)."""
        if module is field.encoding:
            return self.encoding
        for index, layer in enumerate(field.hidden):
            if module is layer:
                return self.hidden[index]
        raise SinetuneError("a constraint or penalty refers to a layer outside the field; cannot batch it")

    def load_into(self, fields: list[SinusoidalField]) -> None:
        """Copy signal ``b``'s parameters into ``fields[b]`` (the ones :meth:`from_fields` stacked)."""
        self.encoding.load_into([field.encoding for field in fields])
        for index, layer in enumerate(self.hidden):
            layer.load_into([field.hidden[index] for field in fields])
        self.head.load_into([field.head for field in fields])


# --- Batched constraints and penalties ---------------------------------------------------------


class StackedColumnClamp:
    """:class:`~sinetune.training.ColumnClamp` on every signal: ``|ω W_b,ij| ≤ c_b,j``."""

    def __init__(self, layer: StackedSineLayer):
        self.layer = layer

    @torch.no_grad()
    def apply(self) -> None:
        limit = (self.layer.column_bounds / self.layer.omega).unsqueeze(1)
        self.layer.weight.copy_(torch.maximum(torch.minimum(self.layer.weight, limit), -limit))


class StackedPositiveBounds:
    """:class:`~sinetune.training.PositiveBounds` on every signal: ``c_b ← |c_b|``."""

    def __init__(self, layer: StackedSineLayer):
        self.layer = layer

    @torch.no_grad()
    def apply(self) -> None:
        self.layer.column_bounds.abs_()


class StackedBoundPenalty:
    """:class:`~sinetune.training.BoundPenalty` per signal: returns ``(B,)`` = ``λ Σ_j |c_b,j|``."""

    def __init__(self, layer: StackedSineLayer, weight: float):
        self.layer, self.weight = layer, float(weight)

    def __call__(self) -> torch.Tensor:
        return self.weight * self.layer.column_bounds.abs().sum(dim=1)


def stack_constraints(model: StackedField, fields: list[SinusoidalField], built: list[Any]) -> tuple[list, list]:
    """Batched counterparts of the signals' constraints and penalties (the same on every signal)."""
    def signature(field: SinusoidalField, items: list) -> list[tuple]:
        described = []
        for item in items:
            kinds = {ColumnClamp: "clamp", PositiveBounds: "positive", BoundPenalty: "penalty"}
            if type(item) not in kinds:
                raise SinetuneError(f"fit-many cannot batch the {type(item).__name__} of this method")
            stacked = model.layer(field, item.layer)
            described.append((kinds[type(item)], id(stacked), getattr(item, "weight", None)))
        return described

    first_constraints = signature(fields[0], built[0].constraints)
    first_penalties = signature(fields[0], built[0].penalties)
    for field, entry in zip(fields[1:], built[1:]):
        if signature(field, entry.constraints) != first_constraints \
                or signature(field, entry.penalties) != first_penalties:
            raise SinetuneError("the signals' fields differ in their constraints or penalties; fit them separately")
    constraints = [StackedColumnClamp(model.layer(fields[0], c.layer)) if isinstance(c, ColumnClamp)
                   else StackedPositiveBounds(model.layer(fields[0], c.layer)) for c in built[0].constraints]
    penalties = [StackedBoundPenalty(model.layer(fields[0], p.layer), p.weight) for p in built[0].penalties]
    return constraints, penalties


# --- The batched training loop -----------------------------------------------------------------


def _psnr(mse: float) -> float:
    """:func:`~sinetune.training.mse_psnr`, NaN for a non-finite MSE (one signal's weights going
    non-finite at a log step must not end the other signals' fits)."""
    return mse_psnr(mse) if math.isfinite(mse) else math.nan


@torch.no_grad()
def predict_many(model: StackedField, coords: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Evaluate every signal's field on shared ``(n, d)`` coordinates → ``(B, n, C)``.

    ``chunk`` bounds the activations: about ``chunk`` rows over all signals at once.
    """
    device = next(model.parameters()).device
    rows = max(1, chunk // model.count)
    outputs = [model(coords[i:i + rows].to(device)) for i in range(0, len(coords), rows)]
    return torch.cat(outputs, dim=1)


def train_many(
    model: StackedField,
    coords: torch.Tensor,
    values: torch.Tensor,
    options: TrainOptions,
    lr: float,
    constraints: list = (),
    penalties: list = (),
    heldout: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    on_step: Callable[[int, StackedField], None] | None = None,
) -> list[TrainResult]:
    """:func:`sinetune.training.train` for B signals sampled at the same coordinates.

    Args:
        model: the stacked fields, already on their device.
        coords: ``(n, d)`` training coordinates shared by every signal; ``values`` ``(B, n, C)``.
        options, lr: as for :func:`~sinetune.training.train` (the same for every signal).
        constraints: ``apply()`` after every step (and once before the first), e.g. :class:`StackedColumnClamp`.
        penalties: callables returning a ``(B,)`` per-signal loss term.
        heldout: ``(coords (m, d), values (B, m, C))`` scored at every log step.
        generator: draws the mini-batch order (shared by all signals: the order a separate fit with
            the same seed draws); only used with ``options.batch_size``.
        progress: a tqdm bar; on_step: ``on_step(step, model)`` after each step's constraints.

    Returns:
        One :class:`~sinetune.training.TrainResult` per signal, as its own :func:`train` call would
        give it. ``step_seconds`` and ``elapsed_s`` are the wall time of the *batched* steps. On
        return ``model`` holds every signal's final weights (see the module docstring for stopping).
    """
    device = next(model.parameters()).device
    count_signals = model.count
    coords, values = coords.to(device), values.to(device)
    if values.ndim != 3 or values.shape[:2] != (count_signals, len(coords)):
        raise ValueError(f"values must be (B, n, C) = ({count_signals}, {len(coords)}, C), got {tuple(values.shape)}")
    if heldout is not None:
        heldout = (heldout[0].to(device), heldout[1].to(device))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=lr)
    for constraint in constraints:
        constraint.apply()
    results = [TrainResult() for _ in range(count_signals)]
    count = len(coords)
    batch = options.batch_size or count
    batches = MinibatchOrder(count, batch, generator, device)
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    inputs = coords
    if options.cache_encoding and batch >= count:
        with torch.no_grad():
            inputs = model.prepare(coords)
        forward = model.forward_prepared
    elapsed = 0.0
    active = list(range(count_signals))
    # per-parameter snapshots: weights whose loss was finite (all signals), and each finished
    # signal's final and last-good slices
    last_good = [p.detach().clone() for p in trainable]
    final: dict[int, list[torch.Tensor]] = {}
    good: dict[int, list[torch.Tensor]] = {}
    best: dict[int, list[torch.Tensor]] = {}  # keep_best: each signal's best logged weights
    best_score = [-math.inf] * count_signals

    def finish(index: int, weights: list[torch.Tensor]) -> None:
        final[index] = [w[index].clone() for w in weights]
        good[index] = [w[index].clone() for w in last_good]

    bar = tqdm(range(1, options.steps + 1), disable=not progress or None, desc="fit-many", unit="step",
               leave=False, dynamic_ncols=True)
    for step in bar:
        started = time.perf_counter()
        if batch >= count:
            batch_inputs, batch_values = inputs, values
        else:
            index = batches.next()
            batch_inputs, batch_values = inputs[index], values[:, index]
        optimizer.zero_grad(set_to_none=True)
        mse = torch.mean((forward(batch_inputs) - batch_values) ** 2, dim=(1, 2))
        loss = mse
        for penalty in penalties:
            loss = loss + penalty()
        loss_values = loss.detach().tolist()
        diverged = [b for b in active if not math.isfinite(loss_values[b])]
        for b in diverged:  # this signal's weights at the start of the previous step: the last finite loss
            final[b] = [w[b].clone() for w in last_good]
            good[b] = final[b]
            results[b].diverged, results[b].stopped = True, "diverged"
        active = [b for b in active if b not in diverged]
        if not active:
            break
        with torch.no_grad():
            for saved, parameter in zip(last_good, trainable):
                saved.copy_(parameter)
        # Σ_b mean-MSE_b: signal b's parameters get exactly the gradient of its own loss
        objective = loss.sum() if len(active) == count_signals else loss[active].sum()
        objective.backward()
        optimizer.step()
        for constraint in constraints:
            constraint.apply()
        step_time = time.perf_counter() - started
        elapsed += step_time
        for b in active:
            results[b].step_seconds.append(step_time)
        if on_step is not None:
            on_step(step, model)
        if step % options.log_every == 0 or step == options.steps:
            heldout_psnr = [math.nan] * count_signals
            if heldout is not None and len(heldout[0]):
                prediction = predict_many(model, heldout[0])
                heldout_psnr = [_psnr(v) for v in torch.mean((prediction - heldout[1]) ** 2, dim=(1, 2)).tolist()]
            train_mse = mse.detach().tolist()
            stopped = []
            for b in active:
                row = {"step": step, "loss": loss_values[b], "train_psnr": _psnr(train_mse[b]),
                       "heldout_psnr": heldout_psnr[b], "elapsed_s": elapsed}
                results[b].history.append(row)
                if options.keep_best and _score(row) > best_score[b]:
                    best_score[b], results[b].best_step = _score(row), step
                    source = last_good if math.isnan(heldout_psnr[b]) else trainable  # as train() does
                    best[b] = [w[b].detach().clone() for w in source]
                results[b].stopped = _early_stop(results[b].history, options)
                if results[b].stopped is not None:
                    stopped.append(b)
            for b in stopped:
                finish(b, trainable)
            active = [b for b in active if b not in stopped]
            bar.set_postfix(active=len(active))
            if not active:
                break
    bar.close()
    for b in active:
        finish(b, trainable)
    with torch.no_grad():
        for b in range(count_signals):
            if not results[b].diverged and not all(torch.isfinite(w).all() for w in final[b]):
                final[b] = good[b]  # the last update produced non-finite weights
                results[b].diverged, results[b].stopped = True, "diverged"
            if b in best:
                final[b] = best[b]
            for parameter, weights in zip(trainable, final[b]):
                parameter[b].copy_(weights)
    return results


# --- The public entry point --------------------------------------------------------------------


def find_signals(sources: Sequence[str | Path]) -> list[Path]:
    """Expand directories (their image files, :data:`IMAGE_SUFFIXES`), glob patterns and files.

    Returns the files in order (each source sorted, duplicates dropped); a source that matches
    nothing is a one-line :class:`SinetuneError`.
    """
    found: list[Path] = []
    for source in sources:
        text = str(source)
        path = Path(text)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not matches:
                raise SinetuneError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in directory {text}")
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise SinetuneError(f"no files match {text}")
        else:
            raise SinetuneError(f"no such file or directory: {text}")
        found.extend(p for p in matches if p not in found)
    return found


def _train_group(prepared: list[PreparedFit], progress: bool) -> list[TrainResult]:
    """Stack the prepared fields, train them with :func:`train_many`, copy the weights back."""
    reference = prepared[0]
    fields = [p.built.field for p in prepared]
    model = StackedField.from_fields(fields)
    constraints, penalties = stack_constraints(model, fields, [p.built for p in prepared])
    data = [p.training_data() for p in prepared]
    coords, heldout = data[0][0], data[0][2]
    values = torch.stack([entry[1] for entry in data])
    heldout_pair = (heldout[0], torch.stack([entry[2][1] for entry in data])) if heldout is not None else None
    train = reference.config.train
    trained = train_many(model, coords, values, train, train.lr, constraints, penalties, heldout_pair,
                         generator=reference.generator, progress=progress)
    model.load_into(fields)
    return trained


def check_batched_method(method: str) -> Method:
    """The registry entry of ``method`` if :func:`fit_many` batches it; a one-line error otherwise."""
    entry = get_method(method)
    if method not in BATCHED_METHODS:
        raise SinetuneError(f"fit-many batches the sine MLPs {', '.join(BATCHED_METHODS)}; "
                            f"fit {method} signals one by one with sinetune fit")
    return entry


def _shape_text(signal: Signal) -> str:
    return "×".join(map(str, signal.grid_shape)) + f"×{signal.channels}"


def fit_many(
    signals: Sequence[str | Path | Signal],
    method: str = "tuner",
    *,
    size: int | None = 256,
    options: Any = None,
    train_options: TrainOptions | None = None,
    seed: int = 0,
    holdout: float = 0.05,
    device: str = "auto",
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    group_size: int | None = None,
) -> list[FitResult]:
    """Fit N signals of equal shape as one batched model; one :class:`FitResult` per signal.

    Every argument means what it means for :func:`sinetune.fit`, for each signal; result ``b`` equals
    ``sinetune.fit(signals[b], …)`` with the same arguments up to float rounding (tested: outputs
    within 1e-5 after 10 steps, metrics within 1e-3 dB).

    Args:
        signals: image paths, built-in names, sound files or loaded :class:`Signal` s; all must have
            the same grid shape and channel count after loading (``size`` applies to images).
        method: one of :data:`BATCHED_METHODS`.
        out: a root directory: signal ``b`` is written to ``out/<name>`` (its file stem). Every run
            directory is checked before anything is fitted; existing ones need ``overwrite``.
        group_size: train at most this many signals as one batched model at a time (groups one
            after another, each written when done); ``None`` = all at once. Memory grows with it;
            results do not depend on it.

    Example::

        results = sinetune.many.fit_many(sorted(Path("kodak").glob("*.png")), "tuner", size=128,
                                         train_options=TrainOptions(steps=300), out="runs/kodak")
        [r.metrics["heldout_psnr"] for r in results]
    """
    registry_entry = check_batched_method(method)
    if group_size is not None and group_size < 1:
        raise SinetuneError(f"group size must be a positive number of signals, got {group_size}")
    if not signals:
        raise SinetuneError("fit-many needs at least one signal")
    loaded = [item if isinstance(item, Signal) else load_signal(item, size) for item in signals]
    first = loaded[0]
    for signal in loaded[1:]:
        if (signal.grid_shape, signal.channels, signal.kind) != (first.grid_shape, first.channels, first.kind):
            raise SinetuneError(f"fit-many needs signals of equal shape: {signal.name} is {_shape_text(signal)}, "
                                f"{first.name} is {_shape_text(first)}" + (" (pass --size)" if size is None else ""))
    run_dirs: list[Path | None] = [None] * len(loaded)
    if out is not None:
        names = [signal.name for signal in loaded]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SinetuneError(f"two signals share the name {repeated[0]!r}; their run directories would collide")
        run_dirs = [Path(out) / name for name in names]
        for path in run_dirs:  # refuse before fitting anything
            if path.exists() and not path.is_dir():
                raise SinetuneError(f"output path exists and is not a directory: {path}")
            if path.exists() and any(path.iterdir()) and not overwrite:
                raise SinetuneError(f"run directory {path} already exists; pass --overwrite to replace it")

    prepared: list[PreparedFit] = []
    for item, signal in zip(signals, loaded):
        if isinstance(item, Signal):
            signal_config = SignalConfig(path=signal.source.removeprefix("builtin:"),
                                         size=max(signal.grid_shape) if signal.kind != "audio" else None)
        else:
            signal_config = SignalConfig(path=str(item), size=size)
        config = RunConfig(signal=signal_config, method=method,
                           options=options if options is not None else registry_entry.options_type(),
                           train=train_options or TrainOptions(), seed=seed, holdout=holdout, device=device)
        prepared.append(prepare_fit(config, signal))
    reference = prepared[0]
    if any(not np.array_equal(p.mask, reference.mask) for p in prepared) \
            or any(not torch.equal(p.generator.get_state(), reference.generator.get_state()) for p in prepared):
        raise SinetuneError("the signals' fits do not share one hold-out split and generator state; "
                            "fit them separately")
    size_of_group = len(prepared) if group_size is None else group_size
    results = []
    for start in range(0, len(prepared), size_of_group):
        group = prepared[start:start + size_of_group]
        trained = _train_group(group, progress)
        for entry, result, run_dir in zip(group, trained, run_dirs[start:start + size_of_group]):
            directory = prepare_run_dir(run_dir, overwrite) if run_dir is not None else None
            results.append(finish_fit(entry, result, directory, {"batched_signals": len(group)}))
    return results


__all__ = ["BATCHED_METHODS", "StackedField", "check_batched_method", "find_signals", "fit_many", "predict_many",
           "stack_constraints", "train_many"]
