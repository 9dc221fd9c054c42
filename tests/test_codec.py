"""The codec: compress to a target, decompress to what compress measured, one-line errors (library and CLI)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sinetune.codec import CodecOptions, compress, decompress, rate_distortion
from sinetune.errors import SinetuneError
from sinetune.metrics import psnr
from sinetune.signals import load_image

FAST = CodecOptions(widths=(6, 10), bits=(6, 8), steps=40, qat_steps=10)


def _psnr_of_file(decoded_png: Path, original: Path) -> float:
    decoded = np.asarray(Image.open(decoded_png), dtype=np.float32) / 255
    return psnr(decoded, load_image(original).values)


def test_bpp_target_round_trip(tmp_path, rgb_image):
    result = compress(rgb_image, tmp_path / "a.stn", bpp=6.0, options=FAST)
    assert result.bpp <= 6.0 and result.path.stat().st_size == result.chosen.bytes
    assert result.bpp == 8 * result.path.stat().st_size / (32 * 32)
    fitting = [c for c in result.candidates if c.bpp <= 6.0 and not c.finetuned]
    assert result.psnr >= max(c.psnr for c in fitting)  # the best within the budget (or its fine-tuned self)
    decoded = decompress(result.path, out=tmp_path / "a.png")
    assert decoded.shape == (32, 32, 3) and decoded.dtype == np.uint8
    assert np.array_equal(decoded, result.decoded)
    assert _psnr_of_file(tmp_path / "a.png", rgb_image) == result.psnr  # exactly what compress reported
    assert decompress(result.path, size=16).shape == (16, 16, 3)
    with pytest.raises(SinetuneError, match="already exists"):
        decompress(result.path, out=tmp_path / "a.png")


def test_psnr_target_keeps_the_smallest_reaching_it(rgb_image):
    result = compress(rgb_image, psnr=10.0, options=CodecOptions(widths=(4, 8, 12), bits=(6,), steps=40, qat_steps=0))
    assert result.path is None and result.psnr >= 10.0
    reaching = [c for c in result.candidates if c.psnr >= 10.0]
    assert result.chosen.bytes == min(c.bytes for c in reaching)


@pytest.mark.parametrize("method", ["tuner", "siren"])
def test_rate_distortion_points(rgb_image, method):
    points = rate_distortion(rgb_image, (6,), method=method, options=CodecOptions(bits=(4, 8), steps=30, qat_steps=10))
    assert [(p.bits, p.finetuned) for p in points] == [(4, False), (4, True), (8, False), (8, True)]
    assert points[0].bytes < points[2].bytes  # fewer bits, fewer bytes
    assert all(p.encode_seconds > 0 and p.decode_seconds > 0 for p in points)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one target"),
    ({"bpp": 1.0, "psnr": 30.0}, "exactly one target"),
    ({"bpp": -1.0}, "positive number"),
    ({"bpp": 1.0, "method": "ffn"}, "tuner or siren"),
    ({"bpp": 1.0, "options": CodecOptions(bits=(1,))}, "bits must be"),
    ({"bpp": 0.01, "options": CodecOptions(widths=(8,), steps=5, qat_steps=0)}, "no tuner network fits"),
    ({"bpp": 1.0, "options": CodecOptions(batch_size=0)}, "batch_size must be"),
    ({"bpp": 1.0, "options": CodecOptions(lr=-1e-3)}, "lr must be"),
    ({"bpp": 1.0, "options": CodecOptions(lr_schedule="step")}, "lr_schedule must be"),
    ({"bpp": 1.0, "options": CodecOptions(input_ratio=0.0)}, "input_ratio must be"),
    ({"bpp": 1.0, "options": CodecOptions(qat_lr=0.0)}, "qat_lr must be"),
])
def test_bad_requests_are_one_line_errors(rgb_image, kwargs, message):
    with pytest.raises(SinetuneError, match=message):
        compress(rgb_image, **kwargs)


def test_the_fits_follow_the_options(generator):
    from sinetune.codec_search import CandidateSearch
    from sinetune.progress import as_progress
    from sinetune.signals import Signal

    signal = Signal(np.random.default_rng(0).random((64, 64, 3)).astype(np.float32), name="noise")
    options = CodecOptions(steps=7, batch_size=512, lr=3e-3, lr_schedule="cosine", input_ratio=2.0)
    search = CandidateSearch(signal, "tuner", options, "cpu", as_progress(False))
    config = search.config(8)
    assert (config.options.input_width, config.options.hidden_width) == (16, 8)
    assert (config.train.steps, config.train.batch_size, config.train.lr, config.train.lr_schedule) == (
        7, 512, 3e-3, "cosine")
    # the input frequencies cost a column of the hidden matrix each: twice the inputs, about twice the weights
    narrow = CandidateSearch(signal, "tuner", CodecOptions(), "cpu", as_progress(False)).parameters(8)
    assert search.parameters(8) - narrow == 8 * 8 + 8  # 8 more columns of 8 weights and 8 more phases
    siren = CandidateSearch(signal, "siren", options, "cpu", as_progress(False)).config(8)
    assert siren.options.input_width == siren.options.hidden_width == 8  # SIREN ignores input_ratio
    # by default TUNER's fits take the codec's learning rate, SIREN's keep the method's own
    from sinetune.codec_search import CODEC_LR
    from sinetune.methods import get_method

    tuner = CandidateSearch(signal, "tuner", CodecOptions(), "cpu", as_progress(False)).config(8)
    assert tuner.train.lr == CODEC_LR["tuner"] != get_method("tuner").default_lr
    assert CandidateSearch(signal, "siren", CodecOptions(), "cpu", as_progress(False)).config(8).train.lr is None


def test_never_overwrites(tmp_path, rgb_image):
    existing = tmp_path / "a.stn"
    existing.write_bytes(b"mine")
    with pytest.raises(SinetuneError, match="already exists"):
        compress(rgb_image, existing, bpp=6.0, options=FAST)
    assert existing.read_bytes() == b"mine"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny fits: one thread is faster than two contending ones
    return subprocess.run([sys.executable, "-m", "sinetune.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env=env)


def test_cli_round_trip_and_damaged_files(tmp_path, rgb_image, capsys, monkeypatch):
    from sinetune.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["compress", str(rgb_image), "--bpp", "8", "-o", "a.stn", "--steps", "20", "--qat-steps", "5",
                 "--quiet"]) == 0
    printed = re.search(r"([\d.]+) bpp, PSNR ([\d.]+) dB", capsys.readouterr().out)
    data = (tmp_path / "a.stn").read_bytes()
    assert float(printed.group(1)) == pytest.approx(8 * len(data) / 1024, abs=1e-4)
    assert main(["decompress", "a.stn"]) == 0 and "a-decoded.png" in capsys.readouterr().out
    assert round(_psnr_of_file(tmp_path / "a-decoded.png", rgb_image), 2) == float(printed.group(2))
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0x10
    (tmp_path / "corrupt.stn").write_bytes(bytes(damaged))
    done = _cli("decompress", "corrupt.stn", cwd=tmp_path)  # the real process: exit status and stderr
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["sinetune: error: corrupt.stn is corrupt (checksum mismatch)"]


@pytest.mark.parametrize("content, message", [(b"GIF89a" + bytes(40), "wrong magic number"),
                                              (b"\x89STN\x01", "truncated"), (b"", "wrong magic number")])
def test_cli_refuses_foreign_and_truncated_files(tmp_path, capsys, content, message):
    from sinetune.cli import main

    (tmp_path / "bad.stn").write_bytes(content)
    assert main(["decompress", str(tmp_path / "bad.stn")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sinetune: error:") and message in lines[0]
    assert not (tmp_path / "bad-decoded.png").exists()


def test_encode_fitted_takes_any_field_a_pruned_one_too(tmp_path, rgb_image, generator):
    """What pruning will hand over: a fitted TUNER field with rows and columns removed (uneven widths)."""
    import torch

    from sinetune.codec import encode_fitted
    from sinetune.methods import TunerOptions, build_field
    from sinetune.models import Linear, SineLayer, SinusoidalField, SpectralEncoding

    signal = load_image(rgb_image)
    full = build_field("tuner", signal.grid_shape, 3, TunerOptions(input_width=16, hidden_width=12, band_fraction=0.3),
                       generator=generator).field
    keep_columns, keep_rows = torch.arange(0, 16, 2), torch.arange(0, 12, 3)  # 8 atoms, 4 hidden rows
    encoding = SpectralEncoding(full.encoding.input_frequencies[keep_columns], full.encoding.period,
                                full.encoding.phases.detach()[keep_columns])
    hidden = full.hidden[0]
    layer = SineLayer(8, 4, hidden.omega, hidden.effective_weight().detach()[keep_rows][:, keep_columns],
                      hidden.bias.detach()[keep_rows])
    head = Linear(full.head.weight.detach()[:, keep_rows], full.head.bias.detach())
    pruned = SinusoidalField(encoding, [layer], head)
    before = [p.clone() for p in pruned.parameters()]
    point = encode_fitted(pruned, signal, 8)
    assert all(torch.equal(a, b) for a, b in zip(before, pruned.parameters()))  # the caller's field untouched
    assert point.width == 4 and point.parameters == 8 + 4 * 8 + 4 + 3 * 4 + 3
    (tmp_path / "p.stn").write_bytes(point.encoded.data)
    decoded = decompress(tmp_path / "p.stn")
    assert psnr(decoded.astype(np.float32) / 255, signal.values) == point.psnr


def test_spectrum_dictionary_takes_the_images_frequencies_and_round_trips(tmp_path):
    from sinetune.codec_search import CandidateSearch
    from sinetune.progress import as_progress
    from sinetune.signals import Signal

    y, x = np.meshgrid(np.linspace(-1, 1, 48), np.linspace(-1, 1, 48), indexing="ij")
    stripes = 0.5 + 0.4 * np.sin(2 * np.pi / 2.1 * (5 * x - 3 * y))  # TUNER's period 2.1: the atom (5, -3)
    signal = Signal(np.repeat(stripes[..., None], 3, axis=-1).astype(np.float32), name="stripes")
    options = CodecOptions(widths=(8,), bits=(8,), steps=60, qat_steps=0, dictionary="spectrum")
    atoms = CandidateSearch(signal, "tuner", options, "cpu", as_progress(False)).config(8).options.input_frequencies
    assert atoms[:2] == ((1, 0), (0, 1)) and atoms[4] == (5, -3)  # e_1, e_2, the low block, then the stripes
    sampled = CandidateSearch(signal, "tuner", CodecOptions(), "cpu", as_progress(False)).config(8).options
    assert sampled.input_frequencies is None  # the default draws them
    result = compress(signal, tmp_path / "s.stn", bpp=24.0, options=options)
    assert np.array_equal(decompress(result.path), result.decoded)  # the file carries the picked atoms
    assert result.psnr > compress(signal, bpp=24.0, options=replace(options, dictionary="sampled")).psnr
    with pytest.raises(SinetuneError, match="dictionary must be"):
        CodecOptions(dictionary="learned").validate()
