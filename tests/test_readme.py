"""Docs that run: every ```python and ```bash block of README.md and of docs/**/*.md is executed, so the
examples cannot rot.

How a block is run (the mechanism docs/guide.md's "Fitting from Python" note describes):

* in one scratch folder per page (README.md, docs/guide.md, …: a page's examples may use what its
  earlier blocks wrote, never another page's), blocks in page order, holding the files the examples
  name, generated here: ``speech.wav`` (1.01 s at 44.1 kHz), ``photo.png``, ``photos/*.png`` and
  ``kodak/*.png`` (small images);
* a ```python block is executed as it stands (each block must import what it uses);
* a ```bash block is run line by line: a ``sinetune …`` line through :func:`sinetune.cli.main`
  (in this process), anything else is an error unless the block is skipped;
* **tiny sizes**: the only rewrite is the number of optimizer steps — ``steps=N`` and ``--steps N``
  become :data:`STEPS`, and a line of any command that takes ``--steps`` (``fit``, ``fit-many``, a
  command added later) without it gets ``--steps STEPS`` — so an example runs for seconds, with every
  other value as printed;
* a block preceded by the line ``<!-- docs-test: skip (why) -->`` is not run (the synopsis, ``make``,
  a minutes-long study); the test checks each skip gives a reason.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import smooth_rgb, write_png

from sinetune.cli import build_parser, main
from sinetune.cli_reference import commands

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
STEPS = 2
SKIP = re.compile(r"<!-- docs-test: skip \((?P<why>[^)]+)\) -->\s*$")


def readme_blocks(text: str) -> list[tuple[int, str, str, str | None]]:
    """``(line, language, code, skip reason or None)`` of every fenced block with a language."""
    blocks, lines = [], text.splitlines()
    index = 0
    while index < len(lines):
        opening = re.match(r"^```(\w+)\s*$", lines[index])
        if not opening and lines[index].startswith("```"):  # a fence without a language: skip to its end
            index += 1
            while index < len(lines) and not lines[index].startswith("```"):
                index += 1
        elif opening:
            start = index
            index += 1
            body = []
            while not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            skip = SKIP.match(lines[start - 1]) if start else None
            blocks.append((start + 1, opening.group(1), "\n".join(body), skip.group("why") if skip else None))
        index += 1
    return blocks


def shrink_python(code: str) -> str:
    return re.sub(r"\bsteps=\d+", f"steps={STEPS}", code)


def _takes_steps() -> set[tuple[str, ...]]:
    """The commands (``("fit",)``, ``("data", "fetch")``, …) that accept ``--steps``."""
    return {tuple(prog.split()[1:]) for prog, parser, _ in commands(build_parser())
            if any("--steps" in action.option_strings for action in parser._actions)}


TAKES_STEPS = _takes_steps()


def shrink_command(argv: list[str]) -> list[str]:
    argv = [str(STEPS) if index and argv[index - 1] == "--steps" else arg for index, arg in enumerate(argv)]
    if "--steps" not in argv and any(tuple(argv[1:1 + len(command)]) == command for command in TAKES_STEPS):
        argv += ["--steps", str(STEPS)]
    return argv


#: ``(page, line, language, code, skip reason)`` of every python and bash block of every page
BLOCKS = [(page.relative_to(ROOT).as_posix(), *block) for page in PAGES for block in readme_blocks(page.read_text())
          if block[1] in ("python", "bash")]


def test_the_pages_have_runnable_blocks_and_every_skip_says_why():
    assert sum(block[4] is None for block in BLOCKS if block[0] == "README.md") >= 2  # both quick starts
    assert sum(block[4] is None for block in BLOCKS) >= 8
    assert all(block[4] for block in BLOCKS if block[4] is not None)
    assert shrink_command(["sinetune", "fit", "x.png", "--steps", "300"]) == ["sinetune", "fit", "x.png", "--steps",
                                                                              str(STEPS)]
    assert shrink_command(["sinetune", "render", "run"]) == ["sinetune", "render", "run"]
    assert shrink_command(["sinetune", "fit-many", "d/"]) == ["sinetune", "fit-many", "d/", "--steps", str(STEPS)]
    assert {("fit",), ("fit-many",)} <= TAKES_STEPS and ("render",) not in TAKES_STEPS


def _write_inputs(root: Path) -> None:
    """The files the examples name, in ``root``."""
    times = np.arange(44100 + 441) / 44100  # just over the 1 s (44100 samples) the examples crop
    voice = 0.4 * np.sin(2 * np.pi * 220 * times) * (1 + 0.5 * np.sin(2 * np.pi * 3 * times)) \
        + 0.2 * np.sin(2 * np.pi * 1250 * times)
    soundfile.write(root / "speech.wav", voice, 44100)
    write_png(root / "photo.png", smooth_rgb(120, 128))
    for folder, count in (("photos", 2), ("kodak", 2)):
        (root / folder).mkdir()
        for index in range(count):
            write_png(root / folder / f"{folder[:5]}{index:02d}.png", np.roll(smooth_rgb(120, 128), 9 * index, axis=1))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """``scratch(page)``: the folder that page's examples run in (made on first use), with the files they name."""
    folders: dict[str, Path] = {}

    def folder(page: str) -> Path:
        if page not in folders:
            folders[page] = tmp_path_factory.mktemp(page.replace("/", "-").removesuffix(".md"))
            _write_inputs(folders[page])
        return folders[page]

    return folder


@pytest.mark.parametrize("page, line, language, code, skip", BLOCKS, ids=[f"{b[0]}:{b[1]}-{b[2]}" for b in BLOCKS])
def test_block_runs(scratch, monkeypatch, capsys, page, line, language, code, skip):
    if skip:
        pytest.skip(skip)
    monkeypatch.chdir(scratch(page))
    monkeypatch.setenv("SINETUNE_MALLOC", "system")  # leave the test process's allocator alone
    if language == "python":
        exec(compile(shrink_python(code), f"{page}:{line}", "exec"), {"__name__": "__readme__"})
        return
    for command in code.splitlines():
        argv = shlex.split(command, comments=True)
        if not argv:
            continue
        assert argv[0] == "sinetune", f"{page}:{line}: only sinetune commands run here: {command}"
        code_ = main(shrink_command(argv)[1:])
        captured = capsys.readouterr()
        assert code_ == 0, f"{page}:{line}: {command}\n{captured.err}"
