"""The ``.stn`` file: a quantised sinusoidal field, entropy-coded. No pickle; every field is read by hand.

Layout (integers little-endian)::

    magic        4 bytes   b"\\x89STN"  (0x89 catches 7-bit and text-mode transfers)
    version      u8        FORMAT_VERSION
    header_len   u16       bytes of the header
    payload_len  u32       bytes of the payload
    header       JSON      UTF-8: image grid, channels, method, coder, bits, granularity, architecture
    payload      bytes     input frequencies (TUNER), then one record per quantised tensor
    crc32        u32       zlib.crc32 of everything from ``version`` to the payload's last byte

The *architecture* (``"encoding"``, ``"hidden"`` in the header) is what rebuilds the field's shapes
without its options: ``["spectral", period, d, n_0]`` (TUNER) or ``["sine", ω_0, d, n_0]`` (SIREN's
first layer), then ``[ω, width]`` per hidden sine layer; the head maps the last width to
``channels``. The tensors are the parameters of :func:`sinetune.quantize.plain_field`, in
``named_parameters`` order, their shapes implied by the architecture.

Payload:

* **input frequencies** (spectral encoding only): ``K`` ``(n_0, d)`` sorted by rows; column 0 as
  differences from the previous row, every value zig-zag mapped to a non-negative integer, as uint8
  (uint16 if any exceeds 255, flagged by a first byte 1 or 2), then deflated (``zlib``, level 9).
  Stored as integers, never floats: 4 length bytes before them.
* **per tensor**: ``model`` u8 (0 Gaussian, 1 Laplace, 2 zlib), ``location`` f32, ``spread`` f32,
  ``coded_len`` u32; the grid (``zero`` then ``scale``, float16, one each per tensor or per column);
  then ``coded_len`` bytes of levels: with ``coder="ans"`` the levels in row-major order coded by
  ``constriction``'s ANS coder under a quantised Gaussian (mean ``location``, std ``spread``) or Laplace
  (scale ``spread``) on ``[0, 2^b − 1]`` — whichever is shorter, fitted to the tensor; with
  ``coder="zlib"`` (the simple baseline) the levels as uint8/uint16 deflated.

A file that is truncated, has another magic number or version, or fails its checksum is refused with
one line (:class:`~sinetune.errors.SinetuneError`); so is a well-checksummed file whose header does not
describe a field or declares more than :data:`MAX_PARAMETERS` weights. Files are written atomically
and never replace an existing file unless asked.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import constriction
import numpy as np
import torch

from .errors import SinetuneError
from .models import Linear, SineLayer, SinusoidalField, SpectralEncoding
from .quantize import QuantizedTensor, check_bits, grid_count, quantized_parameters
from .rundir import check_output_file

MAGIC = b"\x89STN"
FORMAT_VERSION = 1
Coder = Literal["ans", "zlib"]
CODERS = ("ans", "zlib")
SUFFIX = ".stn"
_FRAME = struct.Struct("<BHI")  # version, header_len, payload_len
_RECORD = struct.Struct("<BffI")  # model, location, spread, coded_len
_MODELS = {0: "gaussian", 1: "laplace", 2: "zlib"}
#: Smallest ``spread`` of an entropy model (a constant tensor still gets a valid distribution).
MIN_SPREAD = 0.3


@dataclass
class Encoded:
    """An encoded field: the file's bytes and how they divide (bytes per part)."""

    data: bytes
    sizes: dict[str, int]


# --- architecture ----------------------------------------------------------------------------------


def architecture(field: SinusoidalField) -> dict[str, Any]:
    """The header's ``encoding`` and ``hidden`` entries of a plain field (module docstring)."""
    encoding = field.encoding
    if isinstance(encoding, SpectralEncoding):
        first = ["spectral", encoding.period, encoding.in_features, encoding.out_features]
    else:
        first = ["sine", encoding.omega, encoding.in_features, encoding.out_features]
    return {"encoding": first, "hidden": [[layer.omega, layer.out_features] for layer in field.hidden]}


#: The most weights a file may declare (a checksummed but hostile header must not allocate without bound).
MAX_PARAMETERS = 1 << 26


