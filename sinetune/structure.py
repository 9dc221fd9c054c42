"""Changing a sinusoidal field's shape in place: keep some input atoms or hidden units, add input atoms.

The *hidden matrix* ``A`` of a :class:`~sinetune.models.SinusoidalField` is the effective weight of its
first hidden layer (``hidden[0]``), ``(n_1, n_0)``: a **column** ``j`` belongs to input atom ``j`` (for
TUNER the integer frequency ``K_j`` and its phase ``φ_j``; for SIREN the ``j``-th unit of the first sine
layer), a **row** ``i`` to hidden unit ``i`` (row ``i`` of ``A``, bias ``b_i`` and column ``i`` of the
next layer). Removing a column or a row removes those tensors' entries — the field really gets smaller
(tech report TR-24-02 Def. 3.4 and §7.3: a zero column or row "holds no information"). Adding input
atoms (:func:`add_input_frequencies`, TR §8) appends zero columns, which leaves the function unchanged.

Every edit keeps the layer objects (only their tensors are replaced), so a method's constraints and
penalties (:mod:`sinetune.constraints`, which read their ``layer`` at every call) stay valid. An
optimizer built before an edit is not: :func:`sinetune.training.train` builds its own per call.
One field only (no leading signal axis of a stack).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import SinetuneError
from .models import Linear, SineLayer, SinusoidalField, SpectralEncoding


def _check(field: nn.Module) -> SinusoidalField:
    if not isinstance(field, SinusoidalField) or not field.hidden:
        raise SinetuneError("pruning and growing need a sinusoidal field with at least one hidden sine layer "
                            "(TUNER, SIREN)")
    if field.hidden[0].weight.ndim != 2:
        raise SinetuneError("pruning and growing act on one field, not a stack of fields")
    if not isinstance(field.encoding, (SpectralEncoding, SineLayer)):
        raise SinetuneError("pruning and growing need a TUNER encoding or a first sine layer")
    return field


def hidden_matrix(field: nn.Module) -> torch.Tensor:
    """``A``: the effective weights ``Ŵ`` of the first hidden layer, ``(n_1, n_0)`` (radians per unit)."""
    return _check(field).hidden[0].effective_weight()


def hidden_shape(field: nn.Module) -> tuple[int, int]:
    """``(n_1, n_0)``: hidden units (rows of ``A``) and input atoms (columns)."""
    layer = _check(field).hidden[0]
    return layer.out_features, layer.in_features


def _replace(module: nn.Module, name: str, value: torch.Tensor) -> None:
    """Swap a parameter or buffer of ``module`` for ``value`` (same kind, same ``requires_grad``)."""
    if name in module._parameters:
        old = module._parameters[name]
        module._parameters[name] = nn.Parameter(value.detach().clone(), requires_grad=old.requires_grad)
    else:
        module._buffers[name] = value.detach().clone()


def _select_sine_inputs(layer: SineLayer, index: torch.Tensor) -> None:
    """Keep the input columns ``index`` of a sine layer (weights and per-column bounds)."""
    _replace(layer, "weight", layer.weight[:, index])
    if layer.bound_mode == "clamp":
        _replace(layer, "column_bounds", layer.column_bounds[index])
    elif layer.bound_mode == "learned":
        _replace(layer, "scaled_bounds", layer.scaled_bounds[index])
    layer.in_features = len(index)


def _select_sine_outputs(layer: SineLayer, index: torch.Tensor) -> None:
    """Keep the output units ``index`` of a sine layer (rows of the weight, bias entries)."""
    _replace(layer, "weight", layer.weight[index])
    _replace(layer, "bias", layer.bias[index])
    layer.out_features = len(index)


def _select_linear_inputs(layer: Linear, index: torch.Tensor) -> None:
    _replace(layer, "weight", layer.weight[:, index])


def _as_index(keep, size: int, what: str) -> torch.Tensor:
    index = torch.as_tensor(keep, dtype=torch.int64).reshape(-1)
    if len(index) == 0:
        raise SinetuneError(f"cannot remove every {what}: at least one must stay")
    if int(index.min()) < 0 or int(index.max()) >= size or len(torch.unique(index)) != len(index):
        raise SinetuneError(f"{what} indices must be distinct and in [0, {size})")
    return torch.sort(index).values


@torch.no_grad()
def mean_activations(field: nn.Module, coords: torch.Tensor, chunk: int = 32768) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean of the input atoms (n_0,), mean of the first hidden layer's units (n_1,))`` over ``coords``
    ``(N, d)``, ``chunk`` points per pass."""
    field = _check(field)
    device = field.hidden[0].weight.device
    atoms = units = None
    for start in range(0, len(coords), chunk):
        encoded = field.encoding(coords[start:start + chunk].to(device))
        hidden = field.hidden[0](encoded)
        atoms = encoded.sum(0) if atoms is None else atoms + encoded.sum(0)
        units = hidden.sum(0) if units is None else units + hidden.sum(0)
    return atoms / len(coords), units / len(coords)


def _fold_into_bias(layer: nn.Module, removed: torch.Tensor, means: torch.Tensor) -> None:
    """Add what the removed inputs contributed on average to ``layer``'s bias: ``Ŵ[:, removed] · mean``
    (a sine layer's stored bias is the pre-activation's ``/ ω``)."""
    if not len(removed):
        return
    if isinstance(layer, SineLayer):
        shift = layer.effective_weight()[:, removed] @ means[removed] / layer.omega
    else:
        shift = layer.weight[:, removed] @ means[removed]
    layer.bias.add_(shift)


