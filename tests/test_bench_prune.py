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


ONE_LEVEL = {"images": ["03"], "methods": ["tuner"], "steps": 5, "size": 32, "width": 12, "device": "cpu",
             "fractions": (0.25,), "grow": False, "batch_size": 256,
             "prune_options": PruneOptions(threshold=0.3, decay_steps=3, targeted_steps=3, finetune_steps=3,
                                           train=TrainOptions(log_every=3))}


def test_several_finetune_lengths_equal_separate_runs_in_mini_batches(kodak, tmp_path):
    """A shorter length's row, read from the longest fine-tune, is what a run of that length gives —
    for the pruned field and for the control (which draws the pruning's mini-batches)."""
    both = run_benchmark("prune", data_dir=kodak, out=tmp_path / "both", finetune_steps=(6, 3), **ONE_LEVEL).rows
    alone = run_benchmark("prune", data_dir=kodak, out=tmp_path / "alone", finetune_steps=3, **ONE_LEVEL).rows
    assert [row["method"] for row in both] == ["tuner unpruned", "tuner pruned 25%, fine-tune 3",
                                               "tuner pruned 25%, fine-tune 6"]
    assert [row["method"] for row in alone] == ["tuner unpruned", "tuner pruned 25%"]
    short, long = both[1], both[2]
    assert (short["steps"], long["steps"]) == (alone[1]["steps"], alone[1]["steps"] + 3) == (9, 12)
    for key in ("heldout_psnr", "unpruned_same_steps_psnr", "drop_vs_equal_db"):
        assert short[key] == pytest.approx(alone[1][key], abs=1e-4)
    assert long["heldout_psnr"] != pytest.approx(short["heldout_psnr"], abs=1e-6)  # it trained on
    saved = json.loads((tmp_path / "both" / "results.json").read_text())
    assert saved["batch_size"] == 256 and saved["finetune_lengths"] == [3, 6]
    assert saved["prune_options"]["finetune_steps"] == 6 and saved["prune_options"]["train"]["batch_size"] == 256


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"finetune_steps": (4, 6)}, "multiples of the pruning log_every"),
    ({"finetune_steps": (0,)}, "positive"),
    ({"finetune_steps": (3, 6), "prune_options": PruneOptions(train=TrainOptions(log_every=3, lr_schedule="cosine"))},
     "constant learning rate"),
    ({"batch_size": 0}, "batch_size"),
])
def test_finetune_lengths_and_batch_size_are_checked(kodak, tmp_path, kwargs, message):
    with pytest.raises(SinetuneError, match=message):
        run_benchmark("prune", data_dir=kodak, out=tmp_path / "x", **{**ONE_LEVEL, **kwargs})
    assert not (tmp_path / "x").exists()  # checked before anything is written


def test_bench_prune_cli_flags_reach_run_prune(kodak, tmp_path, monkeypatch, capsys):
    import sinetune.bench as bench
    from sinetune.bench.report import BenchReport
    from sinetune.cli import main

    seen = {}

    def fake(name, **options):
        seen.update(options, name=name)
        return BenchReport(out_dir=tmp_path, markdown="table")

    monkeypatch.setattr(bench, "run_benchmark", fake)
    assert main(["bench", "prune", "--data", str(kodak), "--batch-size", "16384", "--finetune-steps", "100,400",
                 "--fractions", "0.25", "--no-grow", "--device", "cpu"]) == 0
    assert seen["name"] == "prune" and seen["batch_size"] == 16384 and seen["finetune_steps"] == (100, 400)
    assert seen["fractions"] == (0.25,) and seen["grow"] is False
    seen.clear()
    assert main(["bench", "prune", "--batch-size", "full"]) == 0 and seen["batch_size"] == "full"
    assert "grow" not in seen and "finetune_steps" not in seen  # left out: run_prune's defaults
    capsys.readouterr()
    assert main(["bench", "prune", "--finetune-steps", "100,x"]) == 2
    assert main(["bench", "kodak-256", "--no-grow"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sinetune: error: argument --finetune-steps: expected comma-separated integers, got '100,x'",
                   "sinetune: error: --no-grow does not apply to bench kodak-256"]
