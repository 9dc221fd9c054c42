"""report.html (report.py): written with every run, self-contained, rewritten by ``sinetune report``;
and, where Chromium is installed, loaded in a real headless browser.

The browser test needs the optional extra ``pip install -e '.[browser]'`` (selenium) and Debian's
``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``); without them it
is skipped (``make test-browser`` installs both and runs it).
"""

from __future__ import annotations

import re
import shutil
import time

import numpy as np
import pytest
import soundfile
from conftest import run_cli, smooth_rgb, write_png

from sinetune.report import REPORT, curves_svg
from sinetune.rundir import check_run_dir

TINY = ("--steps", 6, "--device", "cpu", "--quiet", "--set", "input_width=16", "--set", "hidden_width=16",
        "--set", "band_fraction=0.3", "--set", "train.log_every=2")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An image run and a sound run made by ``sinetune fit``: ``{"image": dir, "audio": dir}``."""
    import io
    import sys

    from sinetune.cli import main

    root = tmp_path_factory.mktemp("report")
    write_png(root / "smooth.png", smooth_rgb(32, 32))
    times = np.arange(3000) / 8000
    soundfile.write(root / "tone.wav", 0.5 * np.sin(2 * np.pi * 300 * times), 8000)
    saved, sys.stdout = sys.stdout, io.StringIO()
    try:
        assert main(["fit", str(root / "smooth.png"), "--out", str(root / "image"), *map(str, TINY)]) == 0
        assert main(["fit", str(root / "tone.wav"), "--out", str(root / "audio"), *map(str, TINY)]) == 0
    finally:
        sys.stdout = saved
    return {"image": root / "image", "audio": root / "audio"}


def test_every_run_writes_a_self_contained_report(runs):
    for kind, run_dir in runs.items():
        page = (run_dir / REPORT).read_text()
        check_run_dir(run_dir)  # the report is derived: the run is still complete
        assert REPORT not in (run_dir / "manifest.json").read_text()
        assert not re.search(r"""(src|href)=["'](https?:)?//""", page), "the page must not reach the network"
        sources = re.findall(r"""<(?:img|audio)[^>]* src="([^"]+)\"""", page)
        assert sources and all(source.startswith("data:") for source in sources)
        assert 'id="psnr-curve"' in page and "<polyline" in page
    image = (runs["image"] / REPORT).read_text()
    assert image.count("<img ") == 6  # target, reconstruction, error, spectrum, gradient, curves
    assert ">target<" in image and "tuner on smooth" in image and "<audio" not in image
    audio = (runs["audio"] / REPORT).read_text()
    assert audio.count("<audio ") == 2 and "3000 samples at 8000 Hz" in audio


