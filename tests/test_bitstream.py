"""The .stn format: exact round trips, integer frequencies, one-line refusals of damaged files, no pickle."""

from __future__ import annotations

import inspect
import json
import struct
import zlib

import numpy as np
import pytest
import torch

from sinetune import bitstream
from sinetune.bitstream import MAGIC, decode_field, decode_frequencies, encode_field, encode_frequencies, write_stn
from sinetune.errors import SinetuneError
from sinetune.methods import SirenOptions, TunerOptions, build_field
from sinetune.models import Linear, SineLayer, SinusoidalField, SpectralEncoding
from sinetune.quantize import load_quantized, plain_field, quantize_field
from sinetune.signals import grid_coordinates


def _plain(method: str, generator: torch.Generator) -> SinusoidalField:
    options = (TunerOptions(input_width=16, hidden_width=12, band_fraction=0.3) if method == "tuner"
               else SirenOptions(input_width=10, hidden_width=12, hidden_layers=2))
    return plain_field(build_field(method, (32, 32), 3, options, generator=generator).field)


@pytest.mark.parametrize("coder", ["ans", "zlib"])
@pytest.mark.parametrize("granularity", ["tensor", "column"])
@pytest.mark.parametrize("method", ["tuner", "siren"])
def test_round_trip_is_exact(generator, method, granularity, coder):
    plain = _plain(method, generator)
    tensors = quantize_field(plain, 6, granularity)
    encoded = encode_field(plain, tensors, (32, 24), method, coder)
    decoded, header = decode_field(encoded.data)
    expected = load_quantized(plain_field(plain), tensors)
    coords = grid_coordinates((32, 24))
    with torch.no_grad():
        assert torch.equal(decoded(coords), expected(coords))
    assert header["grid"] == [32, 24] and header["method"] == method and header["coder"] == coder
    assert sum(encoded.sizes.values()) == len(encoded.data)
    if method == "tuner":
        assert decoded.encoding.input_frequencies.dtype == torch.int64
        assert torch.equal(decoded.encoding.input_frequencies, plain.encoding.input_frequencies)


@pytest.mark.parametrize("coder", ["ans", "zlib"])
def test_entropy_coding_beats_the_nominal_bits(generator, coder):
    from sinetune.bitstream import decode_levels, encode_levels
    from sinetune.quantize import quantize_tensor

    quantized = quantize_tensor(torch.randn(64, 64, generator=generator) ** 3, 8, "tensor")  # peaked, like trained
    model, location, spread, data = encode_levels(quantized, coder)
    assert len(data) < (0.6 if coder == "ans" else 0.85) * quantized.levels.size  # bytes < bits/8 per level
    decoded = decode_levels(model, location, spread, data, quantized.levels.size, 8)
    assert np.array_equal(decoded, quantized.levels.ravel())


def test_any_sinusoidal_field_round_trips(generator):
    """A field with uneven widths, as pruning leaves one (rows and columns removed)."""
    frequencies = torch.tensor([[1, 0], [0, 1], [3, -2], [5, 7], [300, 1]])
    encoding = SpectralEncoding(frequencies, 2.1, torch.rand(5, generator=generator))
    first = SineLayer(5, 7, 30.0, torch.randn(7, 5, generator=generator), torch.randn(7, generator=generator))
    second = SineLayer(7, 3, 20.0, torch.randn(3, 7, generator=generator), torch.randn(3, generator=generator))
    field = SinusoidalField(encoding, [first, second], Linear(torch.randn(1, 3, generator=generator), torch.zeros(1)))
    plain = plain_field(field)
    tensors = quantize_field(plain, 10)
    decoded, header = decode_field(encode_field(plain, tensors, (9, 9), "tuner").data)
    assert header["hidden"] == [[30.0, 7], [20.0, 3]] and decoded.out_features == 1
    coords = grid_coordinates((9, 9))
    with torch.no_grad():
        assert torch.equal(decoded(coords), load_quantized(plain_field(plain), tensors)(coords))


