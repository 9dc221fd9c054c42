"""Shared fixtures for the sinetune test suite.

Everything is tiny (16²–64² images, widths 16–64, a few steps) and CPU-only; no network, no
``/work/shared``. Randomness comes from explicit generators (the ``generator`` fixture).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sinetune import TrainOptions, TunerOptions

# Tiny tensors: one intra-op thread is much faster than two contending ones (and immune to other
# processes using the cores), and it keeps timings stable.
torch.set_num_threads(1)


def smooth_rgb(height: int, width: int) -> np.ndarray:
    """A smooth ``(H, W, 3)`` uint8 test image (low-frequency sinusoids and a bilinear ramp)."""
    y, x = np.mgrid[0:height, 0:width]
    x = x / max(width - 1, 1)
    y = y / max(height - 1, 1)
    red = 0.5 + 0.35 * np.sin(2 * np.pi * x) * np.cos(np.pi * y)
    green = 0.5 + 0.3 * np.cos(2 * np.pi * (x + y))
    blue = 0.2 + 0.6 * x * y
    return (np.stack([red, green, blue], axis=-1) * 255 + 0.5).astype(np.uint8)


def write_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def rgb_image(tmp_path) -> Path:
    """A 32×32 smooth RGB PNG."""
    return write_png(tmp_path / "smooth.png", smooth_rgb(32, 32))


@pytest.fixture
def rgb_image_wide(tmp_path) -> Path:
    """A 24 (rows) × 32 (columns) smooth RGB PNG, to catch H/W mix-ups."""
    return write_png(tmp_path / "wide.png", smooth_rgb(24, 32))


@pytest.fixture
def tiny_tuner_options() -> TunerOptions:
    """TUNER options that fit a 32² image (band-limit 4 there, 40 frequencies available)."""
    return TunerOptions(input_width=16, hidden_width=16, band_fraction=0.3)


@pytest.fixture(scope="session")
def fitted_run(tmp_path_factory):
    """One small TUNER run directory shared by read-only tests: ``(result, run_dir, image_path)``."""
    import sinetune

    root = tmp_path_factory.mktemp("fitted")
    image = write_png(root / "smooth.png", smooth_rgb(32, 32))
    options = TunerOptions(input_width=16, hidden_width=16, band_fraction=0.3)
    result = sinetune.fit(str(image), "tuner", size=None, options=options,
                          train_options=TrainOptions(steps=20, log_every=5), seed=3, holdout=0.1, device="cpu",
                          out=root / "run")
    return result, root / "run", image
