"""The study scripts of ``benchmarks/studies`` still run against the package (tiny arguments).

Scripts that read the benchmark data (``../shared/data``) are fed tiny generated data through their
``--data`` flag; the rest run on tiny sizes. Each must exit 0 and print something.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import smooth_rgb, write_png

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "benchmarks" / "studies"


def run_study(name: str, *args, timeout: int = 240) -> str:
    done = subprocess.run([sys.executable, str(STUDIES / name), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                                          "SINETUNE_MALLOC": "system", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
    return done.stdout


def test_every_study_is_covered():
    assert sorted(p.name for p in STUDIES.glob("*.py")) == sorted(
        ["allocator_api.py", "audio_variants.py", "band_rule.py", "bf16_matmul.py", "cluster_throughput.py",
         "codec_sweep.py", "denoise_noise_band.py", "fit_many.py", "fused_sine.py", "memory_1024.py",
         "minibatch_default.py", "rule_search.py", "select_validation.py", "step_budget.py", "inverse_settings.py",
         "denoise_ensemble.py"])


def test_codec_sweep_study(tmp_path):
    image = write_png(tmp_path / "a.png", smooth_rgb(32, 32))
    out = run_study("codec_sweep.py", "--images", image, "--configs", "old+steps=3+qat_steps=2,default+steps=3",
                    "--widths", "32,64", "--size", 32, "--rates", "1,100", "--out", tmp_path / "out")
    rows = [json.loads(line) for line in (tmp_path / "out" / "rows.jsonl").read_text().splitlines()]
    # per config: widths 4 and 8 (32 and 64 scaled to 32²) × its bits × (post-training, fine-tuned)
    old = [(r["width"], r["bits"]) for r in rows if r["config"].startswith("old")]
    assert old[:4] == [(4, 6), (4, 6), (4, 8), (4, 8)]
    assert {r["bits"] for r in rows if r["config"].startswith("default")} == {5, 6}
    assert "| old+steps=3+qat_steps=2 | 1 |" in out and "n/a" in out  # 100 bpp is outside every curve
    again = run_study("codec_sweep.py", "--images", image, "--configs", "old+steps=3+qat_steps=2", "--size", 32,
                      "--out", tmp_path / "out")  # already measured: nothing is refitted
    assert len((tmp_path / "out" / "rows.jsonl").read_text().splitlines()) == len(rows) and again


def test_minibatch_default_study(tmp_path):
    (tmp_path / "kodak").mkdir()
    write_png(tmp_path / "kodak" / "kodim01.png", smooth_rgb(64, 64))
    out = run_study("minibatch_default.py", "--data", tmp_path, "--images", "kodak/kodim01", "--size", 40,
                    "--batch-size", 512, "--epochs", 40, "--out", tmp_path / "rows.jsonl")
    assert "| kodak/kodim01 |" in out and "40 epochs" in out and "| mean |" in out
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [(row["batch_size"], row["steps"]) for row in rows] == [("full", 40), (512, 40 * 3)]  # ⌈1520 / 512⌉ = 3


def test_rule_search_study(tmp_path):
    (tmp_path / "div2k").mkdir()
    write_png(tmp_path / "div2k" / "00.png", smooth_rgb(64, 64))
    run_study("rule_search.py", "--stage", "choose", "--size", 32, "--candidates", "rule", "--steps", 2,
              "--data", tmp_path, "--out", tmp_path / "out")
    assert len((tmp_path / "out" / "rows.jsonl").read_text().splitlines()) == 2 * 6  # siren and the rule, 6 classes


def test_step_budget_study(tmp_path):
    run_study("step_budget.py", "--classes", "shapes", "--size", 32, "--steps", "2,3", "--out", tmp_path / "out")
    rows = [json.loads(line) for line in (tmp_path / "out" / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2  # siren and the rule at 2 and 3 steps


def test_select_validation_study(tmp_path):
    out = run_study("select_validation.py", "--classes", "shapes", "--size", 32, "--steps", 2, "--select-steps", 2,
                    "--candidates", "rule,h1024", "--out", tmp_path / "out")
    rows = [json.loads(line) for line in (tmp_path / "out" / "rows.jsonl").read_text().splitlines()]
    assert [row["method"] for row in rows] == ["siren", "rule", "select"]
    assert rows[2]["options"]["selected"] in ("rule", "h1024") and rows[2]["select_seconds"] > 0
    assert "| select | 1 |" in (tmp_path / "out" / "summary.md").read_text() and "shapes" in out
    fake = [{"class": "shapes", "method": m, "heldout_psnr": h, "gradient_psnr": 10.0} for m, h in
            (("siren", 20.0), ("rule", 19.0), ("h1024", 22.0))]
    (tmp_path / "candidates.jsonl").write_text("".join(json.dumps(row) + "\n" for row in fake))
    out = run_study("select_validation.py", "--out", tmp_path / "out", "--ties", "0.1,1000",
                    "--candidate-rows", tmp_path / "candidates.jsonl")
    assert "| 1000 | shapes: rule | -1.00 (0/1) |" in out  # no candidate beats the rule by 1000 dB


def test_denoise_noise_band_study(tmp_path):
    write_png(tmp_path / "a.png", smooth_rgb(48, 48))
    run_study("denoise_noise_band.py", "--images", tmp_path / "a.png", "--size", 32, "--width", 8, "--gains",
              "none,0.35", "--steps", 4, "--log-every", 2, "--out", tmp_path / "x.json")
    assert (tmp_path / "x.json").is_file()


def test_inverse_settings_study(tmp_path):
    write_png(tmp_path / "a.png", smooth_rgb(48, 48))
    out = run_study("inverse_settings.py", "--images", tmp_path / "a.png", "--size", 32, "--factors", 2,
                    "--settings", "siren", "--width", 8, "--steps", 3, "--out", tmp_path / "rows.jsonl")
    assert "| ×2 area | siren | 1 |" in out and "| ×2 point | siren | 1 |" in out and "− bicubic" in out
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert {row["observation"] for row in rows} == {"point", "area"} and all("bicubic" in row for row in rows)
    out = run_study("inverse_settings.py", "--images", tmp_path / "a.png", "--size", 32, "--task", "denoise",
                    "--stop-factors", "1,0.9", "--settings", "tuner", "--width", 8, "--steps", 3,
                    "--out", tmp_path / "denoise.jsonl")
    assert "| σ=0.1 stop 0.9 | tuner | 1 |" in out and "| σ=0.1 stop 1 | tuner | 1 |" in out and "− tv" in out


def test_denoise_ensemble_study(tmp_path):
    write_png(tmp_path / "a.png", smooth_rgb(40, 40))
    args = ["--images", tmp_path / "a.png", "--size", 32, "--settings", "tuner-l3", "--stop-factors", "1",
            "--width", 8, "--steps", 3, "--ks", "1,2", "--cache", tmp_path / "cache", "--out", tmp_path / "rows.jsonl"]
    out = run_study("denoise_ensemble.py", *args)
    assert "| 32 | 8 | tuner-l3 | 1 | 1 |" in out and "K=2" in out and "| tv |" in out
    row = json.loads((tmp_path / "rows.jsonl").read_text())
    assert len(row["members"]) == 2 and set(row["ens_psnr"]) == {"1", "2"} and "tv" in row
    assert row["ens_psnr"]["1"] == row["members"][0]["clean_psnr"]  # K = 1 is member 0's fit
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    run_study("denoise_ensemble.py", *args)  # a rerun skips the row
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 1
    out = run_study("denoise_ensemble.py", *args[:-6], "--width", 6, *args[-6:])  # another width is another row
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 2 and "| 32 | 6 | tuner-l3 |" in out


def test_bf16_matmul_study():
    assert "× float32" in run_study("bf16_matmul.py", "--samples", 256, "--width", 16, "--repeats", 1)


def test_allocator_api_study():
    assert "× CLI" in run_study("allocator_api.py", "--size", 128, "--steps", 1, "--rounds", 1)


def test_cluster_throughput_study(tmp_path):
    pytest.importorskip("ray")
    for index in range(2):
        write_png(tmp_path / f"kodim0{index + 1}.png", smooth_rgb(128, 128))
    out = run_study("cluster_throughput.py", "--data", tmp_path, "--images", 2, "--size", 128, "--steps", 1,
                    "--group", 1)
    assert "signals/min" in out


def test_fit_many_study(tmp_path):
    for index in range(2):
        write_png(tmp_path / f"kodim0{index + 1}.png", smooth_rgb(128, 128))
    out = run_study("fit_many.py", "--data", tmp_path, "--images", 2, "--size", 128, "--steps", 2, "--width", 64)
    assert "throughput ratio" in out


def test_fused_sine_study():
    assert run_study("fused_sine.py", "--size", 128, "--threads", 1, "--runs", 1, "--steps", 2)


@pytest.mark.parametrize("name", ["audio_variants.py", "band_rule.py", "memory_1024.py"])
def test_data_studies_parse_their_arguments(name):
    assert "usage" in run_study(name, "--help")
