"""Checkpoints: weights (and frozen buffers) in safetensors, structure rebuilt from the run config.

No pickle anywhere: ``model.safetensors`` holds the ``state_dict`` tensors plus a small string
metadata header (method, grid shape, channels, format version; sample rate and scale for audio);
``config.yaml`` holds the options.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .atomic import apply_umask
from .errors import SinetuneError
from .methods import build_field
from .models import SinusoidalField

FORMAT_VERSION = "1"


def save_field(field: SinusoidalField, path: Path, method: str, grid_shape: tuple[int, ...], channels: int,
               sample_rate: int | None = None, scale: float = 1.0) -> None:
    """Write ``field``'s state to ``path`` atomically (temporary file, then rename), with the
    permissions of any other file the process writes (``0666`` less the umask).

    ``sample_rate`` (Hz) and ``scale`` (the de-normalisation factor, see
    :class:`~sinetune.signals.Signal`) are stored for audio, so a render can write a WAV.
    """
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in field.state_dict().items()}
    metadata = {"format": FORMAT_VERSION, "method": method, "grid_shape": json.dumps(list(grid_shape)),
                "channels": str(channels)}
    if sample_rate is not None:
        metadata["sample_rate"] = str(int(sample_rate))
        metadata["scale"] = repr(float(scale))
    temporary = Path(path).with_suffix(".tmp")
    save_file(tensors, str(temporary), metadata=metadata)
    apply_umask(temporary)  # safetensors creates its file 0600; every other run file follows the umask
    os.replace(temporary, path)


def load_field(path: Path, options, device: torch.device | str = "cpu", ensemble: int = 1
               ) -> tuple[SinusoidalField, dict]:
    """Rebuild a field from ``path`` and its (resolved) method ``options``; ``ensemble`` > 1: the
    :class:`~sinetune.ensemble.EnsembleField` of that many members (``RunConfig.ensemble``).

    Returns ``(field, info)`` with ``info = {"method", "grid_shape", "channels"}``, plus
    ``"sample_rate"`` (Hz) and ``"scale"`` for audio.
    """
    try:

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise SinetuneError(f"cannot read checkpoint {path}: {error}") from None
    if metadata.get("format") != FORMAT_VERSION:
        raise SinetuneError(f"{path} is not a sinetune checkpoint (format {metadata.get('format')!r})")
    info = {"method": metadata["method"], "grid_shape": tuple(json.loads(metadata["grid_shape"])),
            "channels": int(metadata["channels"])}
    if "sample_rate" in metadata:  # audio
        info.update(sample_rate=int(metadata["sample_rate"]), scale=float(metadata.get("scale", 1.0)))
    if ensemble > 1:
        from .ensemble import build_members  # the ensemble module trains through sinetune.training

        fitted = build_members(info["method"], info["grid_shape"], info["channels"], options, ensemble)
    else:
        fitted = build_field(info["method"], info["grid_shape"], info["channels"], options).field
    try:
        fitted.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise SinetuneError(f"checkpoint {path} does not match its config: {str(error).splitlines()[0]}") from None
    return fitted.to(device).eval(), info
