"""Figures (render.py, analysis_figures.py): no global matplotlib state, and layouts that fit.

Every PNG a run directory and ``sinetune analyze`` write is captured as it is saved and checked:
all of each axes' decorations (title, axis labels, tick labels, colour bar) lie on the canvas, and no
two axes' decorations overlap (the clipped titles and the title over an axis label of issue #15).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile
from conftest import smooth_rgb, write_png
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from PIL import Image

import sinetune
from sinetune import TrainOptions, TunerOptions
from sinetune.analysis import analyze_run


def test_importing_sinetune_and_writing_figures_leaves_matplotlib_alone(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import matplotlib
        matplotlib.use("svg")  # the user's choice, before sinetune is imported
        import numpy as np
        import sinetune, sinetune.analysis, sinetune.analysis_figures
        from sinetune.render import save_curves, save_error
        save_error(np.zeros((8, 8, 3)), np.ones((8, 8, 3)), {str(tmp_path / "error.png")!r})
        save_curves([{{"step": 1, "loss": 1.0, "train_psnr": 10.0, "heldout_psnr": float("nan")}}],
                    {str(tmp_path / "curves.png")!r})
        print("pyplot" if "matplotlib.pyplot" in sys.modules else "no pyplot")
        print(matplotlib.get_backend())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": ".", "MPLBACKEND": "", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["no", "pyplot", "svg"]
    with Image.open(tmp_path / "error.png") as image:  # written without pyplot or a display
        assert image.size == (540, 460)


def layout_problems(figure: Figure) -> list[str]:
    """Decorations off the canvas, and pairs of axes whose decorations overlap (1 px tolerance)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()  # applies the layout engine as savefig does
    renderer = canvas.get_renderer()
    page = figure.bbox.padded(1)
    problems = []
    boxes = [(axis, axis.get_tightbbox(renderer)) for axis in figure.axes if axis.get_visible()]
    for axis, box in boxes:
        if not (page.containsx(box.x0) and page.containsx(box.x1) and page.containsy(box.y0)
                and page.containsy(box.y1)):
            problems.append(f"{axis.get_title()!r}: {box} leaves the canvas {figure.bbox}")
    for index, (first, first_box) in enumerate(boxes):
        for second, second_box in boxes[index + 1:]:
            common = Bbox.intersection(first_box, second_box)
            if common is not None and common.width > 1 and common.height > 1:
                problems.append(f"{first.get_title()!r} and {second.get_title()!r} overlap")
    return problems


@pytest.fixture
def saved_figures(monkeypatch):
    """``{file name: Figure}`` of every figure saved while the test runs."""
    saved = {}
    original = Figure.savefig

    def savefig(self, path, *args, **kwargs):
        saved[str(path).rsplit("/", 1)[-1]] = self
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


def test_image_run_and_analysis_figures_fit_their_canvas(tmp_path, saved_figures):
    image = write_png(tmp_path / "smooth.png", smooth_rgb(24, 24))
    sinetune.fit(str(image), "tuner", size=None, options=TunerOptions(input_width=10, hidden_width=12,
                                                                       band_fraction=0.5),
                 train_options=TrainOptions(steps=4, log_every=2), holdout=0.1, device="cpu", out=tmp_path / "run")
    analyze_run(tmp_path / "run", order=2)
    image.unlink()  # the "target not available" panel
    analyze_run(tmp_path / "run", order=1, out=tmp_path / "without-target")
    assert set(saved_figures) == {"error.png", "spectrum.png", "gradient.png", "curves.png",
                                  "analysis_spectrum.png", "analysis_bounds.png"}
    for name, figure in saved_figures.items():
        assert layout_problems(figure) == [], name
        assert (tmp_path / "run" / name).is_file()


def test_audio_run_figures_fit_their_canvas(tmp_path, saved_figures):
    time = np.arange(1200) / 8000
    soundfile.write(str(tmp_path / "tone.wav"), 0.5 * np.sin(2 * np.pi * 220 * time), 8000, subtype="FLOAT")
    sinetune.fit(str(tmp_path / "tone.wav"), "tuner", options=TunerOptions(input_width=16, hidden_width=16),
                 train_options=TrainOptions(steps=4, log_every=2), device="cpu", out=tmp_path / "run")
    assert set(saved_figures) == {"waveform.png", "error.png", "curves.png"}
    for name, figure in saved_figures.items():
        assert layout_problems(figure) == [], name


def test_layout_check_sees_a_clipped_title_and_an_overlap():
    figure = Figure(figsize=(3, 3), dpi=100)  # no layout engine: the title of a full-canvas axes is cut off
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set_title("a title above the canvas")
    assert any("leaves the canvas" in problem for problem in layout_problems(figure))
    figure = Figure(figsize=(4, 4), dpi=100)
    top, bottom = figure.add_axes((0.2, 0.55, 0.7, 0.4)), figure.add_axes((0.2, 0.1, 0.7, 0.4))
    top.set_xlabel("an x label")
    bottom.set_title("a title under it")
    assert any("overlap" in problem for problem in layout_problems(figure))
