"""``B`` fields of one architecture as one module with a leading signal axis (any method).

Every layer of :mod:`sinetune.models` computes ``B`` fields at once when its parameters carry a
leading axis ``B``. :func:`stack_fields` builds that module from ``B`` separately built fields:
every parameter becomes ``torch.stack`` of the fields' parameters, and a buffer is stacked only
where the fields differ (TUNER's integer frequencies, equal for one seed, stay one shared copy, so
the frozen ``sin/cos(Ωx)`` is computed once for all signals). :func:`unstack_into` copies the
trained slices back into the ``B`` ordinary fields, and :func:`rebind` points a method's
constraints and penalties (objects with a ``layer``) at the stacked counterpart of their layer.

The stacked forward pass is the per-signal forward pass with batched products (``torch.baddbmm``),
so training the stack with the loss ``Σ_b mean-MSE_b`` gives each signal exactly its own gradient,
and Adam (element-wise) makes each signal's own updates: ``B`` separate fits up to float rounding.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .errors import SinetuneError


def _owner(module: nn.Module, name: str) -> tuple[nn.Module, str]:
    path, _, leaf = name.rpartition(".")
    return module.get_submodule(path), leaf


def stack_fields(fields: Sequence[nn.Module]) -> nn.Module:
    """One module computing ``fields[b]`` for every ``b``: coordinates ``(N, d)`` → ``(B, N, C)``.

    The fields must share one architecture (the same module tree, hyper-parameters and tensor
    shapes; a one-line :class:`SinetuneError` otherwise). The result is a deep copy of ``fields[0]``
    whose parameters are ``(B, …)`` leaves; the fields themselves are not changed.
    """
    if not fields:
        raise SinetuneError("nothing to stack: no fields")
    first = fields[0]
    shapes = {name: tensor.shape for name, tensor in first.state_dict().items()}
    for other in fields[1:]:
        if repr(other) != repr(first) or {n: t.shape for n, t in other.state_dict().items()} != shapes:
            raise SinetuneError("the signals' fields differ in architecture; fit them separately")
    stacked = copy.deepcopy(first)
    with torch.no_grad():
        for name, parameter in first.named_parameters():
            owner, leaf = _owner(stacked, name)
            values = torch.stack([field.get_parameter(name).detach() for field in fields])
            setattr(owner, leaf, nn.Parameter(values, requires_grad=parameter.requires_grad))
        for name, _ in first.named_buffers():
            tensors = [field.get_buffer(name) for field in fields]
            if any(not torch.equal(tensor, tensors[0]) for tensor in tensors[1:]):
                owner, leaf = _owner(stacked, name)
                owner.register_buffer(leaf, torch.stack(tensors))
    return stacked


def unstack_into(stacked: nn.Module, fields: Sequence[nn.Module]) -> None:
    """Copy signal ``b``'s parameters of ``stacked`` into ``fields[b]`` (the fields it was stacked from)."""
    with torch.no_grad():
        for index, field in enumerate(fields):
            for name, parameter in field.named_parameters():
                parameter.copy_(stacked.get_parameter(name)[index])


def rebind(item: Any, field: nn.Module, stacked: nn.Module) -> Any:
    """A copy of a constraint or penalty of ``field`` that acts on ``stacked`` instead.

    ``item.layer`` must be a submodule of ``field``; the copy's ``layer`` is the submodule of
    ``stacked`` at the same path (constraints and penalties broadcast over the signal axis).
    """
    layer = getattr(item, "layer", None)
    path = next((name for name, module in field.named_modules() if module is layer), None)
    if path is None:
        raise SinetuneError(f"cannot batch the {type(item).__name__} of this method: it names no layer of the field")
    rebound = copy.copy(item)
    rebound.layer = stacked.get_submodule(path)
    return rebound


__all__ = ["rebind", "stack_fields", "unstack_into"]
