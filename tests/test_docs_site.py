"""The docs site (mkdocs.yml, docs/): every page in the nav and in README.md's "Docs" list; it builds
offline with no broken link or anchor; the home page is README.md's top part, the API pages come from the
docstrings. The build needs the optional extra ``.[docs]`` (``make docs`` installs it); skipped without."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _nav_pages(entries) -> list[str]:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_page_is_in_the_nav_and_in_the_readme_docs_list():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # tags aside: plain strings
    nav = _nav_pages(config["nav"])
    pages = sorted(path.relative_to(ROOT / "docs").as_posix() for path in (ROOT / "docs").rglob("*.md"))
    assert sorted(nav) == pages, "a docs/ page missing from mkdocs.yml's nav, or a nav entry without its page"
    docs_list = (ROOT / "README.md").read_text().split("\n## Docs\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"\]\(docs/([\w./-]+\.md)\)", docs_list))
    reference = {page for page in pages if "/" not in page} - {"index.md", "benchmarks.md"}  # home; BENCHMARKS.md
    assert reference <= listed, f"README.md's Docs list lacks {sorted(reference - listed)}"
    assert listed <= set(pages), f"README.md's Docs list names missing pages {sorted(listed - set(pages))}"


def _broken_links(log: str) -> list[str]:
    """mkdocs' link and anchor warnings, less links of docs/benchmarks.md (BENCHMARKS.md, included) that
    exist from the repository root, as on GitHub."""
    broken = []
    for line in log.splitlines():
        if "WARNING" not in line or "link" not in line:
            continue
        match = re.search(r"Doc file '([^']+)' contains a link '([^'#]+)'", line)
        if match and match.group(1) == "benchmarks.md" and (ROOT / match.group(2)).exists():
            continue
        broken.append(line)
    return broken


def test_broken_link_filter():
    log = ("WARNING -  Doc file 'benchmarks.md' contains a link 'benchmarks/results', but the target is not found\n"
           "WARNING -  Doc file 'cli.md' contains a link 'nowhere.md', but the target is not found\n"
           "WARNING -  griffe: sinetune/many.py:133: No type or annotation for parameter\n")
    assert _broken_links(log) == [log.splitlines()[1]]


def test_the_hook_unescapes_pipes_in_table_code_only():
    spec = importlib.util.spec_from_file_location("hook", ROOT / "docs" / "hooks" / "table_code_pipes.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    text = "| `a\\|b` | c \\| d |\n`x\\|y` outside a table"
    assert hook.on_page_markdown(text) == "| `a|b` | c \\| d |\n`x\\|y` outside a table"


def test_the_docs_site_builds(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="the docs extra is not installed (pip install -e '.[docs]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    assert not _broken_links(done.stderr), "\n".join(_broken_links(done.stderr))
    site = tmp_path / "site"
    home = (site / "index.html").read_text()
    assert "Quick start (Python)" in home and "TUNER" in home and "--8&lt;--" not in home  # README.md's top, included
    assert "What sinetune promises" in (site / "promises" / "index.html").read_text()
    cli = (site / "cli" / "index.html").read_text()
    assert "sinetune data fetch" in cli and "<code>--device auto|cpu|cuda</code>" in cli  # generated, pipes shown
    api = (site / "api" / "runs" / "index.html").read_text()
    assert "render_run" in api and "Fit a sinusoidal field to an image or a sound" in api  # from the docstrings
    assert "sinetune.progress.Progress" in (site / "api" / "progress" / "index.html").read_text()
