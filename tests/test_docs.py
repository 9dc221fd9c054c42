"""The README's option reference covers every option (it is the config documentation users read)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sinetune import SirenOptions, TrainOptions, TunerOptions

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("options", [TunerOptions, SirenOptions, TrainOptions])
def test_readme_documents_every_option(options):
    missing = [f.name for f in dataclasses.fields(options) if f"`{f.name}`" not in README]
    assert not missing, f"README does not document {options.__name__} options: {missing}"


def test_readme_states_the_tuner_defaults():
    defaults = TunerOptions()
    assert f"| `band_fraction` | {defaults.band_fraction} |" in README
    assert f"| `period` | {defaults.period} |" in README
    assert f"| `block_bounds` | [{', '.join(map(str, defaults.block_bounds))}] |" in README
