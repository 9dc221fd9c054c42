"""N-D signals (sinetune.volumes, render_nd, TUNER in d = 3, 4): readers, generators, metrics, fits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sinetune import fit
from sinetune.bessel import bessel_expansion
from sinetune.errors import SinetuneError
from sinetune.lattice import FrequencySetWarning, generates_full_lattice
from sinetune.methods import TunerOptions, build_field, tuner
from sinetune.methods.finer import FinerOptions
from sinetune.methods.siren import SirenOptions
from sinetune.render_nd import middle_slices
from sinetune.runs import render_run
from sinetune.signals import grid_coordinates, load_signal
from sinetune.spectral import half_plane_count, resolution_defaults, sample_input_frequencies
from sinetune.training import TrainOptions
from sinetune.volumes import array_signal, is_nd_source, nd_metrics, pan_clip, phantom3d

REPO = Path(__file__).resolve().parents[1]


def _volume(shape=(8, 8, 8), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


# --- generators -------------------------------------------------------------------------------------


def test_pan_clip_is_a_window_moving_right():
    clip = pan_clip(frames=4, size=8)
    assert clip.shape == (4, 8, 8, 3) and clip.dtype == np.float32
    assert 0 <= clip.min() and clip.max() <= 1
    # the window moves by 8 / 3 ≈ 3 pixels a frame: frame 1's left columns are frame 0's right ones
    step = round(8 / 3)
    np.testing.assert_array_equal(clip[1][:, : 8 - step], clip[0][:, step:])
    assert not np.array_equal(clip[0], clip[-1])


def test_phantom3d_values_and_shape():
    volume = phantom3d(9)
    assert volume.shape == (9, 9, 9) and 0 <= volume.min() and volume.max() <= 1
    assert volume[4, 4, 4] == pytest.approx(0.2)  # skull 1 − brain 0.8 at the centre
    assert volume[0, 0, 0] == 0.0  # a corner lies outside every ellipsoid
    assert volume[4, 4, 1] == 0.0  # x = −0.75 is outside the skull (semi-axis 0.69)
    assert volume[4, 4, 2] == pytest.approx(0.2)  # x = −0.5 is inside skull and brain


def test_builtin_signals_load_by_name():
    video = load_signal("pan", size=8)
    assert video.kind == "video" and video.grid_shape == (16, 8, 8) and video.channels == 3
    assert video.frame_rate == 8.0 and video.extent == 8
    volume = load_signal("phantom3d", size=8)
    assert volume.kind == "volume" and volume.grid_shape == (8, 8, 8) and volume.channels == 1


# --- readers ----------------------------------------------------------------------------------------


def test_npy_and_npz_round_trip(tmp_path):
    volume = _volume()
    np.save(tmp_path / "v.npy", volume)
    signal = load_signal(tmp_path / "v.npy")
    assert signal.kind == "volume" and signal.grid_shape == (8, 8, 8)
    np.testing.assert_array_equal(signal.values[..., 0], volume)
    coloured = np.random.default_rng(1).random((4, 8, 8, 3)).astype(np.float32)
    np.savez(tmp_path / "c.npz", values=coloured, other=np.zeros(3))
    signal = load_signal(tmp_path / "c.npz")
    assert signal.grid_shape == (4, 8, 8) and signal.channels == 3
    np.testing.assert_array_equal(signal.values, coloured)
    np.savez(tmp_path / "two.npz", a=volume, b=volume)
    with pytest.raises(SinetuneError, match="several arrays"):
        load_signal(tmp_path / "two.npz")


def test_integer_and_out_of_range_arrays_are_scaled(tmp_path):
    np.save(tmp_path / "u16.npy", np.full((4, 4, 4), 65535, dtype=np.uint16))
    assert load_signal(tmp_path / "u16.npy").values.max() == pytest.approx(1.0)
    np.save(tmp_path / "hu.npy", np.linspace(-1000, 3000, 64).reshape(4, 4, 4))
    signal = load_signal(tmp_path / "hu.npy")
    assert signal.values.min() == 0.0 and signal.values.max() == pytest.approx(1.0)
    assert "min–max scaled from [-1000, 3000]" in signal.sizing


def test_tiff_stack_round_trip(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    volume = (_volume((5, 8, 8)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", volume)
    assert is_nd_source(tmp_path / "stack.tif")
    signal = load_signal(tmp_path / "stack.tif")
    assert signal.grid_shape == (5, 8, 8)
    np.testing.assert_allclose(signal.values[..., 0], volume / 255.0, atol=1e-6)
    Image.fromarray(volume[0]).save(tmp_path / "one.tif")  # a single page stays an image
    assert not is_nd_source(tmp_path / "one.tif") and load_signal(tmp_path / "one.tif").kind == "image"


def test_gif_and_frame_folder_round_trip(tmp_path):
    clip = (pan_clip(frames=4, size=8) * 255).astype(np.uint8)
    frames = [Image.fromarray(frame) for frame in clip]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:], duration=250, loop=0)
    signal = load_signal(tmp_path / "clip.gif")
    assert signal.kind == "video" and signal.grid_shape == (4, 8, 8) and signal.channels == 3
    assert signal.frame_rate == pytest.approx(4.0)  # GIF durations are in 10 ms units
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(frames):
        frame.save(folder / f"f{index:02d}.png")
    from_folder = load_signal(folder)
    assert from_folder.kind == "video" and from_folder.grid_shape == (4, 8, 8)
    np.testing.assert_allclose(from_folder.values, clip / 255.0, atol=1e-6)
    Image.fromarray(clip[0][:4]).save(folder / "f99.png")
    with pytest.raises(SinetuneError, match="bad shape: the frames"):
        load_signal(folder)


def test_video_size_resizes_frames_not_time():
    signal = load_signal("pan", size=12)
    assert signal.grid_shape == (16, 12, 12)
    from sinetune.volumes import resample

    smaller = resample(signal, 6, None)
    assert smaller.grid_shape == (16, 6, 6) and "resized to 16×6×6" in smaller.sizing


@pytest.mark.parametrize(("array", "message"), [
    (np.zeros((8, 8)), "unsupported dimensions"),
    (np.zeros((2, 2, 2, 2, 2, 2)), "unsupported dimensions"),
    (np.zeros((1, 8, 8)), "bad shape"),
    (np.full((4, 4, 4), np.nan), "non-finite"),
])
def test_bad_arrays_get_one_clear_error(array, message):
    with pytest.raises(SinetuneError, match=message):
        array_signal(array, "x", "x.npy", "volume")


def test_nifti_needs_nibabel(tmp_path):
    try:
        import nibabel  # noqa: F401
    except ImportError:
        (tmp_path / "v.nii").write_bytes(b"\0" * 352)
        with pytest.raises(SinetuneError, match="needs nibabel"):
            load_signal(tmp_path / "v.nii")
    else:
        pytest.skip("nibabel is installed")


def test_cli_bad_shape_exits_2_with_one_line(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((8, 8)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "sinetune.cli", "fit", str(tmp_path / "flat.npy"), "--steps", "1",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "unsupported dimensions" in done.stderr


# --- TUNER in d = 3, 4 --------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [3, 4])
def test_frequency_sampling_in_d_dimensions(dim):
    frequencies = sample_input_frequencies(64, 4, 2, np.random.default_rng(0), dim)
    assert frequencies.shape == (64, dim)
    np.testing.assert_array_equal(frequencies[:dim], np.eye(dim, dtype=int))
    assert len({tuple(row) for row in frequencies}) == 64 and np.abs(frequencies).max() <= 4
    first = frequencies[np.arange(64), np.argmax(frequencies != 0, axis=1)]
    assert (first > 0).all()  # half-space representatives
    assert generates_full_lattice(frequencies)


def test_band_is_raised_for_a_short_axis_in_3d_only():
    video = resolution_defaults((16, 64, 64), 2.1, 256)
    assert half_plane_count(video.band_limit, 3) >= 256 > half_plane_count(video.band_limit - 1, 3)
    assert video.band_limit <= video.nyquist
    assert resolution_defaults((16, 64), 2.1, 256).band_limit == 1  # d = 2 keeps the plain rule
    assert resolution_defaults((64, 64, 64), 2.1, 256).band_limit == 6  # floor(0.2 · 33.1): nothing to raise


def test_sub_period_check_in_3d():
    odd = tuple((a, b, c) for a in (1, 3) for b in (-1, 1) for c in (1, 3))  # all-odd rows: a sub-period
    assert not generates_full_lattice(odd)
    options = TunerOptions(input_width=len(odd), hidden_width=4, input_frequencies=odd)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolved = tuner.resolve(options, (8, 8, 8))
    assert any(issubclass(w.category, FrequencySetWarning) for w in caught)
    assert generates_full_lattice(resolved.input_frequencies)
    with pytest.raises(SinetuneError):
        tuner.resolve(TunerOptions(input_width=len(odd), hidden_width=4, input_frequencies=odd,
                                   frequency_check="strict"), (8, 8, 8))


def test_bessel_expansion_of_a_3d_field_converges_to_it():
    options = tuner.resolve(TunerOptions(input_width=8, hidden_width=4, hidden_init="siren"), (8, 8, 8))
    field = tuner.build(options, (8, 8, 8), 1, torch.Generator().manual_seed(0)).field
    with torch.no_grad():
        field.hidden[0].weight.mul_(0.05)  # small effective weights: the series converges fast
    coords = grid_coordinates((5, 5, 5))
    with torch.no_grad():
        exact = field(coords).double().numpy()
    errors = [np.abs(bessel_expansion(field, order).evaluate(coords) - exact).max() for order in (1, 3)]
    assert errors[1] < errors[0] and errors[1] < 1e-4


@pytest.mark.parametrize(("method", "options"), [
    ("tuner", TunerOptions(input_width=16, hidden_width=8)),
    ("siren", SirenOptions(input_width=8, hidden_width=8, hidden_layers=1)),
    ("finer", FinerOptions(input_width=8, hidden_width=8, hidden_layers=1)),
])
def test_methods_build_in_4d(method, options):
    built = build_field(method, (4, 4, 4, 4), 2, options, generator=torch.Generator().manual_seed(0))
    assert built.field(torch.zeros(3, 4)).shape == (3, 2)


# --- metrics, renders, fits ---------------------------------------------------------------------------


def test_nd_metrics_per_frame_and_slice():
    signal = load_signal("pan", size=8)
    prediction = signal.values.copy()
    prediction[2] += 0.1  # frame 2 errs by 0.1 everywhere: 20 dB
    metrics = nd_metrics(signal, prediction)
    assert len(metrics["frame_psnr"]) == 16 and metrics["frame_psnr"][2] == pytest.approx(20.0, abs=1e-3)
    assert metrics["frame_psnr_min"] == pytest.approx(20.0, abs=1e-3) and metrics["frame_psnr"][0] == np.inf


def test_middle_slices_of_3d_and_4d():
    slices = middle_slices(np.zeros((4, 6, 8, 1)))
    assert [s.shape for _, s in slices] == [(6, 8), (4, 8), (4, 6)]
    assert [s.shape for _, s in middle_slices(np.zeros((3, 4, 6, 8, 2)))] == [(6, 8), (4, 8), (4, 6)]


def test_video_fit_end_to_end(tmp_path):
    video = array_signal(pan_clip(frames=4, size=8), "tiny", "", "video", frame_rate=4.0)
    result = fit(video, "siren", options=SirenOptions(input_width=16, hidden_width=16, hidden_layers=1),
                 train_options=TrainOptions(steps=5, batch_size=64), out=tmp_path / "run", device="cpu")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["kind"] == "video" and len(metrics["frame_psnr"]) == 4 and metrics["grid_shape"] == [4, 8, 8]
    for name in ("reconstruction.npy", "reconstruction.gif", "slices.png", "curves.png", "manifest.json"):
        assert (tmp_path / "run" / name).is_file()
    assert np.load(tmp_path / "run" / "reconstruction.npy").shape == (4, 8, 8, 3)
    assert result.signal.kind == "video"
    out = render_run(tmp_path / "run", size=12)
    assert out.name == "render-4x12x12.gif"
    with Image.open(out) as image:
        assert image.n_frames == 4 and image.size == (12, 12)


def test_volume_fit_end_to_end_with_tuner(tmp_path):
    np.save(tmp_path / "v.npy", phantom3d(8))
    fit(tmp_path / "v.npy", "tuner", options=TunerOptions(input_width=16, hidden_width=16),
        train_options=TrainOptions(steps=5), out=tmp_path / "run", device="cpu")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["kind"] == "volume" and len(metrics["slice_psnr"]) == 8
    assert "TUNER 16 input frequencies" in metrics["derived"] and "band-limit b = " in metrics["derived"]
    out = render_run(tmp_path / "run", size=10)
    assert np.load(out).shape == (10, 10, 10, 1)
    with pytest.raises(SinetuneError, match="renders to .npy"):
        render_run(tmp_path / "run", out=tmp_path / "run" / "x.gif")


def test_4d_grid_fit_end_to_end(tmp_path):
    np.save(tmp_path / "v4.npy", _volume((3, 4, 5, 6)))  # last axis 6 > 4: a 4-D grid, one channel
    fit(tmp_path / "v4.npy", "siren", options=SirenOptions(input_width=8, hidden_width=8, hidden_layers=1),
        train_options=TrainOptions(steps=3), out=tmp_path / "run", device="cpu")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["grid_shape"] == [3, 4, 5, 6] and len(metrics["slice_psnr"]) == 3
    assert np.load(render_run(tmp_path / "run")).shape == (3, 4, 5, 6, 1)
