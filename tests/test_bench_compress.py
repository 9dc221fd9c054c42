"""``sinetune bench compress``: the classic codecs' points, the sweep's files, the curve comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import smooth_rgb, write_png

from sinetune.bench import compress as bench
from sinetune.bench import run_benchmark
from sinetune.errors import SinetuneError
from sinetune.signals import load_image


@pytest.mark.parametrize("codec", ["jpeg", "webp", "jpeg2000", "avif"])
def test_classic_points_rise_with_quality(tmp_path, codec):
    pytest.importorskip("imagecodecs")
    signal = load_image(write_png(tmp_path / "a.png", smooth_rgb(48, 64)))
    low, high = bench.QUALITIES[codec][1], bench.QUALITIES[codec][-1]
    rows = bench.classic_points(signal, codec, (low, high))
    assert [row["setting"] for row in rows] == [f"q{low}", f"q{high}"]
    assert rows[0]["bpp"] < rows[1]["bpp"] and rows[0]["psnr"] < rows[1]["psnr"]
    assert rows[1]["bpp"] == 8 * rows[1]["bytes"] / (48 * 64)


def test_curves_keep_the_envelope_and_find_the_crossing():
    means = {"jpeg q5": {"bpp": 0.2, "psnr": 20.0, "ssim": 0.5}, "jpeg q50": {"bpp": 1.0, "psnr": 30.0, "ssim": 0.9},
             "tuner w8 b6 qat": {"bpp": 0.2, "psnr": 24.0, "ssim": 0.6},
             "tuner w8 b6": {"bpp": 0.2, "psnr": 99.0, "ssim": 0.6},  # not fine-tuned: left out
             "tuner w9 b8 qat": {"bpp": 0.3, "psnr": 23.0, "ssim": 0.6},  # below the envelope: left out
             "tuner w16 b6 qat": {"bpp": 1.0, "psnr": 26.0, "ssim": 0.8}}
    curves = bench.mean_curves(means)
    assert [point[:3] for point in curves["tuner"]] == [(0.2, 24.0, 0.6), (1.0, 26.0, 0.8)]
    (line,) = bench.summary(curves)
    # tuner − jpeg goes from +4 dB at 0.2 bpp to −4 dB at 1 bpp: they cross half-way
    crossing = float(line.split("crosses JPEG at ")[1].split(" bpp")[0])
    assert crossing == pytest.approx(0.6, abs=0.01)
    assert "+4.00 dB" in line
    assert "over 0.200–0.300 bpp (both curves, ≤ 0.3): +3.00 to +4.00 dB" in line


def test_the_low_rate_gap_uses_the_rates_both_curves_cover():
    # no sinetune point lies inside JPEG's range below 0.3 bpp, but the curves overlap on 0.25–0.3
    curves = {"jpeg": [(0.25, 20.0, 0.5, 0.7), (0.45, 25.0, 0.7, 0.9)],
              "tuner": [(0.12, 20.0, 0.5, 0.7), (0.35, 24.0, 0.6, 0.85)]}
    (line,) = bench.summary(curves)
    assert "n/a (JPEG cannot go this low)" in line
    # at 0.25: tuner 20 + 4·0.13/0.23 = 22.26 vs 20 → +2.26; at 0.3: 23.13 vs 21.25 → +1.88
    gaps = line.split("(both curves, ≤ 0.3): ")[1].split(" dB")[0]
    low, high = (float(value) for value in gaps.split(" to "))
    assert low == pytest.approx(1.88, abs=0.01) and high == pytest.approx(2.26, abs=0.01)
    assert "both curves" not in bench.summary({"jpeg": curves["jpeg"], "tuner": [(0.1, 1, 1, 1), (0.2, 2, 2, 2)]})[0]


def test_the_sweep_writes_its_table_and_plot(tmp_path, monkeypatch):
    pytest.importorskip("imagecodecs")
    kodak, div2k = tmp_path / "kodak", tmp_path / "div2k"
    kodak.mkdir(), div2k.mkdir()
    write_png(kodak / "kodim01.png", smooth_rgb(32, 32))
    write_png(div2k / "00.png", np.ascontiguousarray(smooth_rgb(32, 32)[::-1]))
    monkeypatch.setattr(bench, "WIDTHS", {"tuner": (8,), "siren": (8,)})
    monkeypatch.setattr(bench, "QUALITIES", {"jpeg": (10, 90), "webp": (10, 90), "jpeg2000": (25, 40),
                                             "avif": (10, 90)})
    report = run_benchmark("compress", data_dir=kodak, images=["01"], steps=3, qat_steps=2, size=32,
                           out=tmp_path / "out", device="cpu")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {row["image"] for row in results["rows"]} == {"kodim01", "div2k-00"}
    assert {row["codec"] for row in results["rows"]} == {"jpeg", "webp", "jpeg2000", "avif", "tuner", "siren"}
    assert set(results["curves"]) == {"jpeg", "webp", "jpeg2000", "avif", "tuner", "siren"}
    assert results["lr"] == {"tuner": 2e-3, "siren": None}  # the learning rates the fits used (None: SIREN's own)
    assert all("ms_ssim" in row for row in results["rows"])  # None here: 32² is under MS-SSIM's 161 pixels
    assert {row["ms_ssim"] for row in results["rows"]} == {None}
    assert (tmp_path / "out" / "rd.png").stat().st_size > 1000
    assert "crosses JPEG" in report.markdown and results["written_by"]["git_commit"]
    with pytest.raises(SinetuneError, match="already exists"):
        run_benchmark("compress", data_dir=kodak, images=["01"], out=tmp_path / "out")
    with pytest.raises(SinetuneError, match="sweeps"):
        run_benchmark("compress", data_dir=kodak, methods=["ffn"], out=tmp_path / "other")


def test_widths_replace_the_sweep_and_scale_with_size(tmp_path, monkeypatch):
    pytest.importorskip("imagecodecs")
    (tmp_path / "kodak").mkdir()
    write_png(tmp_path / "kodak" / "kodim01.png", smooth_rgb(32, 32))
    monkeypatch.setattr(bench, "QUALITIES", {"jpeg": (10,), "webp": (10,), "jpeg2000": (25,), "avif": (10,)})
    run_benchmark("compress", data_dir=tmp_path / "kodak", images=["01"], div2k=[], methods=["tuner"], steps=2,
                  qat_steps=0, size=32, widths={"tuner": (32, 64)}, out=tmp_path / "out", device="cpu")
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["widths"] == {"tuner": [4, 8]}  # 32 and 64 at 256², × 32/256
    assert {row["setting"].split()[0] for row in results["rows"] if row["codec"] == "tuner"} == {"w4", "w8"}
    for bad in ({"ffn": (8,)}, {"tuner": ()}, {"tuner": (0,)}):
        with pytest.raises(SinetuneError, match="widths"):
            run_benchmark("compress", data_dir=tmp_path / "kodak", widths=bad, out=tmp_path / "bad")
