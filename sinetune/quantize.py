"""Weight quantisation of a fitted field: uniform ``b``-bit levels per tensor or per column, and a
short quantisation-aware fine-tune through :func:`sinetune.training.train`.

The codec (:mod:`sinetune.codec`) stores a field in three steps:

1. :func:`plain_field` — the same function as plain layers: every :class:`~sinetune.models.SineLayer`
   holds ``W = Ŵ / ω`` of its *effective* weight ``Ŵ`` (the bound mode is dropped: clamped and learned
   bounds only shaped the fit), phases wrapped to ``[-π, π)`` and sine biases to ``[-π/ω, π/ω)``
   (``sin`` is periodic, so the function is unchanged and the range to quantise is smaller), and a
   TUNER field's input frequencies sorted (rows of ``K``, the phases and the first hidden layer's
   columns permuted together) so that they delta-code well. Works for any TUNER- or SIREN-style
   :class:`~sinetune.models.SinusoidalField`, of any widths (a pruned one too).
2. :func:`quantize_tensor` — uniform quantisation ``q = clip(round((w − z) / s), 0, 2^b − 1)``,
   ``ŵ = z + s q`` with ``z = min w`` and ``s = (max w − min w) / (2^b − 1)``, one ``(z, s)`` per tensor
   (``granularity="tensor"``) or per column — per input feature, one atom of TUNER's dictionary — of a
   2-D weight (``"column"``; 1-D tensors are always per tensor). ``z`` and ``s`` are stored as float16
   and the levels are computed from the stored values, so ``|w − ŵ| ≤ s / 2`` (:func:`error_bound`)
   and the decoder dequantises exactly what the encoder measured.
3. :func:`quantization_aware_finetune` — a few more steps of :func:`~sinetune.training.train` with
   every quantised parameter seen through :class:`FakeQuantize` (a ``torch.nn.utils.parametrize``
   parametrisation, the straight-through estimator: the forward uses ``ŵ``, the gradient passes to
   ``w`` as if rounding were the identity). The grid ``(z, s)`` follows the weights at every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .errors import SinetuneError
from .models import Linear, SineLayer, SinusoidalField, SpectralEncoding
from .training import TrainOptions, TrainResult, train

Granularity = Literal["tensor", "column"]
#: Bit depths :func:`quantize_tensor` accepts.
BITS_RANGE = (2, 16)


@dataclass(frozen=True)
class QuantizeOptions:
    """How a field's weights are quantised.

    Attributes:
        bits: ``b``, levels ``0 … 2^b − 1`` per weight (2–16).
        granularity: ``"column"`` (one zero and scale per input feature of every 2-D weight) or
            ``"tensor"`` (one per tensor); 1-D tensors (phases, biases) are always per tensor.
        qat_steps: steps of the quantisation-aware fine-tune (0: post-training quantisation only).
        qat_lr: its Adam learning rate; ``None`` = the fit's.
    """

    bits: int = 8
    granularity: Granularity = "column"
    qat_steps: int = 100
    qat_lr: float | None = None

    def validate(self) -> None:
        check_bits(self.bits)
        if self.granularity not in ("tensor", "column"):
            raise SinetuneError(f"granularity must be tensor or column, got {self.granularity!r}")
        if self.qat_steps < 0:
            raise SinetuneError(f"qat_steps must be ≥ 0, got {self.qat_steps}")
        if self.qat_lr is not None and not (self.qat_lr > 0 and math.isfinite(self.qat_lr)):
            raise SinetuneError(f"qat_lr must be a positive number, got {self.qat_lr}")


def check_bits(bits: int) -> int:
    """``bits`` if it is an integer in :data:`BITS_RANGE`, else a one-line :class:`SinetuneError`."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not BITS_RANGE[0] <= bits <= BITS_RANGE[1]:
        raise SinetuneError(f"bits must be an integer from {BITS_RANGE[0]} to {BITS_RANGE[1]}, got {bits!r}")
    return bits


@dataclass
class QuantizedTensor:
    """A tensor as ``b``-bit levels and their grid.

    Attributes:
        levels: integer array of the tensor's shape, values in ``[0, 2^bits − 1]`` (int32).
        zero: float16 ``z``: shape ``()`` per tensor, ``(in,)`` per column of an ``(out, in)`` weight.
        scale: float16 ``s``, the same shape as ``zero`` (> 0).
        bits: ``b``.
    """

    levels: np.ndarray
    zero: np.ndarray
    scale: np.ndarray
    bits: int

    @property
    def granularity(self) -> Granularity:
        return "tensor" if self.zero.ndim == 0 else "column"

    def dequantize(self) -> torch.Tensor:
        """``ŵ = z + s q`` as a float32 tensor of the original shape (float32 arithmetic)."""
        zero = self.zero.astype(np.float32)
        scale = self.scale.astype(np.float32)
        return torch.from_numpy(zero + scale * self.levels.astype(np.float32))


