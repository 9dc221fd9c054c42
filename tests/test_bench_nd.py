"""``sinetune bench video|volume|sdf`` (sinetune.bench.nd) at a tiny size."""

from __future__ import annotations

import json

import pytest

from sinetune.bench import benchmark_options, run_benchmark
from sinetune.errors import SinetuneError


def test_volume_bench_writes_its_table(tmp_path):
    report = run_benchmark("volume", methods=["tuner", "siren"], steps=2, size=8, width=16, batch_size=64,
                           device="cpu", out=tmp_path / "b", overrides={"tuner": {"input_width": 16}})
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [row["method"] for row in results["rows"]] == ["tuner", "siren"]
    assert results["configs"]["phantom3d"]["tuner"]["input_width"] == 16
    assert all(row["grid_shape"] == "8×8×8" and row["peak_rss_gib"] > 0 for row in results["rows"])
    assert "worst slice PSNR" in report.markdown and (tmp_path / "b" / "results.md").is_file()
    with pytest.raises(SinetuneError, match="already exists"):
        run_benchmark("volume", methods=["siren"], steps=2, size=8, out=tmp_path / "b")


def test_nd_bench_options_and_errors(tmp_path):
    assert {"size", "width", "steps", "methods", "overrides"} <= set(benchmark_options("sdf"))
    with pytest.raises(SinetuneError, match="not among the methods"):
        run_benchmark("video", methods=["siren"], overrides={"tuner": {"band_limit": 3}}, out=tmp_path / "x")
    with pytest.raises(SinetuneError, match="steps must be a positive integer"):
        run_benchmark("sdf", steps=0, out=tmp_path / "y")
