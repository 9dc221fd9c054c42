"""What TUNER's two band rules choose on the benchmark signals (issue #4); no fitting.

For every Kodak image at 256² and every audio clip (first 1 s), prints the target's energy radius
``ν`` (the band holding 99% of its energy, as a fraction of Nyquist; :func:`sinetune.spectral.energy_radius`)
and the resolved ``band_limit`` / ``low_range`` of the default resolution rule and of
``band_rule="spectrum"``, with the benchmark shapes (kodak-256: width 256, one hidden layer; audio:
width 222). Where both rules resolve to the same options the fits are identical (same seed, same
options), so the benchmark needs no new run for those signals.

Run from the repository root::

    .venv/bin/python benchmarks/studies/band_rule.py                      # data from ../shared/data
    .venv/bin/python benchmarks/studies/band_rule.py --data /path/to/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sinetune import TunerOptions
from sinetune.methods import get_method
from sinetune.signals import load_audio, load_image


def resolved(options: TunerOptions, values: np.ndarray) -> TunerOptions:
    method = get_method("tuner")
    return method.resolve(method.prepare(options, values), values.shape[:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("..") / "shared" / "data")
    args = parser.parse_args()
    signals = [(f"kodim{i:02d}", load_image(args.data / "kodak" / f"kodim{i:02d}.png", size=256), 256)
               for i in range(1, 25)]
    signals += [(clip, load_audio(args.data / "audio" / f"{clip}.wav", duration=1.0), 222)
                for clip in ("bach", "counting", "trumpet", "speech")]
    print("| signal | ν (99%) | resolution rule b, l | spectrum rule b, l | spectrum band_fraction | same fit |")
    print("|---|---|---|---|---|---|")
    for name, signal, width in signals:
        values = np.asarray(signal.values)
        shape = {"input_width": width, "hidden_width": width}
        if signal.kind == "audio":
            shape["hidden_layers"] = 3
        default = resolved(TunerOptions(**shape), values)
        spectrum = resolved(TunerOptions(**shape, band_rule="spectrum"), values)
        same = (default.band_limit, default.low_range) == (spectrum.band_limit, spectrum.low_range)
        print(f"| {name} | {spectrum.energy_radius:.3f} | {default.band_limit}, {default.low_range} | "
              f"{spectrum.band_limit}, {spectrum.low_range} | {spectrum.band_fraction:.4f} | "
              f"{'yes' if same else 'no'} |")


if __name__ == "__main__":
    main()