#: ``granularity="column"`` gives a 2-D weight one grid per column only when it has at least this many
#: rows (a head's 3 × n weight is cheaper with one grid than with n of 4 bytes each).
COLUMN_MIN_ROWS = 16


def grid_count(shape: tuple[int, ...], granularity: Granularity) -> int:
    """How many ``(z, s)`` grids a tensor of ``shape`` has: its columns, or 1 (per tensor)."""
    per_column = granularity == "column" and len(shape) == 2 and shape[0] >= COLUMN_MIN_ROWS
    return shape[1] if per_column else 1


def _grid(tensor: torch.Tensor, bits: int, granularity: Granularity) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z, s)`` of :func:`quantize_tensor`, already rounded to float16 (returned as float32 tensors)."""
    per_column = granularity == "column" and tensor.ndim == 2 and tensor.shape[0] >= COLUMN_MIN_ROWS
    low = tensor.amin(dim=0) if per_column else tensor.min()
    high = tensor.amax(dim=0) if per_column else tensor.max()
    # float16 z rounded down (z ≤ min w) and s rounded up (z + s (2^b − 1) ≥ max w): every w is inside the grid
    zero = _float16_toward(low, -math.inf)
    scale = ((high - zero).clamp_min(0.0) / (2**bits - 1)).clamp_min(2.0**-24)
    return zero.detach(), _float16_toward(scale, math.inf).detach()


def _float16_toward(values: torch.Tensor, direction: float) -> torch.Tensor:
    """``values`` rounded to float16 toward ``direction`` (±inf), returned as float32."""
    rounded = values.to(torch.float16)
    wrong = rounded.float() < values if direction > 0 else rounded.float() > values
    rounded = torch.where(wrong, torch.nextafter(rounded, torch.full_like(rounded, direction)), rounded)
    return rounded.float()


def _levels(tensor: torch.Tensor, zero: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    return torch.clamp(torch.round((tensor - zero) / scale), 0, 2**bits - 1)


def quantize_tensor(tensor: torch.Tensor, bits: int, granularity: Granularity = "column") -> QuantizedTensor:
    """Uniform ``bits``-bit quantisation of ``tensor`` (module docstring, step 2).

    Args:
        tensor: any float tensor; ``granularity="column"`` gives a 2-D ``(out, in)`` tensor of at least
            :data:`COLUMN_MIN_ROWS` rows one grid per column (``in`` of them), any other shape one grid
            (:func:`grid_count`).
    """
    check_bits(bits)
    tensor = tensor.detach().to("cpu", torch.float32)
    if not torch.isfinite(tensor).all():
        raise SinetuneError("cannot quantise a tensor with non-finite values (a diverged fit?)")
    zero, scale = _grid(tensor, bits, granularity)
    levels = _levels(tensor, zero, scale, bits)
    return QuantizedTensor(levels.numpy().astype(np.int32), zero.numpy().astype(np.float16),
                           scale.numpy().astype(np.float16), bits)


def error_bound(quantized: QuantizedTensor) -> np.ndarray:
    """``s / 2``: the largest ``|w − ŵ|`` of any weight in its grid (per column or one value)."""
    return np.asarray(quantized.scale.astype(np.float32) / 2)


def fake_quantize(tensor: torch.Tensor, bits: int, granularity: Granularity = "column") -> torch.Tensor:
    """``ŵ`` in the forward pass, the identity's gradient in the backward (straight-through estimator).

    Equal to ``quantize_tensor(tensor, bits, granularity).dequantize()`` (same grid, same rounding).
    """
    zero, scale = _grid(tensor.detach(), bits, granularity)
    quantized = zero + scale * _levels(tensor.detach(), zero, scale, bits)
    return quantized + (tensor - tensor.detach())  # value exactly ŵ, gradient exactly 1


class FakeQuantize(nn.Module):
    """A ``torch.nn.utils.parametrize`` parametrisation: the parameter as :func:`fake_quantize` sees it."""

    def __init__(self, bits: int, granularity: Granularity):
        super().__init__()
        self.bits, self.granularity = check_bits(bits), granularity

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return fake_quantize(tensor, self.bits, self.granularity)


# --- the plain form of a field ----------------------------------------------------------------------


def _wrap(values: torch.Tensor, period: float) -> torch.Tensor:
    """``values`` moved by whole periods into ``[-period/2, period/2)``."""
    return torch.remainder(values + period / 2, period) - period / 2


def _plain_sine(layer: nn.Module, columns: torch.Tensor | None = None) -> SineLayer:
    if not isinstance(layer, SineLayer) or layer.weight.ndim != 2:
        raise SinetuneError("the codec stores TUNER- and SIREN-style fields (sine layers, one signal); "
                            f"got a {type(layer).__name__}")
    weight = layer.effective_weight().detach().float().cpu()
    if columns is not None:
        weight = weight[:, columns]
    bias = _wrap(layer.bias.detach().float().cpu(), 2 * math.pi / layer.omega)
    return SineLayer(weight.shape[1], weight.shape[0], layer.omega, weight, bias)


def plain_field(field: nn.Module) -> SinusoidalField:
    """The same function as ``field`` in the plain form the codec quantises (module docstring, step 1).

    Args:
        field: a :class:`~sinetune.models.SinusoidalField` whose encoding is a
            :class:`~sinetune.models.SpectralEncoding` (TUNER) or a :class:`~sinetune.models.SineLayer`
            (SIREN and its kin), with sine hidden layers and a linear head; any widths.

    Returns:
        A new field on the CPU (float32) computing ``field``'s function up to float rounding.
    """
    if not isinstance(field, SinusoidalField):
        raise SinetuneError(f"the codec stores sinusoidal fields, not a {type(field).__name__}")
    encoding = field.encoding
    if isinstance(encoding, SpectralEncoding):
        frequencies = encoding.input_frequencies.detach().cpu()
        if frequencies.ndim != 2:
            raise SinetuneError("the codec stores one field, not a stack")
        order = torch.from_numpy(np.lexsort(frequencies.numpy().T[::-1]).copy())
        phases = _wrap(encoding.phases.detach().float().cpu()[order], 2 * math.pi)
        first = SpectralEncoding(frequencies[order], encoding.period, phases)
        columns = order
    else:
        first, columns = _plain_sine(encoding), None
    hidden = [_plain_sine(layer, columns if index == 0 else None) for index, layer in enumerate(field.hidden)]
    if columns is not None and not hidden:
        raise SinetuneError("a TUNER field needs a hidden layer")
    head = field.head
    if not isinstance(head, Linear) or head.weight.ndim != 2:
        raise SinetuneError(f"the codec stores fields with a linear head, got a {type(head).__name__}")
    return SinusoidalField(first, hidden, Linear(head.weight.detach().float().cpu(), head.bias.detach().float().cpu()))


def quantized_parameters(field: SinusoidalField) -> list[str]:
    """The names of ``field``'s parameters the codec quantises: all of them, in ``named_parameters`` order."""
    return [name for name, _ in field.named_parameters()]


