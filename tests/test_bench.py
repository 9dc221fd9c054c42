"""Benchmark runner on a fake two-image Kodak folder (bench.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import smooth_rgb, write_png

import sinetune
from sinetune import SinetuneError, SirenOptions, TunerOptions
from sinetune.bench import PlainSineNetwork, interleaved_step_seconds, plain_stepper, run_benchmark
from sinetune.methods import get_method
from sinetune.signals import grid_coordinates

ROW_KEYS = {"image", "method", "train_psnr", "heldout_psnr", "full_psnr", "gradient_psnr", "gradient_psnr_paper",
            "ssim", "seconds_per_step_median", "diverged", "timed_seconds_per_step", "plain_seconds_per_step",
            "plain_ratio", "seconds_to_30db", "steps_run", "lr"}


@pytest.fixture
def kodak(tmp_path):
    folder = tmp_path / "kodak"
    folder.mkdir()
    write_png(folder / "kodim01.png", smooth_rgb(32, 32))
    write_png(folder / "kodim02.png", smooth_rgb(32, 32)[::-1].copy())
    return folder


@pytest.fixture(autouse=True)
def _no_default_dirs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the default bench-runs/ lands in tmp_path


def test_benchmark_rows_and_tables(kodak, tmp_path):
    out = tmp_path / "b"
    # 32² (16² holds only 12 TUNER frequencies below its band-limit, fewer than width 16)
    report = run_benchmark("kodak-256", data_dir=kodak, images=["01"], methods=["tuner", "siren"], steps=3,
                           size=32, width=16, out=out, device="cpu")
    assert report.out_dir == out
    data = json.loads((out / "results.json").read_text())
    rows = data["rows"]
    # provenance in the header: the version, and the commit when the package runs from a git checkout
    assert data["written_by"]["sinetune"] == sinetune.__version__
    commit = data["written_by"]["git_commit"]
    assert commit is None or (len(commit) == 40 and isinstance(data["written_by"]["git_dirty"], bool))
    assert len(rows) == 2 and [r["method"] for r in rows] == ["tuner", "siren"]
    assert {r["image"] for r in rows} == {"kodim01"}
    for row in rows:
        assert set(row) == ROW_KEYS
        for key in ("train_psnr", "heldout_psnr", "full_psnr", "gradient_psnr", "ssim"):
            assert math.isfinite(row[key]), key
        assert row["plain_ratio"] > 0 and row["plain_seconds_per_step"] > 0
        assert row["plain_ratio"] == pytest.approx(row["timed_seconds_per_step"] / row["plain_seconds_per_step"])
        assert row["diverged"] is False
    assert rows[0]["lr"] == 5e-4 and rows[1]["lr"] == 1e-4
    assert data["steps"] == 3 and data["size"] == 32 and data["width"] == 16 and data["device"] == "cpu"
    assert data["configs"]["tuner"]["input_width"] == 16 and data["configs"]["siren"]["hidden_layers"] == 1
    assert data["configs"]["tuner"]["band_limit"] == math.floor(0.2 * 2.1 * 31 / 4)  # resolved, recorded
    assert set(data["means"]) == {"tuner", "siren"}
    assert data["means"]["tuner"]["train_psnr"] == pytest.approx(rows[0]["train_psnr"])
    markdown = (out / "results.md").read_text()
    assert markdown.strip() == report.markdown.strip()
    lines = markdown.splitlines()
    assert lines[0].startswith("kodak-256: 3 steps, 32², width 16")
    assert sum(line.startswith("| kodim01 |") for line in lines) == 2
    assert "| **mean** | **tuner** |" in markdown and "| **mean** | **siren** |" in markdown
    tuner_mean = next(line for line in lines if "**tuner**" in line)
    assert f"{rows[0]['train_psnr']:.2f}" in tuner_mean
    # a second benchmark into the same folder refuses to overwrite the results
    with pytest.raises(SinetuneError, match="already exists"):
        run_benchmark("kodak-256", data_dir=kodak, images=["01"], methods=["tuner"], steps=1, size=32, width=16,
                      out=out, device="cpu")


def test_benchmark_means_over_images_and_overrides(kodak, tmp_path):
    report = run_benchmark("kodak-256", data_dir=kodak, images=None, methods=["tuner"], steps=2, size=32, width=16,
                           out=tmp_path / "m", device="cpu", overrides={"tuner": {"period": 4.0}})
    assert [r["image"] for r in report.rows] == ["kodim01", "kodim02"]
    mean = sum(r["heldout_psnr"] for r in report.rows) / 2
    assert report.means["tuner"]["heldout_psnr"] == pytest.approx(mean)
    data = json.loads((tmp_path / "m" / "results.json").read_text())
    assert data["configs"]["tuner"]["period"] == 4.0


def test_default_out_dir_is_fresh(kodak, tmp_path):
    first = run_benchmark("kodak-256", data_dir=kodak, images=["kodim02"], methods=["siren"], steps=1, size=16,
                          width=8, device="cpu")
    second = run_benchmark("kodak-256", data_dir=kodak, images=["kodim02"], methods=["siren"], steps=1, size=16,
                           width=8, device="cpu")
    assert first.out_dir.resolve() == tmp_path / "bench-runs" / "kodak-256"
    assert second.out_dir.resolve() == tmp_path / "bench-runs" / "kodak-256-2"
    assert (second.out_dir / "results.md").is_file()


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "kodak-512"}, "unknown benchmark 'kodak-512'"),
    ({"data_dir": "missing"}, "benchmark data not found"),
    ({"images": ["05"]}, "image '05' not found"),
    ({"methods": ["tuner", "nerf"]}, "unknown method 'nerf'"),
    ({"steps": 0}, "steps must be positive"),
    ({"images": []}, "no images given"),
    ({"overrides": {"siren": {"first_omgea": 3}}}, "first_omgea"),
    ({"overrides": {"siren": {"first_omega": "fast"}}}, "first_omega"),
])
def test_benchmark_errors(kodak, tmp_path, kwargs, message):
    args = {"name": "kodak-256", "data_dir": kodak, "images": ["01"], "methods": ["siren"], "steps": 1, "size": 16,
            "width": 8, "out": tmp_path / "e", "device": "cpu", **kwargs}
    if args["data_dir"] == "missing":
        args["data_dir"] = tmp_path / "missing"
    with pytest.raises(SinetuneError, match=message):
        run_benchmark(**args)
    assert not (tmp_path / "e" / "results.json").exists()


def test_benchmark_empty_data_dir(tmp_path):
    (tmp_path / "none").mkdir()
    with pytest.raises(SinetuneError, match="no .png images"):
        run_benchmark("kodak-256", data_dir=tmp_path / "none", steps=1)


@pytest.mark.parametrize("method, options", [("tuner", TunerOptions(input_width=16, hidden_width=16, hidden_layers=1,
                                                                    band_limit=4)),
                                             ("siren", SirenOptions(input_width=16, hidden_width=16))])
def test_plain_and_interleaved_step_timing(method, options):
    coords = grid_coordinates((16, 16))
    values = torch.rand(len(coords), 3, generator=torch.Generator().manual_seed(0))
    seconds = plain_stepper(method, options, coords, values, 1e-3, torch.device("cpu"))()
    assert isinstance(seconds, float) and 0 < seconds < 5
    ours, plain = interleaved_step_seconds(method, get_method(method).resolve(options, (16, 16)), (16, 16), coords,
                                           values, 1e-3, torch.device("cpu"), rounds=3, warmup=1)
    assert 0 < ours < 5 and 0 < plain < 5


def test_plain_network_shapes_and_frozen_first_layer():
    frozen = torch.randn(8, 2)
    network = PlainSineNetwork(2, 8, 6, 3, 1.0, 30.0, 1, frozen)
    assert not network.first.weight.requires_grad and torch.equal(network.first.weight, frozen)
    x = torch.rand(5, 2)
    expected = network.out(torch.sin(30.0 * network.hidden[0](torch.sin(network.first(x)))))
    torch.testing.assert_close(network(x), expected)
    trainable = sum(p.numel() for p in network.parameters() if p.requires_grad)
    assert trainable == 8 + (8 * 6 + 6) + (6 * 3 + 3)


def test_benchmark_without_holdout(kodak, tmp_path):
    report = run_benchmark("kodak-256", data_dir=kodak, images=["01"], methods=["siren"], steps=1, size=16, width=8,
                           out=tmp_path / "h", holdout=0.0, device="cpu")
    assert report.rows[0]["heldout_psnr"] is None
    assert math.isfinite(report.means["siren"]["train_psnr"])


def test_resume_skips_finished_rows_and_refuses_another_protocol(kodak, tmp_path):
    out = tmp_path / "r"
    common = dict(data_dir=kodak, methods=["siren"], size=32, width=8, out=out, device="cpu")
    first = run_benchmark("kodak-256", images=["01"], steps=2, **common)
    with pytest.raises(SinetuneError, match="already exists"):
        run_benchmark("kodak-256", images=["01", "02"], steps=2, **common)
    with pytest.raises(SinetuneError, match="different protocol"):
        run_benchmark("kodak-256", images=["01", "02"], steps=3, resume=True, **common)
    resumed = run_benchmark("kodak-256", images=["01", "02"], steps=2, resume=True, **common)
    assert [r["image"] for r in resumed.rows] == ["kodim01", "kodim02"]
    assert resumed.rows[0] == first.rows[0]  # the finished row was kept, not re-run
    assert json.loads((out / "results.json").read_text())["rows"] == resumed.rows


def test_means_cover_only_images_finished_by_every_method(kodak, tmp_path):
    out = tmp_path / "m"
    common = dict(data_dir=kodak, size=32, width=8, steps=2, out=out, device="cpu")
    run_benchmark("kodak-256", images=["01", "02"], methods=["siren"], **common)
    report = run_benchmark("kodak-256", images=["01"], methods=["tuner", "siren"], resume=True, **common)
    assert [(r["image"], r["method"]) for r in report.rows] == [("kodim01", "siren"), ("kodim02", "siren"),
                                                                 ("kodim01", "tuner")]
    siren_01 = report.rows[0]
    assert report.means["siren"]["train_psnr"] == pytest.approx(siren_01["train_psnr"])  # kodim02 left out
    assert "means over the 1 images" in (out / "results.md").read_text()


def test_methods_that_are_not_sine_mlps_get_no_plain_ratio(kodak, tmp_path):
    report = run_benchmark("kodak-256", data_dir=kodak, images=["01"], methods=["ffn", "ssn"], steps=2, size=32,
                           width=16, out=tmp_path / "peers", device="cpu")
    ffn, ssn = report.rows
    assert ffn["plain_ratio"] is None and ffn["plain_seconds_per_step"] is None
    assert ssn["plain_ratio"] > 0  # SSN is a plain sine MLP
    ffn_line = report.markdown.splitlines()[4]
    assert ffn_line.startswith("| kodim01 | ffn |") and ffn_line.endswith("| – | – | 2 |")  # × plain, s to 30 dB, steps


def test_stop_psnr_ends_each_fit_at_the_target_and_is_part_of_the_protocol(kodak, tmp_path):
    out = tmp_path / "b"
    common = dict(data_dir=kodak, images=["01"], methods=["tuner"], steps=40, size=32, width=16, device="cpu")
    report = run_benchmark("kodak-256", out=out, stop_psnr=1.0, **common)  # any fit beats 1 dB at its first log
    (row,) = report.rows
    assert row["steps_run"] == 10 and row["seconds_to_30db"] is None
    data = json.loads((out / "results.json").read_text())
    assert data["stop_psnr"] == 1.0 and "stopping at 1 dB held-out" in report.markdown.splitlines()[0]
    full = run_benchmark("kodak-256", out=tmp_path / "full", **common)
    assert full.rows[0]["steps_run"] == 40
    with pytest.raises(SinetuneError, match="different protocol"):
        run_benchmark("kodak-256", out=out, resume=True, **common)


def test_seconds_to_psnr_is_the_first_logged_step_at_the_target():
    from sinetune.bench.kodak import seconds_to_psnr

    history = [{"heldout_psnr": 25.0, "elapsed_s": 1.0}, {"heldout_psnr": 30.2, "elapsed_s": 2.0},
               {"heldout_psnr": 29.0, "elapsed_s": 3.0}, {"heldout_psnr": 31.0, "elapsed_s": 4.0}]
    assert seconds_to_psnr(history, 30.0) == 2.0
    assert seconds_to_psnr(history, 32.0) is None
    assert seconds_to_psnr([{"heldout_psnr": float("nan"), "elapsed_s": 1.0}], 30.0) is None


def test_ttq_runs_every_lever_after_the_full_batch_and_reports_ratios(kodak, tmp_path, capsys):
    from conftest import run_cli

    code, out, err = run_cli(capsys, "bench", "ttq", "--data", kodak, "--images", "01", "--methods", "tuner",
                             "--levers", "solved head,lr ×2", "--steps", 20, "--stop-psnr", 12, "--size", 32,
                             "--width", 8, "--device", "cpu", "--out", tmp_path / "ttq")
    assert code == 0, err
    rows = json.loads((tmp_path / "ttq" / "results.json").read_text())["rows"]
    assert [row["lever"] for row in rows] == ["full batch", "solved head", "lr ×2"]
    default = rows[0]
    assert default["ratio"] == 1.0 or default["seconds_to_target"] is None
    for row in rows[1:]:
        if row["seconds_to_target"] and default["seconds_to_target"]:
            assert row["ratio"] == pytest.approx(row["seconds_to_target"] / default["seconds_to_target"])
    assert "tuner: solved head" in out
    code, _, err = run_cli(capsys, "bench", "ttq", "--data", kodak, "--levers", "magic", "--out", tmp_path / "x")
    assert code == 2 and "unknown lever" in err


def test_the_data_folder_comes_from_data_or_the_environment(tmp_path, monkeypatch):
    from sinetune.bench.data import benchmark_data

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(SinetuneError, match="sinetune does not ship and .*xdg/sinetune/kodak \\(the data cache; set "
                                            "SINETUNE_DATA to move it\\) does not hold: run `sinetune data fetch "
                                            "kodak` or pass --data DIR"):
        benchmark_data(None, "kodak", "kodak-256", "kodimNN.png")
    (tmp_path / "xdg" / "sinetune" / "kodak").mkdir(parents=True)  # what `sinetune data fetch kodak` makes
    assert benchmark_data(None, "kodak", "kodak-256", "x") == tmp_path / "xdg" / "sinetune" / "kodak"
    (tmp_path / "kodak").mkdir()
    assert benchmark_data(tmp_path / "kodak", "kodak", "kodak-256", "x") == tmp_path / "kodak"
    monkeypatch.setenv("SINETUNE_DATA", str(tmp_path))
    assert benchmark_data(None, "kodak", "kodak-256", "x") == tmp_path / "kodak"
    with pytest.raises(SinetuneError, match=r"audio \(from SINETUNE_DATA\) does not hold: run `sinetune data "
                                            r"fetch audio` or pass --data DIR"):
        benchmark_data(None, "audio", "audio", "clips")


def test_image_folder_without_kodak_names_is_found_by_number(tmp_path):
    from sinetune.bench.kodak import _find_images

    folder = tmp_path / "div2k"
    folder.mkdir()
    for name in ("00", "01", "02"):
        write_png(folder / f"{name}.png", smooth_rgb(8, 8))
    assert [p.name for p in _find_images(folder, ["1", "02"])] == ["01.png", "02.png"]
    assert len(_find_images(folder, None)) == 3
    with pytest.raises(SinetuneError, match="not found"):
        _find_images(folder, ["7"])