def field_from_architecture(header: dict[str, Any], frequencies: np.ndarray | None) -> SinusoidalField:
    """A field of the header's shapes with zero parameters (``frequencies``: ``K`` of a spectral one)."""
    kind, scale, inputs, width = header["encoding"]
    widths = [int(inputs), int(width)] + [int(out) for _, out in header["hidden"]] + [int(header["channels"])]
    if min(widths) < 1 or sum(a * b for a, b in zip(widths, widths[1:])) > MAX_PARAMETERS:
        raise ValueError("the architecture's widths are out of range")
    if kind == "spectral":
        if frequencies is None or frequencies.shape != (width, inputs):
            raise ValueError("input frequencies do not match the architecture")
        first: Any = SpectralEncoding(torch.from_numpy(frequencies), float(scale), torch.zeros(width))
    elif kind == "sine":
        first = SineLayer(int(inputs), int(width), float(scale), torch.zeros(width, inputs), torch.zeros(width))
    else:
        raise ValueError(f"unknown encoding {kind!r}")
    hidden, fan_in = [], int(width)
    for omega, out in header["hidden"]:
        hidden.append(SineLayer(fan_in, int(out), float(omega), torch.zeros(out, fan_in), torch.zeros(out)))
        fan_in = int(out)
    channels = int(header["channels"])
    return SinusoidalField(first, hidden, Linear(torch.zeros(channels, fan_in), torch.zeros(channels)))


# --- integer frequencies ---------------------------------------------------------------------------


def _zigzag(values: np.ndarray) -> np.ndarray:
    return np.where(values >= 0, 2 * values, -2 * values - 1)


def encode_frequencies(frequencies: np.ndarray) -> bytes:
    """``K`` ``(n, d)`` integers (sorted rows) → bytes (module docstring)."""
    values = np.asarray(frequencies, dtype=np.int64).copy()
    values[1:, 0] = np.diff(values[:, 0])
    mapped = _zigzag(values).ravel()
    wide = bool(mapped.max(initial=0) > 255)
    raw = mapped.astype("<u2" if wide else "u1").tobytes()
    return bytes([2 if wide else 1]) + zlib.compress(raw, 9)


