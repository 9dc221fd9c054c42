"""Renders of a saved run directory at any resolution and domain: a PNG for an image, a WAV for a
sound (at the clip's time scale), and, for 3-D/4-D signals, :mod:`sinetune.render_nd`.
The figures of a run are :mod:`sinetune.render`; :func:`render_run` is also importable from
:mod:`sinetune.runs` and :mod:`sinetune`.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SinetuneError
from .models import SinusoidalField
from .render import render_field, save_audio, save_image
from .rundir import check_output_file
from .training import EVAL_CHUNK


def render_run(
    run_dir: str | Path,
    size: int | None = None,
    domain: tuple[float, float] = (-1.0, 1.0),
    out: str | Path | None = None,
    overwrite: bool = False,
    device: str = "cpu",
) -> Path:
    """Render a saved field to a PNG (image) or a WAV (audio) at any resolution and domain.

    Args:
        run_dir: a run directory written by :func:`run`.
        size: images: longer side of the render in pixels (aspect kept), ``None`` = the training
            grid. Audio: number of samples, ``None`` = as many as keep the original sample rate
            over ``domain``.
        domain: coordinate range per axis; (-1, 1) is the training domain, (-2, 2) extrapolates
            (a TUNER field is periodic with period ``p``, so the render shows the repetition).
        out: output file; default ``RUN_DIR/render-HxW[-domainA_B].png`` or
            ``RUN_DIR/render-N[-domainA_B].wav``. Never overwritten unless ``overwrite``.

    Audio renders keep the clip's time scale: the training grid's spacing ``2 / (N_0 − 1)`` is
    ``1 / rate`` seconds, so ``N`` samples over ``[a, b]`` are written at
    ``rate · 2 (N − 1) / ((N_0 − 1)(b − a))`` Hz (rounded), de-normalised by the stored scale.
    """
    from .runs import load_run  # runs imports this module

    fitted, config, info = load_run(run_dir, device)
    chunk = config.train.eval_chunk
    if not domain[1] > domain[0]:
        raise SinetuneError(f"domain must be increasing, got {domain[0]} {domain[1]}")
    if len(info["grid_shape"]) == 1:
        return _render_audio(fitted, info, run_dir, size, domain, out, overwrite, chunk)
    if len(info["grid_shape"]) >= 3:
        from .render_nd import render_nd

        return render_nd(fitted, info, run_dir, size, domain, out, overwrite, chunk)
    height, width = info["grid_shape"]
    if size is not None:
        if not 2 <= size <= 16384:
            raise SinetuneError(f"render size must be between 2 and 16384, got {size}")
        scale = size / max(height, width)
        height, width = max(2, round(height * scale)), max(2, round(width * scale))
    if out is None:
        suffix = "" if tuple(domain) == (-1.0, 1.0) else f"-domain{domain[0]:g}_{domain[1]:g}"
        out = Path(run_dir) / f"render-{height}x{width}{suffix}.png"
    out = check_output_file(out, IMAGE_RENDER_SUFFIXES, "an image render")
    if out.exists() and not overwrite:
        raise SinetuneError(f"{out} already exists; pass --overwrite to replace it")
    save_image(render_field(fitted, (height, width), domain, chunk), out)
    return out


#: The image formats ``render --out`` writes.
IMAGE_RENDER_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".webp")
MAX_AUDIO_RENDER = 1 << 26


def _render_audio(fitted: SinusoidalField, info: dict, run_dir: str | Path, size: int | None,
                  domain: tuple[float, float], out: str | Path | None, overwrite: bool,
                  chunk: int = EVAL_CHUNK) -> Path:
    """The 1-D branch of :func:`render_run` (a float32 WAV)."""
    (trained_samples,) = info["grid_shape"]
    rate = info.get("sample_rate")
    if rate is None:
        raise SinetuneError(f"{run_dir} holds a 1-D field without a sample rate; cannot write audio")
    span = float(domain[1] - domain[0])
    if size is None:
        size = round((trained_samples - 1) * span / 2.0) + 1
    if not 2 <= size <= MAX_AUDIO_RENDER:
        raise SinetuneError(f"render size must be between 2 and {MAX_AUDIO_RENDER} samples, got {size}")
    render_rate = max(1, round(rate * 2.0 * (size - 1) / ((trained_samples - 1) * span)))
    if out is None:
        suffix = "" if tuple(domain) == (-1.0, 1.0) else f"-domain{domain[0]:g}_{domain[1]:g}"
        out = Path(run_dir) / f"render-{size}{suffix}.wav"
    out = check_output_file(out, (".wav",), "an audio render (WAV)")
    if out.exists() and not overwrite:
        raise SinetuneError(f"{out} already exists; pass --overwrite to replace it")
    save_audio(render_field(fitted, (size,), domain, chunk), out, render_rate, info.get("scale", 1.0))
    return out


__all__ = ["IMAGE_RENDER_SUFFIXES", "MAX_AUDIO_RENDER", "render_run"]