def test_sinetune_report_adds_later_figures_and_keeps_the_run_valid(runs, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(runs["image"], run_dir)
    code, out, err = run_cli(capsys, "render", run_dir, "--size", 48)
    assert code == 0, err
    code, out, err = run_cli(capsys, "report", run_dir)
    assert code == 0 and out.strip() == f"wrote {run_dir / REPORT}"
    assert "render-48x48.png" in (run_dir / REPORT).read_text()
    check_run_dir(run_dir)
    code, _, err = run_cli(capsys, "report", tmp_path / "nowhere")
    assert code == 2 and err.startswith("sinetune: error: no such run directory")


def test_curves_svg_scales_the_history():
    history = [{"step": 10.0, "train_psnr": 20.0, "heldout_psnr": float("nan")},
               {"step": 20.0, "train_psnr": 25.0, "heldout_psnr": float("nan")}]
    svg = curves_svg(history, width=200, height=100)
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert points == ["48.0,70.0", "190.0,10.0"]  # first step bottom left (lowest PSNR), the best at the top
    assert svg.count("<polyline") == 1 and curves_svg([]) == ""


def _browser():
    """A headless Chromium driven by selenium, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e '.[browser]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Chromium or chromedriver not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1600", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_the_report_loads_in_a_headless_browser(runs, tmp_path):
    browser = _browser()
    try:
        for kind, run_dir in runs.items():
            browser.get((run_dir / REPORT).resolve().as_uri())
            errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
            assert errors == [], f"{kind}: console errors {errors}"
            images = browser.execute_script(
                "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
            assert images and all(done and width > 0 and height > 0 for done, width, height in images), kind
            if kind == "audio":
                browser.execute_script("document.querySelectorAll('audio').forEach(a => a.load())")
                states = browser.execute_script("""
                    const audios = Array.from(document.querySelectorAll('audio'));
                    return audios.map(a => [a.readyState, a.duration, a.error && a.error.code]);""")
                for _ in range(50):  # decoding is asynchronous: wait until the metadata is in
                    if all(state >= 1 for state, _, _ in states):
                        break
                    time.sleep(0.1)
                    states = browser.execute_script(
                        "return Array.from(document.querySelectorAll('audio')).map(a => [a.readyState, a.duration, "
                        "a.error && a.error.code])")
                assert len(states) == 2 and all(error is None for _, _, error in states), states
                assert all(duration == pytest.approx(3000 / 8000, abs=1e-3) for _, duration, _ in states), states
            # clicking an image zooms it (the page's one script), clicking again restores it
            first = browser.find_element("css selector", ".frame img")
            width = first.size["width"]
            first.click()
            assert "zoomed" in first.get_attribute("class") and first.size["width"] != width
            first.click()
            shot = tmp_path / f"{kind}.png"
            browser.save_screenshot(str(shot))
            from PIL import Image

            with Image.open(shot) as picture:
                pixels = np.asarray(picture.convert("L"), dtype=np.float64)
            assert pixels.std() > 10, f"{kind}: the screenshot is blank"
    finally:
        browser.quit()


RESULTS = {"benchmark": "kodak-256", "steps": 3, "rows": [
    {"image": "kodim01", "method": "tuner", "heldout_psnr": 25.5, "ssim": 0.8, "diverged": False},
    {"image": "kodim01", "method": "siren", "heldout_psnr": 27.25, "ssim": None, "diverged": False},
    {"image": "kodim02", "method": "tuner", "heldout_psnr": 21.0, "ssim": 0.7, "diverged": False}],
    "means": {"tuner": {"heldout_psnr": 23.25, "ssim": 0.75}, "siren": {"heldout_psnr": 27.25, "ssim": None}}}


def test_a_benchmark_page_from_its_results(tmp_path, capsys):
    import json

    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    code, out, err = run_cli(capsys, "report", tmp_path)
    assert code == 0 and out.strip() == f"wrote {tmp_path / REPORT}"
    page = (tmp_path / REPORT).read_text()
    assert page.count('class="sortable"') == 2 and page.count("<svg") == 2  # a chart per numeric mean column
    assert 'data-value="27.25">27.25</td>' in page and 'data-value="NaN">–</td>' in page
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)


def test_the_benchmark_page_sorts_in_a_headless_browser(tmp_path):
    import json

    from sinetune.bench.page import write_bench_page

    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    browser = _browser()
    try:
        browser.get(write_bench_page(tmp_path).resolve().as_uri())
        assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
        column = "return Array.from(document.querySelectorAll('#rows tbody tr')).map(r => r.cells[2].textContent)"
        header = browser.find_elements("css selector", "#rows th")[2]
        assert header.text == "heldout_psnr"
        header.click()
        assert browser.execute_script(column) == ["21", "25.5", "27.25"]
        header.click()
        assert browser.execute_script(column) == ["27.25", "25.5", "21"]
    finally:
        browser.quit()


def test_large_images_are_shown_downsampled(runs, tmp_path, monkeypatch):
    import sinetune.report as report

    monkeypatch.setattr(report, "MAX_SHOWN_SIDE", 16)  # the 32² run stands in for a large one
    page = report.build_report(runs["image"])
    assert "<figcaption>target (shown at 16×16)</figcaption>" in page  # the run's files keep every pixel
    assert "<figcaption>reconstruction (the field on the training grid) (shown at 16×16)</figcaption>" in page
