"""Classic baselines for the inverse tasks (:mod:`sinetune.tasks`), on the same corrupted inputs.

Every function takes and returns ``grid_shape + (C,)`` float arrays (any grid unless said) and chooses
its parameters from the corrupted input alone — never from the clean target — except
:func:`tv_denoise_oracle`, an upper bound that picks its weight *by* the clean target and says so.

* denoise: total variation (:func:`tv_denoise`, Chambolle), wavelet shrinkage (:func:`wavelet_denoise`,
  BayesShrink), BM3D (:func:`bm3d_denoise`, images; the optional ``bm3d`` package);
* inpaint: bi-harmonic inpainting (:func:`biharmonic_inpaint`);
* superres: bicubic and Lanczos upsampling (:func:`upsample`; Pillow for images, a cubic spline for
  other grids), which sample the ``k×`` grid where :func:`sinetune.corruptions.superres_coordinates` does.

:data:`BASELINES` maps each task to its baselines' names; :func:`run_baseline` runs one on a
:class:`~sinetune.tasks.TaskInput`, so a baseline is scored exactly like a field
(:func:`sinetune.tasks.score_task`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .corruptions import estimate_noise_sigma
from .errors import SinetuneError
from .tasks import TaskInput

#: Weights :func:`tv_denoise_oracle` tries, as multiples of σ̂.
TV_ORACLE_SCALES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


def tv_denoise(noisy: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Total-variation denoising (``skimage.restoration.denoise_tv_chambolle``, Chambolle 2004) with
    the weight ``λ = σ̂`` (``sigma``, else :func:`~sinetune.corruptions.estimate_noise_sigma` of ``noisy``):
    a fixed rule, the same for every input."""
    from skimage.restoration import denoise_tv_chambolle

    weight = sigma if sigma is not None else estimate_noise_sigma(noisy)
    return denoise_tv_chambolle(np.asarray(noisy, dtype=np.float64), weight=weight, channel_axis=-1).astype(np.float32)


def tv_denoise_oracle(noisy: np.ndarray, clean: np.ndarray, sigma: float | None = None) -> tuple[np.ndarray, float]:
    """TV denoising with the weight among :data:`TV_ORACLE_SCALES` · σ̂ that is best *against the clean
    signal* — an oracle upper bound for TV, not a method. Returns ``(denoised, weight)``."""
    from skimage.restoration import denoise_tv_chambolle

    base = sigma if sigma is not None else estimate_noise_sigma(noisy)
    best, best_weight, best_mse = None, 0.0, np.inf
    for scale in TV_ORACLE_SCALES:
        result = denoise_tv_chambolle(np.asarray(noisy, dtype=np.float64), weight=scale * base, channel_axis=-1)
        mse = float(np.mean((result - clean) ** 2))
        if mse < best_mse:
            best, best_weight, best_mse = result, scale * base, mse
    return best.astype(np.float32), best_weight


def wavelet_denoise(noisy: np.ndarray) -> np.ndarray:
    """Wavelet shrinkage (``skimage.restoration.denoise_wavelet``: BayesShrink, soft thresholds, σ
    estimated from the input, colour images in YCbCr)."""
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(np.asarray(noisy, dtype=np.float64), channel_axis=-1, method="BayesShrink", mode="soft",
                           rescale_sigma=True, convert2ycbcr=noisy.shape[-1] == 3 and noisy.ndim == 3
                           ).astype(np.float32)


def bm3d_available() -> bool:
    """Whether the optional ``bm3d`` package (``pip install bm3d``) is installed."""
    try:
        import bm3d  # noqa: F401
    except ImportError:
        return False
    return True


