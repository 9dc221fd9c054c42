"""Property-based tests (hypothesis, issue #12): the image and audio loaders, YAML configs and ``--set``.

Every input either loads (and round-trips what was written) or is a one-line :class:`SinetuneError`;
nothing else may escape. Examples are few and tiny (the suite's time budget); the seed is fixed by
``derandomize`` so a failure reproduces.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from sinetune import RunConfig, SinetuneError, load_config, load_image
from sinetune.cli import parse_overrides
from sinetune.config import config_from_dict
from sinetune.signals import load_audio

FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _one_line(error: SinetuneError) -> None:
    assert str(error) and "\n" not in str(error)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alpha dropped, Pillow's notes on odd files
        yield


# --- images -------------------------------------------------------------------------------------

_MODES = {"L": (np.uint8, None), "RGB": (np.uint8, 3), "I;16": (np.uint16, None)}


@FAST
@given(mode=st.sampled_from(sorted(_MODES)), height=st.integers(2, 12), width=st.integers(2, 12),
       suffix=st.sampled_from([".png", ".tif", ".bmp"]), data=st.data())
def test_images_round_trip(tmp_path, mode, height, width, suffix, data):
    dtype, channels = _MODES[mode]
    if suffix == ".bmp" and mode == "I;16":
        suffix = ".png"  # BMP has no 16-bit gray
    shape = (height, width) if channels is None else (height, width, channels)
    pixels = data.draw(arrays(dtype, shape))
    path = tmp_path / f"img{suffix}"
    Image.fromarray(pixels).save(path)
    values = load_image(path).values
    scale = 65535.0 if dtype == np.uint16 else 255.0
    expected = (pixels.astype(np.float64) / scale).reshape(height, width, -1)
    assert values.shape == expected.shape and values.dtype == np.float32
    np.testing.assert_allclose(values, expected, atol=1e-6)


@FAST
@given(payload=st.binary(min_size=1, max_size=300), suffix=st.sampled_from([".png", ".jpg", ".tif", ".gif", ".x"]),
       header=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"GIF89a"]))
def test_random_image_bytes_never_escape(tmp_path, payload, suffix, header):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(header + payload)
    try:
        signal = load_image(path)
    except SinetuneError as error:
        _one_line(error)
    else:
        assert signal.values.ndim == 3 and np.isfinite(signal.values).all()


@FAST
@given(data=st.data())
def test_truncated_images_never_escape(tmp_path, data):
    pixels = data.draw(arrays(np.uint8, (8, 8, 3)))
    path = tmp_path / "cut.png"
    Image.fromarray(pixels).save(path)
    whole = path.read_bytes()
    path.write_bytes(whole[:data.draw(st.integers(1, len(whole) - 1))])
    try:
        load_image(path)
    except SinetuneError as error:
        _one_line(error)


# --- audio --------------------------------------------------------------------------------------


@FAST
@given(frames=st.integers(2, 300), channels=st.integers(1, 2), subtype=st.sampled_from(["FLOAT", "PCM_16"]),
       suffix=st.sampled_from([".wav", ".flac"]), data=st.data())
def test_audio_round_trips(tmp_path, frames, channels, subtype, suffix, data):
    if suffix == ".flac":
        subtype = "PCM_16"
    samples = data.draw(arrays(np.float64, (frames, channels), elements=st.floats(-1, 1, width=32)))
    path = tmp_path / f"clip{suffix}"
    sf.write(str(path), samples, 8000, subtype=subtype)
    stored = sf.read(str(path), always_2d=True)[0].mean(axis=1)
    try:
        signal = load_audio(path)
    except SinetuneError as error:
        assert "silent" in str(error) and not np.abs(stored).max() > 0
        return
    assert signal.grid_shape == (frames,) and signal.sample_rate == 8000
    np.testing.assert_allclose(signal.values[:, 0] * signal.scale, stored, atol=1e-6)


@FAST
@given(payload=st.binary(min_size=1, max_size=300), suffix=st.sampled_from([".wav", ".flac", ".ogg"]),
       header=st.sampled_from([b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS"]))
def test_random_audio_bytes_never_escape(tmp_path, payload, suffix, header):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(header + payload)
    try:
        load_audio(path)
    except SinetuneError as error:
        _one_line(error)


# --- configs and --set --------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=8)
_KEYS = st.sampled_from(["signal", "method", "options", "train", "seed", "holdout", "device", "extra"])


@FAST
@given(data=st.dictionaries(_KEYS, _VALUES, max_size=5))
def test_any_config_mapping_is_a_config_or_one_line(data):
    try:
        config = config_from_dict(data)
    except SinetuneError as error:
        _one_line(error)
    else:
        assert isinstance(config, RunConfig)


@FAST
@given(section=st.sampled_from(["options", "train", "signal"]),
       values=st.dictionaries(st.sampled_from(["steps", "lr", "batch_size", "period", "hidden_width", "path",
                                               "size", "band_limit", "block_bounds", "keep_best"]), _VALUES,
                              max_size=3))
def test_typed_sections_are_checked(section, values):
    try:
        config_from_dict({section: values})
    except SinetuneError as error:
        _one_line(error)


@FAST
@given(text=st.text(max_size=120) | st.sampled_from(["a: [", "{", "- 1\n- 2", "seed: !!python/object:os.system x",
                                                      "train: {steps: 1e400}", "\x00", "signal: 3"]))
def test_any_yaml_file_is_a_config_or_one_line(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        load_config(path)
    except SinetuneError as error:
        _one_line(error)


@FAST
@given(pairs=st.lists(st.text(max_size=20) | st.builds("{}={}".format, st.text(max_size=6), st.text(max_size=12)),
                      max_size=4))
def test_set_overrides_parse_or_fail_in_one_line(pairs):
    try:
        parsed = parse_overrides(pairs)
    except SinetuneError as error:
        _one_line(error)
    else:  # KEY=VALUE pairs, the last of a key winning, values parsed as YAML
        assert list(parsed) == list(dict.fromkeys(pair.partition("=")[0].strip() for pair in pairs))
