"""Grids, image loading and the hold-out split (signals.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sinetune import SinetuneError
from sinetune.signals import Signal, grid_coordinates, holdout_mask, image_from_array, load_image, resize_image

# --- grid ---------------------------------------------------------------------------------------

def test_grid_coordinates_ordering():
    coords = grid_coordinates((3, 4))  # H = 3 rows, W = 4 columns
    assert coords.shape == (12, 2)
    grid = coords.reshape(3, 4, 2)
    xs = torch.linspace(-1, 1, 4)
    ys = torch.linspace(-1, 1, 3)
    for row in range(3):
        torch.testing.assert_close(grid[row, :, 0], xs)  # x varies along columns (last axis)
        torch.testing.assert_close(grid[row, :, 1], torch.full((4,), float(ys[row])))
    assert coords[0].tolist() == [-1.0, -1.0] and coords[-1].tolist() == [1.0, 1.0]
    assert coords[1].tolist() == pytest.approx([-1 / 3, -1.0])  # the next sample moves along x
    assert coords[4].tolist() == [-1.0, 0.0]  # one row down: y moves


def test_grid_coordinates_domain_and_other_dims():
    coords = grid_coordinates((5,), (-2.0, 2.0))
    torch.testing.assert_close(coords[:, 0], torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]))
    three = grid_coordinates((2, 3, 4)).reshape(2, 3, 4, 3)
    torch.testing.assert_close(three[0, 0, :, 0], torch.linspace(-1, 1, 4))  # column 0: last axis
    torch.testing.assert_close(three[0, :, 0, 1], torch.linspace(-1, 1, 3))
    torch.testing.assert_close(three[:, 0, 0, 2], torch.linspace(-1, 1, 2))


def test_signal_flat_values_follow_the_coordinates():
    values = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2) / 12
    signal = Signal(values, "t")
    assert signal.grid_shape == (2, 3) and signal.channels == 2 and signal.dim == 2
    flat = signal.flat_values()
    coords = signal.coords()
    assert flat.dtype == torch.float32 and flat.shape == (6, 2)
    # sample 4 is row 1, column 1: x = 0, y = 1
    assert coords[4].tolist() == [0.0, 1.0]
    assert flat[4].tolist() == values[1, 1].tolist()


# --- loading ------------------------------------------------------------------------------------

def test_load_rgb_exact(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "a.png")
    signal = load_image(tmp_path / "a.png")
    assert signal.values.dtype == np.float32 and signal.values.shape == (6, 9, 3)
    np.testing.assert_array_equal(signal.values, (array / 255.0).astype(np.float32))
    assert signal.name == "a" and signal.source == str((tmp_path / "a.png").resolve())
    assert signal.grid_shape == (6, 9)


def test_load_grayscale_keeps_one_channel(tmp_path):
    array = np.random.default_rng(1).integers(0, 256, (5, 7), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "g.png")
    signal = load_image(str(tmp_path / "g.png"))
    assert signal.values.shape == (5, 7, 1)
    np.testing.assert_array_equal(signal.values[..., 0], (array / 255.0).astype(np.float32))


def test_load_rgba_drops_alpha_with_a_warning(tmp_path):
    array = np.random.default_rng(2).integers(0, 256, (4, 6, 4), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "rgba.png")
    with Image.open(tmp_path / "rgba.png") as check:
        assert check.mode == "RGBA"
    with pytest.warns(UserWarning, match="alpha"):
        signal = load_image(tmp_path / "rgba.png")
    assert signal.values.shape == (4, 6, 3)
    np.testing.assert_array_equal(signal.values, (array[..., :3] / 255.0).astype(np.float32))


def test_load_palette(tmp_path):
    palette = [255, 0, 0, 0, 128, 255, 10, 20, 30]
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    image = Image.frombytes("P", (3, 2), index.tobytes())
    image.putpalette(palette + [0] * (768 - len(palette)))
    image.save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as check:
        assert check.mode == "P"
    signal = load_image(tmp_path / "p.png")
    colours = np.array(palette, dtype=np.float32).reshape(3, 3) / 255.0
    assert signal.values.shape == (2, 3, 3)
    np.testing.assert_allclose(signal.values, colours[index], rtol=1e-6)


def test_load_16_bit(tmp_path):
    array = (np.arange(4 * 5).reshape(4, 5) * 3000 + 7).astype(np.uint16)
    Image.fromarray(array).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as check:
        assert check.mode == "I;16"
    signal = load_image(tmp_path / "deep.png")
    assert signal.values.shape == (4, 5, 1)
    np.testing.assert_allclose(signal.values[..., 0], array / 65535.0, rtol=1e-6)
    dark = np.full((3, 3), 200, dtype=np.uint16)  # a dark 16-bit image stays dark (not /255)
    Image.fromarray(dark).save(tmp_path / "dark.png")
    np.testing.assert_allclose(load_image(tmp_path / "dark.png").values, 200 / 65535.0, rtol=1e-6)


def test_load_bilevel_and_la(tmp_path):
    bits = np.array([[0, 255, 0], [255, 255, 0]], dtype=np.uint8)
    Image.fromarray(bits).convert("1").save(tmp_path / "bits.png")
    np.testing.assert_array_equal(load_image(tmp_path / "bits.png").values[..., 0], bits / 255.0)
    Image.fromarray(bits).convert("LA").save(tmp_path / "la.png")
    with pytest.warns(UserWarning, match="alpha"):
        signal = load_image(tmp_path / "la.png")
    assert signal.values.shape == (2, 3, 1)


@pytest.mark.parametrize("height, width, size, expected", [
    (20, 40, 10, (5, 10)),
    (40, 20, 10, (10, 5)),
    (30, 30, 12, (12, 12)),
    (24, 32, 64, (48, 64)),  # upscaling keeps the aspect too
])
def test_resize_keeps_aspect(tmp_path, height, width, size, expected):
    array = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "r.png")
    signal = load_image(tmp_path / "r.png", size=size)
    assert signal.grid_shape == expected
    assert signal.values.min() >= 0 and signal.values.max() <= 1


@pytest.mark.parametrize("height, width, size, max_size, expected, says", [
    (24, 32, None, 256, (24, 32), "image kept at its own size 32×24"),  # small: never upsampled
    (40, 60, None, 30, (20, 30), "image 60×40 downsampled to 30×20 (longer side above the 30-pixel"),
    (40, 60, None, None, (40, 60), "image kept at its own size 60×40 (--full-size)"),
    (40, 60, 90, 30, (60, 90), "image 60×40 resized to 90×60 (--size 90)"),  # an explicit size wins
])
def test_default_size_keeps_the_file_up_to_the_limit(tmp_path, height, width, size, max_size, expected, says):
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(tmp_path / "r.png")
    signal = load_image(tmp_path / "r.png", size=size, max_size=max_size)
    assert signal.grid_shape == expected
    assert signal.sizing.startswith(says)


def test_resize_preserves_smooth_content_and_identity():
    y, x = np.mgrid[0:64, 0:64] / 63.0
    values = (0.25 + 0.5 * x * y)[..., None].astype(np.float32)
    assert resize_image(values, 64) is values  # same size: unchanged
    small = resize_image(values, 16)
    assert small.shape == (16, 16, 1)
    assert abs(float(small.mean()) - float(values.mean())) < 0.01  # antialiased average, no shift
    assert small[0, 0, 0] < small[-1, -1, 0]


def test_image_from_array():
    values = np.array([[[-0.5], [0.0], [0.5], [1.0], [2.0]]], dtype=np.float32)
    out = image_from_array(values)
    assert out.dtype == np.uint8 and out.shape == (1, 5)
    assert out.tolist() == [[0, 0, 128, 255, 255]]
    assert image_from_array(np.zeros((2, 2, 3))).shape == (2, 2, 3)


# --- errors -------------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(SinetuneError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(SinetuneError, match="built-in images"):
        load_image(str(tmp_path / "astronot"))  # no suffix: hint at the built-ins


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(SinetuneError, match="empty"):
        load_image(tmp_path / "empty.png")


def test_directory(tmp_path):
    with pytest.raises(SinetuneError, match="directory"):
        load_image(tmp_path)


def test_random_bytes_with_png_suffix(tmp_path):
    (tmp_path / "bad.png").write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(SinetuneError, match="not a supported image format"):
        load_image(tmp_path / "bad.png")


def test_truncated_png(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(SinetuneError, match="cut.png"):
        load_image(tmp_path / "cut.png")


def test_text_file(tmp_path):
    (tmp_path / "notes.txt").write_text("this is not an image\n")
    with pytest.raises(SinetuneError, match="not a supported image format"):
        load_image(tmp_path / "notes.txt")


@pytest.mark.parametrize("size", [0, 7, 8193, -4])
def test_size_out_of_range(rgb_image, size):
    with pytest.raises(SinetuneError, match="size must be between 8 and 8192"):
        load_image(rgb_image, size=size)


def test_one_pixel_high_image(tmp_path):
    Image.fromarray(np.zeros((1, 20, 3), dtype=np.uint8)).save(tmp_path / "line.png")
    with pytest.raises(SinetuneError, match="too small"):
        load_image(tmp_path / "line.png")
    Image.fromarray(np.zeros((2, 200, 3), dtype=np.uint8)).save(tmp_path / "thin.png")
    with pytest.raises(SinetuneError, match="fewer than 2 pixels"):
        load_image(tmp_path / "thin.png", size=20)


# --- hold-out -----------------------------------------------------------------------------------

@pytest.mark.parametrize("count, fraction", [(1024, 0.05), (1000, 0.1), (37, 0.5), (100, 0.0)])
def test_holdout_fraction_and_determinism(count, fraction):
    mask = holdout_mask(count, fraction, np.random.default_rng(4))
    assert mask.dtype == bool and mask.shape == (count,)
    assert mask.sum() == round(fraction * count)
    np.testing.assert_array_equal(mask, holdout_mask(count, fraction, np.random.default_rng(4)))
    if 0 < fraction:
        assert not np.array_equal(mask, holdout_mask(count, fraction, np.random.default_rng(5)))


def test_holdout_is_spread_over_the_image():
    mask = holdout_mask(64 * 64, 0.1, np.random.default_rng(0)).reshape(64, 64)
    assert 0.05 < mask[:32].mean() < 0.15 and 0.05 < mask[32:].mean() < 0.15


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_holdout_outside_unit_interval(fraction):
    with pytest.raises(SinetuneError, match=r"holdout must be in \[0, 1\)"):
        holdout_mask(100, fraction, np.random.default_rng(0))
