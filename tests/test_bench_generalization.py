"""``sinetune bench generalization`` on a tiny matrix (generated classes only: no data folder needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sinetune.bench import BENCHMARKS, benchmark_options
from sinetune.bench.content import SYNTHETIC, synthetic, to_grid
from sinetune.bench.generalization import Cell, run_generalization, sr_domain
from sinetune.errors import SinetuneError
from sinetune.signals import grid_coordinates


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_generated_classes_are_seeded_images(name):
    first, again = synthetic(name), synthetic(name)
    assert np.array_equal(first, again)
    assert first.shape[:2] == (512, 512) and first.dtype == np.float32
    assert 0 <= first.min() and first.max() <= 1 and first.std() > 0.05
    assert not np.array_equal(first, synthetic(name, seed=1))
    assert to_grid(first, (24, 40)).shape == (24, 40, first.shape[-1])


def test_sr_domain_centres_the_full_grid_on_the_low_pixels():
    low = 8
    full = grid_coordinates((2 * low,), sr_domain(low))[:, 0].numpy()
    coarse = grid_coordinates((low,))[:, 0].numpy()
    # each low sample sits midway between the two full pixels it averages
    assert np.allclose((full[0::2] + full[1::2]) / 2, coarse, atol=1e-6)


def test_tiny_matrix_writes_rows_and_acceptance(tmp_path):
    cells = (Cell((32, 32), "holdout", ("shapes",), ("tuner", "siren", "tuner-256")),
             Cell((32, 32), "sr", ("texture",), ("tuner", "siren")))
    report = run_generalization(steps=2, device="cpu", out=tmp_path / "g", cells=cells, data_dir=tmp_path)
    rows = {(r["cell"], r["method"]): r for r in report.rows}
    held = rows[("32x32/holdout/shapes", "tuner")]
    assert held["gap"] == pytest.approx(held["train_psnr"] - held["heldout_psnr"])
    assert held["options"]["input_width"] == 32  # the capacity rule at 32²
    assert "refused" in rows[("32x32/holdout/shapes", "tuner-256")]  # the old fixed width cannot run at 32²
    sr = rows[("32x32/sr/texture", "tuner")]
    assert {"full_psnr", "ssim", "gradient_psnr"} <= set(sr)
    assert rows[("32x32/sr/texture", "bicubic")]["full_psnr"] > 10
    saved = json.loads((tmp_path / "g" / "results.json").read_text())
    assert len(saved["rows"]) == 7 and saved["cells"][1]["protocol"] == "sr"
    markdown = (tmp_path / "g" / "results.md").read_text()
    assert "## Acceptance" in markdown and "32x32/sr/texture" in markdown


def test_registered_and_checked():
    assert "generalization" in BENCHMARKS and "data_dir" in benchmark_options("generalization")
    with pytest.raises(SinetuneError, match="unknown variant"):
        run_generalization(methods=["nope"])
    with pytest.raises(SinetuneError, match="no cell"):
        run_generalization(size=77)