def _removed(index: torch.Tensor, size: int) -> torch.Tensor:
    mask = torch.ones(size, dtype=torch.bool)
    mask[index] = False
    return torch.nonzero(mask).reshape(-1)


@torch.no_grad()
def keep_input_atoms(field: nn.Module, keep, coords: torch.Tensor | None = None) -> None:
    """Keep only the input atoms (columns of ``A``) ``keep`` — a sequence of indices into ``n_0`` — in place.

    TUNER: the rows of ``K``, ``Ω`` and ``φ``; SIREN: the rows of the first layer's weight and bias.
    Then the matching columns of ``A`` (and of its bounds). With ``coords`` ``(N, d)``, what each removed
    atom contributed *on average* over them, ``A_ij · mean(s_j)``, moves into the hidden bias (mean
    replacement: exact when the atom is constant there, ~0 for a sinusoid over whole periods).
    """
    field = _check(field)
    index = _as_index(keep, field.hidden[0].in_features, "input atom")
    if coords is not None:
        _fold_into_bias(field.hidden[0], _removed(index, field.hidden[0].in_features),
                        mean_activations(field, coords)[0])
    encoding = field.encoding
    if isinstance(encoding, SpectralEncoding):
        for name in ("input_frequencies", "angular_frequencies"):
            _replace(encoding, name, getattr(encoding, name)[index])
        _replace(encoding, "phases", encoding.phases[index])
    else:
        _select_sine_outputs(encoding, index)
    _select_sine_inputs(field.hidden[0], index)


@torch.no_grad()
def keep_hidden_units(field: nn.Module, keep, coords: torch.Tensor | None = None) -> None:
    """Keep only the hidden units (rows of ``A``) ``keep`` in place: rows of ``A``, bias entries, and the
    matching input columns of the next layer (the second hidden layer or the head).

    With ``coords`` ``(N, d)``, each removed unit's mean output over them times its outgoing weights
    moves into the next layer's bias (mean replacement). A unit whose row of ``A`` is zero outputs the
    constant ``sin(ω b_i)``, so removing it then changes nothing; without the fold it shifts the output.
    """
    field = _check(field)
    index = _as_index(keep, field.hidden[0].out_features, "hidden unit")
    following = field.hidden[1] if len(field.hidden) > 1 else field.head
    if coords is not None:
        _fold_into_bias(following, _removed(index, field.hidden[0].out_features), mean_activations(field, coords)[1])
    _select_sine_outputs(field.hidden[0], index)
    if isinstance(following, SineLayer):
        _select_sine_inputs(following, index)
    else:
        _select_linear_inputs(following, index)


@torch.no_grad()
def add_input_frequencies(field: nn.Module, frequencies: torch.Tensor, phases: torch.Tensor,
                          column_bounds: torch.Tensor | None = None) -> None:
    """Append TUNER input atoms in place: rows of ``K`` (``(m, d)`` integers), phases ``(m,)`` (radians),
    and zero columns of ``A`` — the field computes the same function until training moves them.

    ``column_bounds``: ``(m,)`` effective-weight bounds ``c_j`` of the new columns, required when the
    first hidden layer is bounded (``clamp`` or ``learned``).
    """
    field = _check(field)
    encoding, layer = field.encoding, field.hidden[0]
    if not isinstance(encoding, SpectralEncoding):
        raise SinetuneError("input frequencies can only be added to a TUNER field (integer frequencies)")
    frequencies = torch.as_tensor(frequencies, dtype=torch.int64).reshape(-1, encoding.in_features)
    count = len(frequencies)
    if phases.shape != (count,):
        raise SinetuneError(f"need one phase per new frequency ({count}), got shape {tuple(phases.shape)}")
    device, dtype = layer.weight.device, layer.weight.dtype
    frequencies = frequencies.to(device)
    _replace(encoding, "input_frequencies", torch.cat([encoding.input_frequencies, frequencies]))
    angular = (2 * math.pi / encoding.period) * frequencies.double()
    _replace(encoding, "angular_frequencies", torch.cat([encoding.angular_frequencies, angular]))
    _replace(encoding, "phases", torch.cat([encoding.phases, phases.to(device, encoding.phases.dtype)]))
    _replace(layer, "weight", torch.cat([layer.weight, torch.zeros(layer.out_features, count, device=device,
                                                                   dtype=dtype)], dim=1))
    if layer.bound_mode != "none":
        if column_bounds is None or column_bounds.shape != (count,):
            raise SinetuneError("a bounded hidden layer needs one column bound per new frequency")
        bounds = column_bounds.to(device, dtype)
        if layer.bound_mode == "clamp":
            _replace(layer, "column_bounds", torch.cat([layer.column_bounds, bounds]))
        else:
            _replace(layer, "scaled_bounds", torch.cat([layer.scaled_bounds, bounds / layer.omega]))
    layer.in_features += count


__all__ = ["add_input_frequencies", "hidden_matrix", "hidden_shape", "keep_hidden_units", "keep_input_atoms",
           "mean_activations"]
