"""``sinetune prune`` / :func:`sinetune.run_pruning.prune_run` on tiny generated images (no shared data)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from conftest import assert_one_line_error, run_cli, smooth_rgb, write_png

import sinetune
from sinetune import TrainOptions, TunerOptions
from sinetune.errors import SinetuneError
from sinetune.methods import SirenOptions
from sinetune.pruning import PruneOptions
from sinetune.run_pruning import prune_run
from sinetune.runs import load_run
from sinetune.structure import hidden_shape

QUICK = PruneOptions(decay_steps=5, targeted_steps=5, finetune_steps=5, threshold=0.3)


def _digest(folder) -> dict[str, str]:
    """Every file under ``folder`` (names and bytes), to show a run was not touched."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _fit(tmp_path, method="tuner", options=None, name="run"):
    image = write_png(tmp_path / f"{name}.png", smooth_rgb(32, 32))
    options = options or TunerOptions(input_width=16, hidden_width=16, band_fraction=0.3)
    sinetune.fit(str(image), method, size=None, options=options, train_options=TrainOptions(steps=20),
                 seed=3, holdout=0.1, device="cpu", out=tmp_path / name)
    return tmp_path / name, image


@pytest.mark.parametrize("method, options", [
    ("tuner", TunerOptions(input_width=16, hidden_width=16, band_fraction=0.3)),
    ("siren", SirenOptions(input_width=16, hidden_width=16, hidden_layers=1)),
])
def test_prune_run_writes_a_smaller_run_that_rebuilds_and_renders(tmp_path, method, options):
    source, _ = _fit(tmp_path, method, options)
    untouched = _digest(source)
    result = prune_run(source, 0.25, tmp_path / "pruned", QUICK, device="cpu")
    assert _digest(source) == untouched  # the source run is only read
    field, config, _ = load_run(tmp_path / "pruned")  # rebuilt from its own config.yaml, strictly
    rows, columns = hidden_shape(field)
    assert rows * columns <= 0.75 * 16 * 16 and (rows, columns) != (16, 16)
    assert (config.options.hidden_width, config.options.input_width) == (rows, columns)
    assert field.hidden[0].weight.shape == (rows, columns)  # real shapes, not zeros
    if method == "tuner":
        assert len(config.options.input_frequencies) == columns
        assert torch.equal(field.encoding.input_frequencies,
                           torch.tensor(config.options.input_frequencies, dtype=torch.int64))
    saved = json.loads((tmp_path / "pruned" / "metrics.json").read_text())
    prune = saved["prune"]
    assert prune["before"]["hidden_weights"] == 256 and prune["after"]["hidden_weights"] == rows * columns
    assert prune["removed_fraction"] >= 0.25
    assert prune["after"]["heldout_psnr"] == pytest.approx(saved["heldout_psnr"], abs=1e-3)
    source_metrics = json.loads((source / "metrics.json").read_text())
    assert prune["before"]["heldout_psnr"] == pytest.approx(source_metrics["heldout_psnr"], abs=1e-3)
    assert result.after["parameters"] < result.before["parameters"]
    assert saved["steps"] == result.pruning.steps > 0
    rendered = sinetune.render_run(tmp_path / "pruned", 48)
    assert rendered.is_file()


def test_prune_cli_and_its_one_line_errors(tmp_path, capsys):
    source, image = _fit(tmp_path)
    untouched = _digest(source)
    code, out, err = run_cli(capsys, "prune", source, "--fraction", "0.25", "-o", tmp_path / "new", "--device", "cpu",
                             "--finetune-steps", "5", "--quiet")
    assert code == 0, err
    assert "wrote" in out and "→" in out
    assert _digest(source) == untouched
    new = _digest(tmp_path / "new")
    for argv, fragment in [
        (("--fraction", "1.5", "-o", tmp_path / "x"), "fraction must be in (0, 1)"),
        (("--fraction", "0", "-o", tmp_path / "x"), "fraction must be in (0, 1)"),
        (("--fraction", "0.25", "-o", tmp_path / "new"), "already exists"),
        (("--fraction", "0.25", "-o", source, "--overwrite"), "source run"),
        (("--fraction", "0.25", "-o", source / "inner"), "source run"),
    ]:
        code, _, err = run_cli(capsys, "prune", source, *argv)
        assert_one_line_error(code, err, fragment)
    code, _, err = run_cli(capsys, "prune", tmp_path / "missing", "--fraction", "0.25", "-o", tmp_path / "y")
    assert_one_line_error(code, err, "no such run directory")
    assert _digest(source) == untouched and _digest(tmp_path / "new") == new  # nothing overwritten
    assert not (tmp_path / "x").exists() and not (source / "inner").exists()
    image.unlink()  # the signal is gone: pruning cannot fine-tune
    code, _, err = run_cli(capsys, "prune", source, "--fraction", "0.25", "-o", tmp_path / "z")
    assert_one_line_error(code, err, "cannot load the signal")
    assert not (tmp_path / "z").exists()


def test_prune_run_with_several_hidden_layers_prunes_columns_only(tmp_path):
    options = TunerOptions(input_width=16, hidden_width=12, hidden_layers=2, band_fraction=0.3)
    source, _ = _fit(tmp_path, options=options)
    with pytest.raises(SinetuneError, match="only input atoms"):
        prune_run(source, 0.25, tmp_path / "rows", QUICK, device="cpu")
    prune_run(source, 0.2, tmp_path / "cols", PruneOptions(**{**QUICK.__dict__, "axes": "columns"}), device="cpu")
    field, config, _ = load_run(tmp_path / "cols")
    assert hidden_shape(field)[1] == config.options.input_width < 16
    assert field.hidden[1].weight.shape == (12, 12)


def test_prune_cli_keeps_the_full_batch_unless_asked(monkeypatch, tmp_path, capsys):
    """``--batch-size`` left out keeps PruneOptions' full batch (the protocol bench prune measured)."""
    import sinetune.run_pruning
    from sinetune.errors import SinetuneError

    seen = []

    def fake(run_dir, fraction, out_dir, options, **kwargs):
        seen.append(options.train.batch_size)
        raise SinetuneError("stopped here")

    monkeypatch.setattr(sinetune.run_pruning, "prune_run", fake)
    for extra in ([], ["--batch-size", "64"]):
        run_cli(capsys, "prune", tmp_path / "run", "--fraction", "0.25", "-o", tmp_path / "new", *extra)
    assert seen == ["full", 64]
