"""``sinetune bench speed`` (bench/speed.py) at toy sizes: what it measures and how rows relate."""

from __future__ import annotations

import json

import pytest
import torch

from sinetune import SinetuneError
from sinetune.bench import run_benchmark
from sinetune.bench.speed import time_products
from sinetune.cli import main


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)


def test_speed_rows_relate_to_the_floor_and_the_plain_reference(tmp_path):
    report = run_benchmark("speed", methods=["tuner", "siren"], size=32, width=16, runs=2, steps=2,
                           out=tmp_path / "s", device="cpu")
    rows = report.rows
    assert [(r["method"], r["variant"]) for r in rows] == [("tuner", "sinetune"), ("tuner", "no encoding cache"),
                                                           ("siren", "sinetune")]
    data = json.loads((tmp_path / "s" / "results.json").read_text())
    samples = data["samples"]
    assert samples == 32 * 32 - round(0.05 * 32 * 32) and data["runs"] == 2 and data["steps"] == 2
    for row in rows:
        assert len(row["ratios"]) == 2 and row["plain_ratio"] == pytest.approx(sorted(row["ratios"])[0] / 2
                                                                                + sorted(row["ratios"])[1] / 2)
        assert row["floor_ratio"] == pytest.approx(row["seconds_per_step"] / row["floor_seconds_per_step"])
        assert row["best_ratio"] == pytest.approx(row["floor_seconds_per_step"] / row["plain_seconds_per_step"])
        assert row["gflops"] == pytest.approx(6 * samples * 16 * 16 / row["seconds_per_step"] / 1e9)
    assert "| sinetune | tuner |" in report.markdown and "means over" not in report.markdown


def test_time_products_counts_three_products():
    seconds, gflops = time_products(100, 8, 4, torch.device("cpu"), repeats=2)
    assert seconds > 0 and gflops == pytest.approx(6 * 100 * 8 * 4 / seconds / 1e9)


@pytest.mark.parametrize("kwargs, message", [({"methods": ["ffn"]}, "not one"), ({"runs": 0}, "positive"),
                                             ({"size": 4}, "at least 8")])
def test_speed_refuses_what_it_cannot_compare(tmp_path, kwargs, message):
    with pytest.raises(SinetuneError, match=message):
        run_benchmark("speed", **{"size": 32, "width": 16, "runs": 1, "steps": 1, **kwargs})


def test_speed_cli_and_flags_that_do_not_apply(tmp_path, capsys):
    assert main(["bench", "speed", "--methods", "siren", "--size", "32", "--width", "16", "--runs", "1",
                 "--steps", "1", "--device", "cpu", "--out", str(tmp_path / "c")]) == 0
    assert "| sinetune | siren |" in capsys.readouterr().out
    assert main(["bench", "speed", "--images", "03"]) == 2
    assert "--images does not apply to bench speed" in capsys.readouterr().err
    assert main(["bench", "speed", "--methods", "siren", "--size", "32", "--width", "16", "--runs", "1",
                 "--steps", "1", "--out", str(tmp_path / "c")]) == 2  # never overwrites a result
    assert "already exists" in capsys.readouterr().err