def test_frequencies_are_small_integers():
    rows = np.array([[-40, 3], [-40, 4], [0, 1], [1, 0], [2, -9]])
    data = encode_frequencies(rows)
    assert data[0] == 1  # one byte per value before deflating
    assert np.array_equal(decode_frequencies(data, 5, 2), rows)
    wide = np.array([[0, 1], [1, 0], [700, -3]])
    assert encode_frequencies(wide)[0] == 2 and np.array_equal(decode_frequencies(encode_frequencies(wide), 3, 2), wide)


def test_no_pickle(generator):
    source = inspect.getsource(bitstream)
    assert "pickle" not in source.replace("No pickle", "").replace("no pickle", "")
    plain = _plain("siren", generator)
    data = encode_field(plain, quantize_field(plain, 8), (32, 32), "siren").data
    header_len = struct.unpack_from("<H", data, len(MAGIC) + 1)[0]
    header = json.loads(data[len(MAGIC) + 7:len(MAGIC) + 7 + header_len])  # plain JSON
    assert header["encoding"][0] == "sine" and header["bits"] == 8


@pytest.fixture
def stn_bytes(generator) -> bytes:
    plain = _plain("tuner", generator)
    return encode_field(plain, quantize_field(plain, 8), (32, 32), "tuner").data


def test_damaged_files_are_one_line_errors(stn_bytes):
    rng = np.random.default_rng(0)
    for position in rng.choice(np.arange(len(MAGIC), len(stn_bytes)), 25, replace=False):
        damaged = bytearray(stn_bytes)
        damaged[position] ^= 1 << int(rng.integers(8))
        with pytest.raises(SinetuneError) as error:
            decode_field(bytes(damaged), "x.stn")
        assert "\n" not in str(error.value) and "x.stn" in str(error.value)
    for length in [0, 3, 4, 10, len(stn_bytes) // 2, len(stn_bytes) - 1]:
        with pytest.raises(SinetuneError, match="truncated|magic"):
            decode_field(stn_bytes[:length])
    with pytest.raises(SinetuneError, match="magic"):
        decode_field(b"\x89PNG" + stn_bytes[4:])
    with pytest.raises(SinetuneError, match="after its end"):
        decode_field(stn_bytes + b"\0")
    body = bytearray(stn_bytes[len(MAGIC):-4])
    body[0] = 9  # a future version, correctly checksummed
    with pytest.raises(SinetuneError, match="version 9"):
        decode_field(MAGIC + bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))


@pytest.mark.parametrize("header", [b'{"bits": 8}', b'[1, 2]',
                                    b'{"bits": 8, "grid": [4, 4], "channels": 3, "granularity": "tensor", '
                                    b'"encoding": ["sine", 30, 2, 100000], "hidden": [[30, 100000]]}'])
def test_a_checksummed_nonsense_header_is_refused(header):
    body = struct.pack("<BHI", 1, len(header), 0) + header
    with pytest.raises(SinetuneError, match="corrupt"):
        decode_field(MAGIC + body + struct.pack("<I", zlib.crc32(body)))


def test_write_is_atomic_and_never_overwrites(tmp_path, stn_bytes):
    path = write_stn(tmp_path / "a.stn", stn_bytes)
    assert path.read_bytes() == stn_bytes
    with pytest.raises(SinetuneError, match="already exists"):
        write_stn(path, b"other")
    assert path.read_bytes() == stn_bytes
    write_stn(path, stn_bytes[:10], overwrite=True)
    assert path.read_bytes() == stn_bytes[:10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.stn"]  # no partial file left
    with pytest.raises(SinetuneError, match=".stn"):
        write_stn(tmp_path / "a.png", stn_bytes)
    with pytest.raises(SinetuneError, match="no such directory"):
        write_stn(tmp_path / "missing" / "a.stn", stn_bytes)
    with pytest.raises(SinetuneError, match="no such .stn file"):
        bitstream.read_stn(tmp_path / "none.stn")
