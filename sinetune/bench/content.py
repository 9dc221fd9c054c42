"""Content classes of ``sinetune bench generalization``: images generated in code, and any image fitted to a grid.

Every generator returns a ``(512, 512, C)`` float32 master in [0, 1] drawn from its own
``np.random.Generator``; a benchmark cell crops it to the cell's aspect and resamples it to the cell's grid
(:func:`to_grid`), exactly like the photographs, so one class shows the same content at every size.

* ``smooth-noise``: band-limited Gaussian noise (isotropic Gaussian spectrum, σ = 12 cycles per image), RGB;
* ``shapes``: 12 flat-coloured discs, rectangles and triangles on a flat ground, hard edges (4× supersampled), RGB;
* ``line-art``: black strokes and text on white (PIL's default font, scaled), grayscale;
* ``texture``: a periodic texture — three oriented gratings (9–24 cycles per image) times a
  checkerboard of 8 cells per side, RGB;
* ``white-noise``: i.i.d. uniform pixels (no held-out pixel is predictable from its neighbours: the
  class every interpolator must lose, reported separately).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MASTER = 512


def smooth_noise(rng: np.random.Generator) -> np.ndarray:
    """Band-limited Gaussian noise: white noise filtered by ``exp(-f² / 2σ²)``, σ = 12 cycles per image."""
    f = np.fft.fftfreq(MASTER) * MASTER
    radius2 = f[:, None] ** 2 + f[None, :] ** 2
    channels = []
    for _ in range(3):
        spectrum = np.fft.fft2(rng.standard_normal((MASTER, MASTER))) * np.exp(-radius2 / (2 * 12.0 ** 2))
        field = np.real(np.fft.ifft2(spectrum))
        channels.append((field - field.min()) / (field.max() - field.min()))
    return np.stack(channels, axis=-1).astype(np.float32)


def shapes(rng: np.random.Generator) -> np.ndarray:
    """Flat-coloured shapes with hard edges, drawn at 4× and area-averaged to the master size."""
    big = MASTER * 4
    ground = tuple(int(v) for v in rng.integers(0, 256, 3))
    image = Image.new("RGB", (big, big), ground)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = rng.uniform(0.05, 0.95, 2) * big
        r = rng.uniform(0.05, 0.2) * big
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        elif kind == 1:
            draw.rectangle((x - r, y - 0.6 * r, x + r, y + 0.6 * r), fill=colour)
        else:
            angles = rng.uniform(0, 2 * np.pi, 3)
            draw.polygon([(x + r * np.cos(a), y + r * np.sin(a)) for a in angles], fill=colour)
    return np.asarray(image.resize((MASTER, MASTER), Image.Resampling.BOX), dtype=np.float32) / 255.0


def line_art(rng: np.random.Generator) -> np.ndarray:
    """Black lines, circles and text on white, grayscale ``(512, 512, 1)``, drawn at 2× and area-averaged."""
    big = MASTER * 2
    image = Image.new("L", (big, big), 255)
    draw = ImageDraw.Draw(image)
    for _ in range(10):
        points = [tuple(rng.uniform(0, big, 2)) for _ in range(2)]
        draw.line(points, fill=0, width=int(rng.integers(3, 12)))
    for _ in range(4):
        x, y = rng.uniform(0.1, 0.9, 2) * big
        r = rng.uniform(0.05, 0.15) * big
        draw.ellipse((x - r, y - r, x + r, y + r), outline=0, width=int(rng.integers(3, 10)))
    font = ImageFont.load_default(size=96)
    for row, text in enumerate(("sinetune", "TUNER 17", "band-limit")):
        draw.text((60, 120 + 300 * row), text, fill=0, font=font)
    return (np.asarray(image.resize((MASTER, MASTER), Image.Resampling.BOX), dtype=np.float32) / 255.0)[..., None]


def texture(rng: np.random.Generator) -> np.ndarray:
    """Periodic texture: three oriented gratings (9–24 cycles per image) times an 8 × 8 checkerboard."""
    y, x = np.meshgrid(np.arange(MASTER) / MASTER, np.arange(MASTER) / MASTER, indexing="ij")
    checker = 0.75 + 0.25 * np.sign(np.sin(8 * np.pi * x) * np.sin(8 * np.pi * y))
    channels = []
    for _ in range(3):
        value = np.zeros_like(x)
        for _ in range(3):
            cycles, angle, phase = rng.uniform(9, 24), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
            value += np.cos(2 * np.pi * cycles * (x * np.cos(angle) + y * np.sin(angle)) + phase)
        channels.append(checker * (0.5 + value / 6.0))
    return np.clip(np.stack(channels, axis=-1), 0, 1).astype(np.float32)


def white_noise(rng: np.random.Generator) -> np.ndarray:
    """I.i.d. uniform pixels, RGB (unpredictable by construction)."""
    return rng.uniform(0, 1, (MASTER, MASTER, 3)).astype(np.float32)


#: Generated content classes: name → generator of a ``(512, 512, C)`` master.
SYNTHETIC: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "smooth-noise": smooth_noise, "shapes": shapes, "line-art": line_art, "texture": texture,
    "white-noise": white_noise,
}


def synthetic(name: str, seed: int = 0) -> np.ndarray:
    """The master of generated class ``name`` for ``seed`` (``np.random.default_rng([seed, index])``)."""
    index = list(SYNTHETIC).index(name)
    return SYNTHETIC[name](np.random.default_rng([seed, index]))


def to_grid(values: np.ndarray, grid_shape: tuple[int, int]) -> np.ndarray:
    """Centre-crop ``(H, W, C)`` values to the aspect of ``grid_shape`` and resample them onto it (Lanczos,
    antialiased, clipped to [0, 1]); ``(h, w, C)`` float32."""
    height, width = values.shape[:2]
    target_h, target_w = grid_shape
    if height * target_w > width * target_h:  # too tall
        crop_h, crop_w = round(width * target_h / target_w), width
    else:
        crop_h, crop_w = height, round(height * target_w / target_h)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    cropped = values[top:top + crop_h, left:left + crop_w]
    return resample(cropped, grid_shape)


def resample(values: np.ndarray, grid_shape: tuple[int, int],
             method: Image.Resampling = Image.Resampling.LANCZOS) -> np.ndarray:
    """``(H, W, C)`` values resampled to ``grid_shape`` with PIL (pixel-centre aligned), clipped to [0, 1]."""
    size = (grid_shape[1], grid_shape[0])
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(values[..., c], dtype=np.float32), mode="F")
                           .resize(size, method)) for c in range(values.shape[-1])]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


__all__ = ["MASTER", "SYNTHETIC", "resample", "synthetic", "to_grid"]
