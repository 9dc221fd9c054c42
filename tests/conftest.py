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
from sinetune.cli import main
from sinetune.methods import get_method

# Tiny tensors: one intra-op thread is much faster than two contending ones (and immune to other
# processes using the cores), and it keeps timings stable.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_data_cache(tmp_path_factory, monkeypatch):
    """Every test sees an empty data cache (``~/.cache/sinetune`` untouched) and no data or mirror variable."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "empty-cache"))
    monkeypatch.delenv("SINETUNE_DATA", raising=False)
    monkeypatch.delenv("SINETUNE_DATA_MIRROR", raising=False)


def smooth_rgb(height: int, width: int) -> np.ndarray:
    """A smooth ``(H, W, 3)`` uint8 test image (low-frequency sinusoids and a bilinear ramp)."""
    y, x = np.mgrid[0:height, 0:width]
    x = x / max(width - 1, 1)
    y = y / max(height - 1, 1)
    red = 0.5 + 0.35 * np.sin(2 * np.pi * x) * np.cos(np.pi * y)
    green = 0.5 + 0.3 * np.cos(2 * np.pi * (x + y))
    blue = 0.2 + 0.6 * x * y
    return (np.stack([red, green, blue], axis=-1) * 255 + 0.5).astype(np.uint8)


def smooth_and_busy(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth ``(n, n, 3)`` image (a few low cycles) and a busy one (the same plus a texture at
    ≈ 0.35 and 0.3 of the cycles Nyquist allows), for the signal-derived frequency rules (issue #4)."""
    x = np.linspace(-1, 1, n)
    grid_x, grid_y = np.meshgrid(x, x, indexing="ij")
    smooth = 0.5 + 0.2 * np.sin(np.pi * 3 * grid_x) * np.cos(np.pi * 2 * grid_y)
    busy = smooth + 0.2 * np.sin(np.pi * round(0.35 * n) * grid_x + np.pi * round(0.3 * n) * grid_y)
    return np.repeat(smooth[..., None], 3, -1), np.repeat(busy[..., None], 3, -1)


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


# Shared helpers (imported by the test modules).

def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("sinetune: error:")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def build(name, options, grid_shape=(32, 32), channels=3, seed=0, values=None):
    """prepare (when the method has one) → resolve → build, as a run does."""
    method = get_method(name)
    if method.prepare is not None:
        if values is None:
            values = np.random.default_rng(seed).random(grid_shape + (channels,))
        options = method.prepare(options, values)
    resolved = method.resolve(options, grid_shape)
    return resolved, method.build(resolved, grid_shape, channels, torch.Generator().manual_seed(seed))


def check_uniform(tensor: torch.Tensor, bound: float, rel: float = 0.06) -> None:
    """All entries in [-bound, bound], spread over it, and variance ≈ bound²/3."""
    values = tensor.detach().double()
    assert values.abs().max().item() <= bound * (1 + 1e-6)
    assert values.abs().max().item() > 0.9 * bound
    assert values.var().item() == pytest.approx(bound ** 2 / 3, rel=rel)
