"""The docs site (mkdocs.yml, docs/): it builds offline, the guide is the README, the API pages come
from the docstrings. Needs the optional extra ``.[docs]`` (``make docs`` installs it); skipped without."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_site_builds(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="the docs extra is not installed (pip install -e '.[docs]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    guide = (tmp_path / "site" / "index.html").read_text()
    assert "Quick start (Python)" in guide and "What sinetune promises" in guide  # README.md, included
    api = (tmp_path / "site" / "api" / "runs" / "index.html").read_text()
    assert "render_run" in api and "Fit a sinusoidal field to an image or a sound" in api  # from the docstrings
    assert "sinetune.progress.Progress" in (tmp_path / "site" / "api" / "progress" / "index.html").read_text()