def quantize_field(field: SinusoidalField, bits: int,
                   granularity: Granularity = "column") -> dict[str, QuantizedTensor]:
    """Every parameter of a plain field (:func:`plain_field`) → its :class:`QuantizedTensor`, by name."""
    parameters = dict(field.named_parameters())
    return {name: quantize_tensor(parameters[name], bits, granularity) for name in quantized_parameters(field)}


def load_quantized(field: SinusoidalField, tensors: dict[str, QuantizedTensor]) -> SinusoidalField:
    """Set ``field``'s parameters to the dequantised ``tensors`` (in place; returns ``field``)."""
    parameters = dict(field.named_parameters())
    with torch.no_grad():
        for name, quantized in tensors.items():
            parameters[name].copy_(quantized.dequantize().reshape(parameters[name].shape))
    return field


def quantization_aware_finetune(field: SinusoidalField, coords: torch.Tensor, values: torch.Tensor,
                                options: QuantizeOptions, lr: float, data_range: float = 1.0,
                                progress=False) -> TrainResult | None:
    """Fine-tune a plain field for ``options.qat_steps`` steps with its parameters fake-quantised.

    The loop is :func:`sinetune.training.train` (Adam on the MSE, cosine-decayed learning rate,
    ``keep_best`` on the quantised field's training PSNR); the parametrisations are removed after,
    leaving the un-rounded weights whose :func:`quantize_field` the fine-tune optimised. ``None``
    when ``qat_steps`` is 0.

    Args:
        field: a plain field (:func:`plain_field`), on the device to train on.
        coords, values: ``(N, d)`` coordinates and ``(N, C)`` targets.
        lr: the learning rate when ``options.qat_lr`` is ``None``.
    """
    options.validate()
    if options.qat_steps == 0:
        return None
    modules = dict(field.named_modules())
    names = quantized_parameters(field)
    for name in names:
        owner, _, attribute = name.rpartition(".")
        parametrize.register_parametrization(modules[owner], attribute,
                                             FakeQuantize(options.bits, options.granularity))
    try:
        train_options = TrainOptions(steps=options.qat_steps, batch_size="full",
                                     log_every=max(1, min(10, options.qat_steps)),
                                     keep_best=True, lr_schedule="cosine", checkpoint_seconds=None)
        return train(field, coords, values, train_options, options.qat_lr or lr, data_range=data_range,
                     progress=progress)
    finally:
        for name in names:
            owner, _, attribute = name.rpartition(".")
            parametrize.remove_parametrizations(modules[owner], attribute, leave_parametrized=False)


__all__ = ["BITS_RANGE", "COLUMN_MIN_ROWS", "FakeQuantize", "Granularity", "QuantizeOptions", "QuantizedTensor",
           "check_bits", "error_bound", "fake_quantize", "grid_count", "load_quantized", "plain_field",
           "quantization_aware_finetune", "quantize_field", "quantize_tensor", "quantized_parameters"]
