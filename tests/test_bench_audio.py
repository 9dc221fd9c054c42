"""``sinetune bench audio`` (bench/audio.py) on a folder of tiny synthetic clips, and the 1-D plain reference."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest
import soundfile
import torch
from conftest import assert_one_line_error, run_cli

from sinetune import SinetuneError, TunerOptions
from sinetune.bench import RUNNERS, PlainSineNetwork, interleaved_step_seconds, plain_stepper, run_benchmark
from sinetune.bench.audio import CLIPS, METHODS, run_audio
from sinetune.bench.kodak import run_kodak
from sinetune.bench.report import BenchReport
from sinetune.methods import Siren2Options, get_method
from sinetune.methods.siren2 import prepare
from sinetune.signals import grid_coordinates

ROW_KEYS = {"clip", "method", "samples", "sample_rate", "parameters", "psnr", "best_logged_psnr", "psnr_siren2",
            "snr", "lsd",
            "seconds_per_step_median", "diverged", "timed_seconds_per_step", "plain_seconds_per_step",
            "plain_ratio", "lr"}
TINY = dict(width=16, steps=2, seconds=0.05, device="cpu")
#: A 4-sine-layer MLP of width 16 on 1-D input: Linear(1,16), 3 × Linear(16,16), Linear(16,1).
TINY_PARAMETERS = (16 + 16) + 3 * (16 * 16 + 16) + (16 + 1)


def write_clip(path, rate: int, seconds: float, frequencies: tuple[float, ...], channels: int = 1):
    """A sum of sines (peak below 1) as a float WAV of ``round(seconds · rate)`` frames."""
    t = np.arange(round(seconds * rate)) / rate
    mono = sum(0.3 / (i + 1) * np.sin(2 * np.pi * f * t + i) for i, f in enumerate(frequencies))
    soundfile.write(path, np.repeat(mono[:, None], channels, axis=1), rate, subtype="FLOAT")
    return path


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    write_clip(folder / "bach.wav", 8000, 0.1, (440.0, 1234.0, 2500.0))
    write_clip(folder / "speech.wav", 6000, 0.1, (200.0, 900.0), channels=2)
    return folder


@pytest.fixture(autouse=True)
def _no_default_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv("SINETUNE_MALLOC", "system")
    monkeypatch.chdir(tmp_path)  # the default bench-runs/ lands in tmp_path


def test_every_method_on_one_clip(clips, tmp_path):
    out = tmp_path / "a"
    report = run_benchmark("audio", data_dir=clips, clips=["bach"], out=out, **TINY)
    data = json.loads((out / "results.json").read_text())
    rows = data["rows"]
    assert [(r["clip"], r["method"]) for r in rows] == [("bach", m) for m in METHODS]
    assert list(METHODS) == ["siren", "siren2", "tuner", "finer", "ssn"]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["samples"] == 400 and row["sample_rate"] == 8000  # the first 0.05 s at 8 kHz
        for key in ("psnr", "psnr_siren2", "snr", "lsd", "seconds_per_step_median"):
            assert math.isfinite(row[key]), (row["method"], key)
        assert row["psnr"] - row["psnr_siren2"] == pytest.approx(20 * math.log10(2))
        assert math.isfinite(row["best_logged_psnr"])
        assert row["diverged"] is False
        assert row["lr"] == get_method(row["method"]).default_lr
        if row["method"] == "finer":  # not a plain sine MLP: no reference to time against
            assert row["plain_ratio"] is None and row["plain_seconds_per_step"] is None
        else:
            assert row["plain_ratio"] == pytest.approx(row["timed_seconds_per_step"] / row["plain_seconds_per_step"])
    by_method = {r["method"]: r for r in rows}
    for method in ("siren", "siren2", "finer", "ssn"):  # 4 sine layers of width 16, linear head
        assert by_method[method]["parameters"] == TINY_PARAMETERS, method
    assert by_method["tuner"]["parameters"] == TINY_PARAMETERS - 16  # frozen input frequencies: phases only
    # the protocol header
    for key, value in {"benchmark": "audio", "steps": 2, "seconds": 0.05, "width": 16, "hidden_layers": 3,
                       "holdout": 0.0, "seed": 0, "device": "cpu", "overrides": {}, "clips_complete": 1}.items():
        assert data[key] == value, key
    assert data["protocol_options"] == {"siren": {"first_omega": 3000.0}}
    configs = data["configs"]["bach"]
    assert set(configs) == set(METHODS)
    assert configs["siren"]["first_omega"] == 3000.0 and configs["siren"]["hidden_omega"] == 30.0
    assert configs["siren2"]["first_omega"] == 30.0 and configs["siren2"]["s0"] > 0  # SIREN²'s own defaults
    assert all(c["hidden_layers"] == 3 and c["input_width"] == c["hidden_width"] == 16 for c in configs.values())
    assert configs["tuner"]["band_limit"] == math.floor(0.2 * 2.1 * 399 / 4)  # TUNER-1D, from the 400 samples
    assert configs["ssn"]["omega"] == pytest.approx(0.021621 * math.pi * 399 / 2 / math.sqrt(2), rel=1e-5)
    # one clip: each mean is that clip's value
    for method, row in by_method.items():
        for key in ("psnr", "psnr_siren2", "snr", "lsd", "seconds_per_step_median"):
            assert report.means[method][key] == pytest.approx(row[key])
    markdown = (out / "results.md").read_text()
    assert markdown.strip() == report.markdown.strip()
    title = markdown.splitlines()[0]
    assert title.startswith("audio: 2 steps, first 0.05 s of each clip, width 16, 4 sine layers, full batch, "
                            "no held-out samples, siren first_omega 3000, device cpu, torch ")
    assert title.endswith("threads; means over the 1 clips finished by every method")
    assert "| clip | method | PSNR | best logged | PSNR (SIREN²) | SNR | LSD | s/step | × plain |" in markdown
    assert "| **mean** | **ssn** |" in markdown


def test_best_logged_psnr_is_on_the_rows_psnr_scale(clips, tmp_path):
    """Two steps log once, at step 2, the loss of the weights after step 1: exactly what a one-step
    fit's final PSNR scores (same seed, full batch, nothing held out)."""
    common = dict(data_dir=clips, clips=["bach"], methods=["siren", "tuner"], width=16, seconds=0.05, device="cpu")
    two = run_benchmark("audio", steps=2, out=tmp_path / "two", **common).rows
    one = run_benchmark("audio", steps=1, out=tmp_path / "one", **common).rows
    for logged, final in zip(two, one):
        assert logged["best_logged_psnr"] == pytest.approx(final["psnr"], abs=1e-3), logged["method"]


