"""The same code on CUDA (issue #5). Every test here skips cleanly on a machine without a GPU."""

from __future__ import annotations

import pytest
import torch

import sinetune
from sinetune import SirenOptions, TrainOptions, TunerOptions
from sinetune.bench import run_benchmark

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("method, options", [("tuner", TunerOptions(input_width=32, hidden_width=32)),
                                             ("siren", SirenOptions(input_width=32, hidden_width=32, hidden_layers=1))])
def test_a_cuda_fit_matches_the_cpu_fit(method, options):
    results = {device: sinetune.fit("astronaut", method, size=32, options=options, device=device,
                                    train_options=TrainOptions(steps=20)) for device in ("cpu", "cuda")}
    assert next(results["cuda"].field.parameters()).device.type == "cuda"
    for key in ("train_psnr", "heldout_psnr"):
        assert results["cuda"].metrics[key] == pytest.approx(results["cpu"].metrics[key], abs=0.05), key


def test_speed_bench_runs_on_cuda(tmp_path):
    report = run_benchmark("speed", methods=["tuner"], size=32, width=16, runs=1, steps=2, device="cuda",
                           out=tmp_path / "s")
    assert all(row["seconds_per_step"] > 0 for row in report.rows)
    assert "device cuda" in report.markdown