def bm3d_denoise(noisy: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """BM3D (Dabov et al. 2007; the ``bm3d`` package of its authors' group) of an ``(H, W, C)`` image
    with noise σ̂ (``sigma``, else estimated): ``bm3d_rgb`` for colour, ``bm3d`` for gray."""
    if not bm3d_available():
        raise SinetuneError("BM3D needs the bm3d package: pip install bm3d")
    if noisy.ndim != 3:
        raise SinetuneError(f"BM3D denoises images (H, W, C); got a grid of {noisy.ndim - 1} axes")
    import bm3d

    sigma = sigma if sigma is not None else estimate_noise_sigma(noisy)
    values = np.asarray(noisy, dtype=np.float64)
    if values.shape[-1] == 3:
        return np.asarray(bm3d.bm3d_rgb(values, sigma), dtype=np.float32)
    channels = [np.asarray(bm3d.bm3d(values[..., c], sigma), dtype=np.float32) for c in range(values.shape[-1])]
    return np.stack(channels, axis=-1)


def biharmonic_inpaint(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Bi-harmonic inpainting (``skimage.restoration.inpaint_biharmonic``): the missing samples
    (``missing``, boolean ``grid_shape``) solve ``Δ²u = 0`` with the known samples as boundary values."""
    from skimage.restoration import inpaint_biharmonic

    return inpaint_biharmonic(np.asarray(values, dtype=np.float64), missing.reshape(values.shape[:-1]),
                              channel_axis=-1).astype(np.float32)


#: :func:`upsample`'s methods.
UPSAMPLERS = ("bicubic", "lanczos")


def upsample(low: np.ndarray, factor: int, method: str = "bicubic") -> np.ndarray:
    """``low`` (``grid_shape + (C,)``) resampled to ``factor × grid_shape``, pixel centres aligned as a
    block average leaves them (``x_low = (x_high + 1/2)/k − 1/2``).

    Images: Pillow's ``BICUBIC`` (Keys, a = −0.5) or ``LANCZOS`` (a = 3) per channel in float mode.
    Other grids: a cubic spline (``skimage.transform.resize``, order 3) for either method.
    """
    if method not in UPSAMPLERS:
        raise SinetuneError(f"upsampling method must be one of {', '.join(UPSAMPLERS)}, got {method!r}")
    high = tuple(n * factor for n in low.shape[:-1])
    if low.ndim == 3:
        from PIL import Image

        resample = Image.Resampling.BICUBIC if method == "bicubic" else Image.Resampling.LANCZOS
        channels = [np.asarray(Image.fromarray(np.ascontiguousarray(low[..., c], dtype=np.float32), mode="F")
                               .resize((high[1], high[0]), resample)) for c in range(low.shape[-1])]
        return np.stack(channels, axis=-1).astype(np.float32)
    from skimage.transform import resize

    return resize(np.asarray(low, dtype=np.float64), high + low.shape[-1:], order=3, mode="edge",
                  anti_aliasing=False).astype(np.float32)


def _denoisers(task: TaskInput) -> dict[str, Callable[[], np.ndarray]]:
    noisy, sigma = task.signal.values, task.sigma_estimate
    found = {"tv": lambda: tv_denoise(noisy, sigma), "wavelet": lambda: wavelet_denoise(noisy)}
    if task.signal.dim == 2 and bm3d_available():
        found["bm3d"] = lambda: bm3d_denoise(noisy, sigma)
    if task.clean is not None:
        found["tv-oracle"] = lambda: tv_denoise_oracle(noisy, task.clean.values, sigma)[0]
    return found


def baselines_for(task: TaskInput) -> dict[str, Callable[[], np.ndarray]]:
    """The baselines that apply to ``task`` (its kind and grid): ``{name: () -> answer}``, each answer
    shaped like the clean signal :func:`sinetune.tasks.score_task` compares with."""
    kind = task.options.task
    if kind == "denoise":
        return _denoisers(task)
    if kind == "inpaint":
        return {"biharmonic": lambda: biharmonic_inpaint(task.signal.values, task.missing)}
    if kind == "superres":
        factor = task.options.factor
        return {name: (lambda name=name: upsample(task.signal.values, factor, name)) for name in UPSAMPLERS}
    raise SinetuneError(f"no baselines for task {kind!r}")


#: Each task's baselines by name (BM3D only where the ``bm3d`` package is installed, and for images).
BASELINES = {"denoise": ("tv", "wavelet", "bm3d", "tv-oracle"), "inpaint": ("biharmonic",),
             "superres": UPSAMPLERS}


def run_baseline(name: str, task: TaskInput) -> np.ndarray:
    """Run baseline ``name`` (:data:`BASELINES`) on ``task``'s corrupted input; one-line error if it does not apply."""
    found = baselines_for(task)
    if name not in found:
        raise SinetuneError(f"baseline {name!r} does not apply to this {task.options.task} input; "
                            f"available: {', '.join(found)}")
    return found[name]()


__all__ = ["BASELINES", "TV_ORACLE_SCALES", "UPSAMPLERS", "baselines_for", "biharmonic_inpaint", "bm3d_available",
           "bm3d_denoise", "run_baseline", "tv_denoise", "tv_denoise_oracle", "upsample", "wavelet_denoise"]