def test_seconds_crop_per_clip_rate_and_means_over_clips(clips, tmp_path):
    report = run_audio(data_dir=clips, clips=["speech", "bach.wav"], methods=["siren"], out=tmp_path / "s",
                       **{**TINY, "seconds": 0.04})
    assert [(r["clip"], r["samples"], r["sample_rate"]) for r in report.rows] == [("speech", 240, 6000),
                                                                                    ("bach", 320, 8000)]
    assert report.means["siren"]["snr"] == pytest.approx((report.rows[0]["snr"] + report.rows[1]["snr"]) / 2)
    # a crop longer than the clip keeps the whole clip (0.1 s) and records it
    longer = run_audio(data_dir=clips, clips=["bach"], methods=["siren"], out=tmp_path / "l", **{**TINY, "seconds": 5})
    assert longer.rows[0]["samples"] == 800


def test_overrides_win_over_the_protocol(clips, tmp_path):
    out = tmp_path / "o"
    report = run_audio(data_dir=clips, clips=["bach"], methods=["siren", "tuner"], out=out,
                       overrides={"siren": {"first_omega": 1500}, "tuner": {"period": 4, "hidden_layers": 1}}, **TINY)
    data = json.loads((out / "results.json").read_text())
    assert data["configs"]["bach"]["siren"]["first_omega"] == 1500.0
    assert data["configs"]["bach"]["tuner"]["period"] == 4.0 and data["configs"]["bach"]["tuner"]["hidden_layers"] == 1
    assert data["overrides"] == {"siren": {"first_omega": 1500}, "tuner": {"period": 4, "hidden_layers": 1}}
    assert "siren first_omega 1500," in report.markdown.splitlines()[0]


def test_default_out_dir_and_default_clips(clips, tmp_path):
    for name in CLIPS:  # the protocol's four clips, all required when no subset is given
        if not (clips / f"{name}.wav").exists():
            write_clip(clips / f"{name}.wav", 4000, 0.06, (300.0,))
    first = run_audio(data_dir=clips, methods=["siren"], **TINY)
    second = run_audio(data_dir=clips, clips=["trumpet"], methods=["siren"], **TINY)
    assert [r["clip"] for r in first.rows] == list(CLIPS)
    assert first.out_dir.resolve() == tmp_path / "bench-runs" / "audio"
    assert second.out_dir.resolve() == tmp_path / "bench-runs" / "audio-2"