def decode_frequencies(data: bytes, rows: int, dim: int) -> np.ndarray:
    """Inverse of :func:`encode_frequencies`: ``(rows, dim)`` int64."""
    dtype = {1: "u1", 2: "<u2"}[data[0]]
    mapped = np.frombuffer(zlib.decompress(data[1:]), dtype=dtype).astype(np.int64).reshape(rows, dim)
    values = np.where(mapped % 2 == 0, mapped // 2, -(mapped + 1) // 2)
    values[:, 0] = np.cumsum(values[:, 0])
    return values


# --- levels ----------------------------------------------------------------------------------------


def _model(kind: str, bits: int, location: float, spread: float):
    high = 2**bits - 1
    if kind == "gaussian":
        return constriction.stream.model.QuantizedGaussian(0, high, location, spread)
    return constriction.stream.model.QuantizedLaplace(0, high, location, spread)


def _ans(levels: np.ndarray, model) -> bytes:
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(levels.astype(np.int32), model)
    return coder.get_compressed().astype("<u4").tobytes()


def encode_levels(quantized: QuantizedTensor, coder: Coder) -> tuple[int, float, float, bytes]:
    """``(model, location, spread, bytes)`` of one tensor's levels (the shortest model under ``coder``)."""
    levels = quantized.levels.ravel()
    if coder == "zlib":
        return 2, 0.0, 0.0, zlib.compress(levels.astype("u1" if quantized.bits <= 8 else "<u2").tobytes(), 9)
    mean = float(np.float32(levels.mean()))
    std = float(np.float32(max(levels.std(), MIN_SPREAD)))
    laplace = float(np.float32(max(np.abs(levels - np.median(levels)).mean(), MIN_SPREAD)))
    median = float(np.float32(np.median(levels)))
    options = [(0, mean, std, _ans(levels, _model("gaussian", quantized.bits, mean, std))),
               (1, median, laplace, _ans(levels, _model("laplace", quantized.bits, median, laplace)))]
    return min(options, key=lambda option: len(option[3]))


def decode_levels(model: int, location: float, spread: float, data: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`encode_levels`: ``(count,)`` int32 levels."""
    kind = _MODELS[model]
    if kind == "zlib":
        levels = np.frombuffer(zlib.decompress(data), dtype="u1" if bits <= 8 else "<u2").astype(np.int32)
        if levels.size != count:
            raise ValueError("wrong number of levels")
        return levels
    if len(data) % 4 or not spread > 0:
        raise ValueError("bad entropy-coded block")
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
    return np.asarray(coder.decode(_model(kind, bits, location, spread), count), dtype=np.int32)


# --- the file --------------------------------------------------------------------------------------


def encode_field(field: SinusoidalField, tensors: dict[str, QuantizedTensor], grid_shape: tuple[int, ...],
                 method: str, coder: Coder = "ans") -> Encoded:
    """The ``.stn`` bytes of a plain field (:func:`sinetune.quantize.plain_field`) and its quantised tensors.

    Args:
        field: the plain field (its architecture and, for TUNER, its input frequencies are stored).
        tensors: :func:`sinetune.quantize.quantize_field` of it (one bit depth and granularity).
        grid_shape: the image's ``(H, W)``: the grid :func:`decode_field` renders by default.
        method: the method name recorded (``tuner``, ``siren``; informational).
        coder: ``"ans"`` (constriction) or ``"zlib"`` (the baseline).
    """
    if coder not in CODERS:
        raise SinetuneError(f"coder must be one of {', '.join(CODERS)}, got {coder!r}")
    names = quantized_parameters(field)
    if sorted(names) != sorted(tensors):
        raise SinetuneError("the quantised tensors do not match the field's parameters")
    bits = tensors[names[0]].bits
    granularity = "column" if any(tensors[name].granularity == "column" for name in names) else "tensor"
    parameters = dict(field.named_parameters())
    header = {"grid": [int(n) for n in grid_shape], "channels": field.out_features, "method": method,
              "coder": coder, "bits": bits, "granularity": granularity, **architecture(field)}
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    parts, sizes = [], {"header": len(header_bytes) + len(MAGIC) + _FRAME.size + 4}
    if isinstance(field.encoding, SpectralEncoding):
        frequencies = encode_frequencies(field.encoding.input_frequencies.cpu().numpy())
        parts.append(struct.pack("<I", len(frequencies)) + frequencies)
        sizes["frequencies"] = len(parts[-1])
    for name in names:
        quantized = tensors[name]
        if quantized.bits != bits or quantized.zero.size != grid_count(tuple(parameters[name].shape), granularity):
            raise SinetuneError("every tensor of a file has the same bits and granularity")
        model, location, spread, coded = encode_levels(quantized, coder)
        grid = quantized.zero.astype("<f2").tobytes() + quantized.scale.astype("<f2").tobytes()
        parts.append(_RECORD.pack(model, location, spread, len(coded)) + grid + coded)
        sizes[name] = len(parts[-1])
    payload = b"".join(parts)
    body = _FRAME.pack(FORMAT_VERSION, len(header_bytes), len(payload)) + header_bytes + payload
    data = MAGIC + body + struct.pack("<I", zlib.crc32(body))
    return Encoded(data, sizes)


def _checked_body(data: bytes, where: str) -> tuple[dict[str, Any], bytes]:
    """``(header, payload)`` after the magic, version, lengths and checksum checks (one-line errors)."""
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise SinetuneError(f"{where} is not a sinetune .stn file (wrong magic number)")
    if len(data) < len(MAGIC) + _FRAME.size + 4:
        raise SinetuneError(f"{where} is truncated ({len(data)} bytes)")
    version, header_len, payload_len = _FRAME.unpack_from(data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise SinetuneError(f"{where} has .stn format version {version}; this sinetune reads version {FORMAT_VERSION}")
    end = len(MAGIC) + _FRAME.size + header_len + payload_len
    if len(data) < end + 4:
        raise SinetuneError(f"{where} is truncated ({len(data)} of {end + 4} bytes)")
    if len(data) > end + 4:
        raise SinetuneError(f"{where} is corrupt ({len(data) - end - 4} bytes after its end)")
    body = data[len(MAGIC):end]
    if zlib.crc32(body) != struct.unpack_from("<I", data, end)[0]:
        raise SinetuneError(f"{where} is corrupt (checksum mismatch)")
    start = _FRAME.size
    try:
        header = json.loads(body[start:start + header_len].decode())
    except (UnicodeDecodeError, ValueError):
        raise SinetuneError(f"{where} is corrupt (unreadable header)") from None
    if not isinstance(header, dict):
        raise SinetuneError(f"{where} is corrupt (header is not a mapping)")
    return header, body[start + header_len:]


def decode_field(data: bytes, where: str = "the data") -> tuple[SinusoidalField, dict[str, Any]]:
    """Rebuild the field of ``.stn`` bytes: ``(field, header)`` (CPU, float32, eval mode).

    ``header`` holds ``grid`` (``[H, W]``), ``channels``, ``method``, ``coder``, ``bits``,
    ``granularity`` and the architecture. ``where`` names the source in error messages.
    """
    header, payload = _checked_body(bytes(data), where)
    try:
        bits = check_bits(header["bits"])
        frequencies, offset = None, 0
        kind, _, inputs, width = header["encoding"]
        if kind == "spectral":
            (length,) = struct.unpack_from("<I", payload, 0)
            frequencies = decode_frequencies(payload[4:4 + length], int(width), int(inputs))
            offset = 4 + length
        field = field_from_architecture(header, frequencies)
        parameters = dict(field.named_parameters())
        for name in quantized_parameters(field):
            shape = tuple(parameters[name].shape)
            model, location, spread, length = _RECORD.unpack_from(payload, offset)
            offset += _RECORD.size
            if header["granularity"] not in ("tensor", "column"):
                raise ValueError("unknown granularity")
            columns = grid_count(shape, header["granularity"])
            grid = np.frombuffer(payload[offset:offset + 4 * columns], dtype="<f2")
            offset += 4 * columns
            if grid.size != 2 * columns or offset + length > len(payload):
                raise ValueError("payload too short")
            levels = decode_levels(model, location, spread, payload[offset:offset + length], int(np.prod(shape)),
                                   bits)
            offset += length
            zero, scale = (grid[:columns], grid[columns:]) if columns > 1 else (grid[0], grid[1])
            quantized = QuantizedTensor(levels.reshape(shape), np.asarray(zero, np.float16),
                                        np.asarray(scale, np.float16), bits)
            with torch.no_grad():
                parameters[name].copy_(quantized.dequantize())
        if offset != len(payload):
            raise ValueError("unused payload bytes")
        grid_shape = tuple(int(n) for n in header["grid"])
        if len(grid_shape) != int(inputs) or min(grid_shape) < 1:
            raise ValueError("bad grid")
    except (KeyError, TypeError, ValueError, IndexError, struct.error, zlib.error, RuntimeError,
            SinetuneError) as error:
        raise SinetuneError(f"{where} is corrupt ({str(error).splitlines()[0] if str(error) else 'bad payload'})"
                            ) from None
    return field.eval(), header


def write_stn(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` (``.stn``) atomically: a hidden sibling, flushed, then renamed.

    An existing file is replaced only with ``overwrite``; a bad suffix, a missing or unwritable
    folder is a one-line error.
    """
    path = check_output_file(path, (SUFFIX,), "a compressed image")
    if path.exists() and not overwrite:
        raise SinetuneError(f"{path} already exists; pass --overwrite to replace it")
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path


def read_stn(path: str | Path) -> tuple[SinusoidalField, dict[str, Any]]:
    """:func:`decode_field` of a file (a missing or unreadable file is one line too)."""
    path = Path(path)
    if not path.is_file():
        raise SinetuneError(f"no such .stn file: {path}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SinetuneError(f"cannot read {path}: {error.strerror or error}") from None
    return decode_field(data, str(path))


__all__ = ["CODERS", "FORMAT_VERSION", "MAGIC", "MAX_PARAMETERS", "SUFFIX", "Coder", "Encoded", "architecture",
           "decode_field", "decode_frequencies", "decode_levels", "encode_field", "encode_frequencies", "encode_levels",
           "field_from_architecture", "read_stn", "write_stn"]
