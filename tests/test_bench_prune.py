"""``bench prune`` on a fake one-image Kodak folder (sinetune.bench.prune)."""

from __future__ import annotations

import json

import pytest
from conftest import smooth_rgb, write_png

from sinetune import SinetuneError
from sinetune.bench import run_benchmark
from sinetune.growing import GrowOptions
from sinetune.pruning import PruneOptions
from sinetune.training import TrainOptions

QUICK_PRUNE = PruneOptions(threshold=0.3, decay_steps=3, finetune_steps=3, train=TrainOptions(log_every=3))
QUICK_GROW = GrowOptions(add_per_round=4, round_steps=3, final_steps=3, train=TrainOptions(log_every=3))


@pytest.fixture
def kodak(tmp_path):
    folder = tmp_path / "kodak"
    folder.mkdir()
    write_png(folder / "kodim03.png", smooth_rgb(32, 32))
    return folder


def test_bench_prune_rows_levels_and_growing(kodak, tmp_path):
    report = run_benchmark("prune", data_dir=kodak, images=["03"], steps=5, size=32, width=12, device="cpu",
                           out=tmp_path / "out", prune_options=QUICK_PRUNE, grow_options=QUICK_GROW)
    labels = [row["method"] for row in report.rows]
    assert labels[:4] == ["tuner unpruned", "tuner pruned 25%", "tuner pruned 50%", "tuner pruned 75%"]
    assert labels[4:7] == ["tuner grown", "tuner fixed, as many atoms, same steps",
                           "tuner fixed, all atoms, same steps"]
    assert labels[7:] == ["siren unpruned", "siren pruned 25%", "siren pruned 50%", "siren pruned 75%"]
    tuner = {row["method"]: row for row in report.rows if row["method"].startswith("tuner")}
    for level, fraction in (("25%", 0.25), ("50%", 0.5), ("75%", 0.75)):
        row = tuner[f"tuner pruned {level}"]
        assert fraction <= row["removed_fraction"] < fraction + 0.15
        assert row["drop_db"] == pytest.approx(tuner["tuner unpruned"]["heldout_psnr"] - row["heldout_psnr"])
        assert row["input_atoms"] * row["hidden_units"] <= 144 * (1 - fraction) + 1e-9
    grown, same = tuner["tuner grown"], tuner["tuner fixed, as many atoms, same steps"]
    assert grown["input_atoms"] == same["input_atoms"] and grown["steps"] == same["steps"]
    assert tuner["tuner fixed, all atoms, same steps"]["input_atoms"] == 12
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["benchmark"] == "prune" and saved["prune_options"]["threshold"] == 0.3
    assert "PSNR kept %" in (tmp_path / "out" / "results.md").read_text()
    with pytest.raises(SinetuneError, match="already exists"):
        run_benchmark("prune", data_dir=kodak, images=["03"], out=tmp_path / "out")
    with pytest.raises(SinetuneError, match="fractions"):
        run_benchmark("prune", data_dir=kodak, fractions=(0.5, 0.25), out=tmp_path / "other")