def test_resume_skips_finished_rows_and_refuses_another_protocol(clips, tmp_path):
    out = tmp_path / "r"
    common = dict(data_dir=clips, methods=["siren"], out=out, width=16, seconds=0.05, device="cpu")
    first = run_audio(clips=["bach"], steps=2, **common)
    with pytest.raises(SinetuneError, match="already exists"):
        run_audio(clips=["bach", "speech"], steps=2, **common)
    for change in ({"steps": 3}, {"seconds": 0.04}, {"overrides": {"siren": {"first_omega": 100.0}}}):
        with pytest.raises(SinetuneError, match="different protocol"):
            run_audio(clips=["bach", "speech"], resume=True, **{"steps": 2, **common, **change})
    resumed = run_audio(clips=["bach", "speech"], steps=2, resume=True, **common)
    assert [r["clip"] for r in resumed.rows] == ["bach", "speech"]
    assert resumed.rows[0] == first.rows[0]  # the finished row was kept, not re-run
    data = json.loads((out / "results.json").read_text())
    assert data["rows"] == resumed.rows and set(data["configs"]) == {"bach", "speech"}


@pytest.mark.parametrize("kwargs, message", [
    ({"data_dir": "missing"}, "benchmark data not found at .*missing; pass --data DIR"),
    ({"clips": ["bach", "violin"]}, r"clip 'violin' not found in .* \(clips there: bach, speech\)"),
    ({"clips": []}, "no clips given"),
    ({"seconds": 0}, "seconds must be a positive number, got 0"),
    ({"seconds": -1.0}, "seconds must be a positive number"),
    ({"seconds": float("nan")}, "seconds must be a positive number"),
    ({"steps": 0}, "steps must be positive"),
    ({"methods": ["siren", "nerf"]}, "unknown method 'nerf'"),
    ({"methods": []}, "no methods given"),
    ({"overrides": {"tunr": {"period": 4}}}, "overrides for 'tunr', which is not among the methods"),
    ({"overrides": {"siren": {"first_omgea": 3}}}, r"unknown key\(s\) in 'options': first_omgea"),
    ({"overrides": {"siren": {"first_omega": "high"}}}, "wrong type for 'options.first_omega'"),
    ({"images": ["01"]}, "benchmark 'audio' takes no option 'images'"),
])
def test_errors_are_one_line_and_write_nothing(clips, tmp_path, kwargs, message):
    args = {"data_dir": clips, "clips": ["bach"], "methods": ["siren"], "out": tmp_path / "e", **TINY, **kwargs}
    if args["data_dir"] == "missing":
        args["data_dir"] = tmp_path / "missing"
    with pytest.raises(SinetuneError, match=message) as error:
        run_benchmark("audio", **args)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "e" / "results.json").exists()


def test_cli_bench_audio(clips, tmp_path, capsys):
    out = tmp_path / "cli"
    code, stdout, _ = run_cli(capsys, "bench", "audio", "--data", clips, "--clips", "bach,speech", "--seconds", 0.05,
                              "--methods", "siren,tuner", "--steps", 2, "--device", "cpu", "--out", out,
                              "--set", "tuner.input_width=16")  # 400 samples hold 41 TUNER frequencies, not 222
    assert code == 0
    data = json.loads((out / "results.json").read_text())
    assert [(r["clip"], r["method"]) for r in data["rows"]] == [("bach", "siren"), ("bach", "tuner"),
                                                                ("speech", "siren"), ("speech", "tuner")]
    assert data["steps"] == 2 and data["seconds"] == 0.05 and data["width"] == 222
    assert data["configs"]["bach"]["siren"]["hidden_width"] == 222
    assert data["configs"]["bach"]["tuner"]["input_width"] == 16
    assert data["overrides"] == {"tuner": {"input_width": 16}}
    assert stdout.startswith("audio: 2 steps, first 0.05 s of each clip, width 222, 4 sine layers")
    assert f"results: {out}" in stdout


def test_cli_leaves_out_flags_not_given(monkeypatch, tmp_path, capsys):
    """Without --methods/--steps each benchmark keeps its own defaults (kodak-256: tuner,siren × 300)."""
    calls = []

    def fake_kodak(data_dir=None, images=None, methods=("tuner", "siren"), steps=None, device="auto", out=None,
                   overrides=None, progress=False, resume=False):
        calls.append(dict(locals()))
        return BenchReport(markdown="table", out_dir=tmp_path)

    monkeypatch.setitem(RUNNERS, "kodak-256", fake_kodak)
    assert run_cli(capsys, "bench", "kodak-256", "--images", "03,19")[0] == 0
    assert calls[-1]["images"] == ["03", "19"] and calls[-1]["methods"] == ("tuner", "siren")
    assert calls[-1]["steps"] is None  # the fit's derived steps (sinetune.batching)
    assert run_cli(capsys, "bench", "kodak-256", "--methods", "siren", "--steps", 7)[0] == 0
    assert calls[-1]["methods"] == ["siren"] and calls[-1]["steps"] == 7 and calls[-1]["images"] is None
    defaults = {k: p.default for k, p in inspect.signature(run_kodak).parameters.items()}
    assert tuple(defaults["methods"]) == ("tuner", "siren") and defaults["steps"] is None
    defaults = {k: p.default for k, p in inspect.signature(run_audio).parameters.items()}
    assert tuple(defaults["methods"]) == METHODS and defaults["steps"] == 500 and defaults["seconds"] == 1.0
    assert defaults["width"] == 222 and defaults["hidden_layers"] == 3 and defaults["seed"] == 0


@pytest.mark.parametrize("args, fragments", [
    (["bench", "audio", "--images", "01"], ["--images does not apply to bench audio"]),
    (["bench", "kodak-256", "--clips", "bach"], ["--clips does not apply to bench kodak-256"]),
    (["bench", "kodak-256", "--seconds", "1"], ["--seconds does not apply to bench kodak-256"]),
    (["bench", "audio"], ["bench audio needs its data", "--data DIR", "SINETUNE_DATA"]),
    (["bench", "audio", "--data", "nowhere"], ["benchmark data not found at nowhere; pass --data DIR"]),
    (["bench", "audio", "--data", "CLIPS", "--clips", "violin"], ["clip 'violin' not found"]),
    (["bench", "audio", "--data", "CLIPS", "--seconds", "0"], ["seconds must be a positive number"]),
    (["bench", "audio", "--data", "CLIPS", "--seconds", "long"], ["invalid float value"]),
    (["bench", "audio", "--data", "CLIPS", "--steps", "0"], ["steps must be positive"]),
    (["bench", "audio", "--data", "CLIPS", "--clips", "bach", "--set", "siren.nope=1"], ["unknown key", "nope"]),
])
def test_cli_bench_audio_errors(clips, tmp_path, capsys, args, fragments):
    argv = [str(clips) if a == "CLIPS" else a for a in args]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "e")
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "e" / "results.json").exists()


# The plain reference in 1-D with 3 hidden layers (the audio protocol's network).

def test_plain_network_has_the_siren2_audio_shape():
    network = PlainSineNetwork(1, 222, 222, 1, 3000.0, 30.0, 3, None)
    assert [tuple(layer.weight.shape) for layer in (network.first, *network.hidden, network.out)] == \
        [(222, 1), (222, 222), (222, 222), (222, 222), (1, 222)]
    assert sum(p.numel() for p in network.parameters()) == 149_185  # peers-spec §2: ≈ 149,185


def _closure(step) -> dict:
    return dict(zip(step.__code__.co_freevars, (cell.cell_contents for cell in step.__closure__)))


@pytest.mark.parametrize("bound_mode, deep_bound, clamped", [("clamp", 0.5, True), ("clamp", None, False),
                                                             ("none", 0.5, False)])
def test_plain_tuner_clamps_every_bounded_hidden_layer(bound_mode, deep_bound, clamped):
    options = get_method("tuner").resolve(TunerOptions(input_width=8, hidden_width=8, hidden_layers=3,
                                                       bound_mode=bound_mode, deep_bound=deep_bound), (256,))
    coords = grid_coordinates((256,))
    values = torch.sin(20 * coords)
    step = plain_stepper("tuner", options, coords, values, 1.0, torch.device("cpu"))  # lr 1: far past any bound
    step()
    network = _closure(step)["network"]
    assert network.first.weight.shape == (8, 1) and not network.first.weight.requires_grad
    limits = [w.abs().max().item() * 30.0 for w in (layer.weight for layer in network.hidden)]
    assert (limits[0] <= 0.4 + 1e-6) == (bound_mode == "clamp")
    assert all((limit <= 0.5 + 1e-6) == clamped for limit in limits[1:])


def test_interleaved_timing_in_one_dimension():
    coords = grid_coordinates((128,))
    values = torch.sin(40 * coords)
    options = prepare(Siren2Options(input_width=16, hidden_width=16, hidden_layers=3), values.numpy())
    options = get_method("siren2").resolve(options, (128,))
    ours, plain = interleaved_step_seconds("siren2", options, (128,), coords, values, 1e-4, torch.device("cpu"),
                                           rounds=3, warmup=1)
    assert 0 < ours < 5 and 0 < plain < 5
