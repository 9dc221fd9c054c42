"""``sinetune bench prune`` (issue #13): the tech report's pruning table and growing against a fixed dictionary.

**Pruning** (TR-24-02 §7.2.3, Fig. 17): per Kodak image and method (TUNER and SIREN, one hidden layer,
width ``width`` for the first layer and the hidden layer, ``steps`` steps at the method's default
learning rate in the derived batches (:mod:`sinetune.batching`: full batch up to 32768 training samples,
else 16384) or ``batch_size``, 5% held out, seed 0 — the ``kodak-256`` protocol at ``size``), the fitted
field is pruned (:func:`sinetune.pruning.prune_field`, default :class:`~sinetune.pruning.PruneOptions`,
rows and columns) to 25%, then 50%, then 75% of its hidden weights removed, each level continuing from
the last. Per level: the held-out PSNR and SSIM, the PSNR **kept** (``100 · PSNR / PSNR before pruning``,
the report's relative accuracy), the drop in dB from before pruning, and the drop against the *unpruned*
field trained for as many more steps (the same phases with nothing cut; in mini-batches it draws the
pruning's batches, step for step), so extra fine-tuning is not counted as pruning being free. The
pruning phases run in ``prune_options.train``'s batches (full by default) unless ``batch_size`` is given.

**Growing** (TR §8): TUNER grown from 4 atoms (:func:`sinetune.growing.grow_field`, 8 per round, 50 steps
a round, 100 final) until it reaches the held-out PSNR of the fixed ``width``-atom TUNER above, or
``width`` atoms; against it, a fixed dictionary of as many atoms (TUNER's sampler) trained as many
steps, and the ``width``-atom one trained as many steps.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..errors import SinetuneError
from ..growing import GrowOptions, grow_field
from ..methods import TunerOptions
from ..metrics import psnr, ssim
from ..progress import Progress, as_progress
from ..pruning import PruneOptions, describe_size, prune_field
from ..render import render_field
from ..runs import prepare_fit, resolve_device, train_and_finish
from ..signals import load_image
from ..training import TrainOptions, train
from .data import benchmark_data
from .kodak import _config, _find_images
from .report import BenchReport, as_json_row, fresh_dir, write_report

FRACTIONS = (0.25, 0.5, 0.75)
COLUMNS = (("heldout_psnr", "held-out PSNR", 2), ("ssim", "SSIM", 4), ("kept_percent", "PSNR kept %", 2),
           ("drop_db", "drop dB", 2), ("drop_vs_equal_db", "drop vs unpruned, same steps", 2),
           ("removed_fraction", "removed", 3), ("input_atoms", "n_0", 0), ("hidden_units", "n_1", 0),
           ("steps", "steps", 0))


def _score(field: torch.nn.Module, signal, mask: np.ndarray) -> dict[str, float]:
    prediction = render_field(field, signal.grid_shape)
    flat, target = prediction.reshape(-1, signal.channels), signal.values.reshape(-1, signal.channels)
    return {"heldout_psnr": psnr(flat[mask], target[mask]), "ssim": ssim(prediction, signal.values)}


def run_prune(
    data_dir: Path | None = None,
    images: list[str] | None = None,
    methods: list[str] = ("tuner", "siren"),
    steps: int = 500,
    size: int = 128,
    width: int = 128,
    seed: int = 0,
    device: str = "auto",
    out: Path | None = None,
    progress: bool | Progress = False,
    overrides: dict[str, dict[str, Any]] | None = None,
    fractions: tuple[float, ...] = FRACTIONS,
    grow: bool = True,
    prune_options: PruneOptions | None = None,
    grow_options: GrowOptions | None = None,
    batch_size: int | Literal["full"] | None = None,
    finetune_steps: int | tuple[int, ...] | None = None,
) -> BenchReport:
    """Run ``prune`` and write ``results.json`` / ``results.md`` to ``out`` (default ``bench-runs/prune[-N]``).

    Args:
        data_dir: folder with ``kodimNN.png`` (default the data cache's ``kodak/``).
        images: subset (default ``03, 19, 23``); methods: the pruned methods (TUNER and SIREN).
        steps: training steps of the fit before pruning (and of the fixed dictionary growing is held to).
        size, width: image side and network width; fractions: the cumulative pruning levels.
        grow: also run the growing comparison (TUNER only).
        prune_options, grow_options: ``None`` = the defaults (``grow_options.max_input_width`` = ``width``,
            its ``target_psnr`` = the fixed dictionary's held-out PSNR, always).
        batch_size: samples per step of *every* training here — the fit before pruning, the pruning
            phases, the unpruned control, growing — or ``"full"``; ``None``: the fit's derived batches
            (:mod:`sinetune.batching`) and ``prune_options.train.batch_size`` / ``grow_options.train``'s.
        finetune_steps: the fine-tune length ``e_rec`` of each round (``None``: ``prune_options``'), or
            several lengths, e.g. ``(100, 400, 1200)``: the rounds fine-tune for the longest, and each
            level gets one row per length ``k``, read from the held-out PSNR logged at fine-tune step
            ``k`` of the pruned field and at the same step of the control. With a constant learning rate
            the first ``k`` steps of a longer run are those of a ``k``-step run (the mini-batch order is
            drawn lazily), so each row is the ``k``-step fine-tune's; lengths must therefore be multiples of
            ``prune_options.train.log_every`` and the schedule constant. Later levels continue from the longest.
    """
    if steps < 1:
        raise SinetuneError(f"steps must be positive, got {steps}")
    if list(fractions) != sorted(fractions) or not all(0 < f < 1 for f in fractions):
        raise SinetuneError("fractions must be increasing and in (0, 1)")
    prune_options, lengths = _finetune_lengths(prune_options or PruneOptions(), finetune_steps)
    grow_options = replace(grow_options or GrowOptions(), max_input_width=width)
    if batch_size is not None:
        replace(TrainOptions(), batch_size=batch_size).validate()
        prune_options = replace(prune_options, train=replace(prune_options.train, batch_size=batch_size))
        grow_options = replace(grow_options, train=replace(grow_options.train, batch_size=batch_size))
    paths = _find_images(benchmark_data(data_dir, "kodak", "prune", "the Kodak images kodimNN.png"),
                         images or ["03", "19", "23"])
    torch_device = resolve_device(device)
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / "prune")
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "results.json").exists():
        raise SinetuneError(f"{out_dir / 'results.json'} already exists; choose another --out")
    header = {"benchmark": "prune", "steps": steps, "size": size, "width": width, "seed": seed, "holdout": 0.05,
              "fractions": list(fractions), "device": str(torch_device), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "overrides": overrides or {}, "batch_size": batch_size,
              "finetune_lengths": list(lengths), "prune_options": _plain(prune_options),
              "grow_options": _plain(grow_options)}
    title = (f"prune: Kodak {size}², width {width}, {steps} steps before pruning, device {torch_device}, "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    report, say = BenchReport(out_dir=out_dir), as_progress(progress)
    for path in paths:
        signal = load_image(path, size)
        for method in methods:
            say.note(f"bench prune: {path.stem} × {method}")
            config = _config(path, method, size, width, steps, seed, 0.05, device, overrides or {})
            if batch_size is not None:
                config = replace(config, train=replace(config.train, batch_size=batch_size))
            prepared = prepare_fit(config, signal)
            fitted = train_and_finish(prepared, None, progress=say)
            base = _score(fitted.field, signal, prepared.mask)
            _rows_for_pruning(report, path.stem, method, prepared, base, prune_options, fractions, lengths, say)
            if grow and method == "tuner":
                _rows_for_growing(report, path.stem, prepared, base, grow_options, config.train.lr, say)
            _write(report, header, out_dir, title)
    _write(report, header, out_dir, title)
    return report


def _finetune_lengths(options: PruneOptions, finetune_steps: int | tuple[int, ...] | None,
                      ) -> tuple[PruneOptions, tuple[int, ...]]:
    """``options`` with the longest fine-tune, and the sorted lengths rows are read at (``run_prune``)."""
    if finetune_steps is None:
        return options, (options.finetune_steps,)
    lengths = tuple(sorted(set((finetune_steps,) if isinstance(finetune_steps, int) else finetune_steps)))
    if not lengths or lengths[0] < 1:
        raise SinetuneError(f"fine-tune lengths must be positive, got {finetune_steps}")
    if len(lengths) > 1:
        every = options.train.log_every
        if any(k % every for k in lengths[:-1]):
            raise SinetuneError(f"fine-tune lengths must be multiples of the pruning log_every ({every}), "
                                f"got {', '.join(map(str, lengths))}")
        if options.train.lr_schedule != "constant":
            raise SinetuneError("several fine-tune lengths need a constant learning rate (each is read from "
                                "the longest run)")
    return replace(options, finetune_steps=lengths[-1]), lengths


def _logged_heldout(history: list[dict[str, float]], step: int) -> float:
    """The held-out PSNR logged at ``step`` (NaN if that step was not logged or not reached)."""
    return next((row["heldout_psnr"] for row in history if row["step"] == step), float("nan"))


def _rows_for_pruning(report: BenchReport, image: str, method: str, prepared, base: dict[str, float],
                      options: PruneOptions, fractions: tuple[float, ...], lengths: tuple[int, ...],
                      say: Progress) -> None:
    built, lr, mask = prepared.built, prepared.config.train.lr, prepared.mask
    coords, values, heldout = prepared.training_data()
    start = describe_size(built.field)
    report.rows.append(as_json_row({"image": image, "method": f"{method} unpruned", **base, "kept_percent": 100.0,
                                    "drop_db": 0.0, "drop_vs_equal_db": 0.0, "removed_fraction": 0.0,
                                    "input_atoms": start["input_atoms"], "hidden_units": start["hidden_units"],
                                    "parameters": start["parameters"], "steps": 0}))
    current, constraints, penalties = built.field, built.constraints, built.penalties
    reference = copy.deepcopy((built.field, built.constraints, built.penalties))  # unpruned, trained as long
    # the control draws the same mini-batches, step for step, as the pruning phases
    batches = None if prepared.generator is None else torch.Generator().set_state(prepared.generator.get_state())
    removed_before, steps_done = 0.0, 0
    for fraction in fractions:
        relative = 1.0 - (1.0 - fraction) / (1.0 - removed_before)
        pruned = prune_field(current, coords, values, replace(options, target_fraction=relative), lr,
                             constraints=constraints, penalties=penalties, heldout=heldout,
                             generator=prepared.generator, progress=say)
        current, constraints, penalties = pruned.field, pruned.constraints, pruned.penalties
        start_of_finetune = pruned.steps - options.finetune_steps
        # the control logs (nothing else changes) wherever the pruned field's fine-tune did
        every = math.gcd(options.train.log_every, start_of_finetune) if len(lengths) > 1 else options.train.log_every
        control = train(reference[0], coords, values,
                        replace(options.train, steps=max(pruned.steps, 1), log_every=every), lr,
                        reference[1], reference[2], heldout=heldout if len(lengths) > 1 else None,
                        generator=batches)
        removed_before = 1.0 - pruned.after["hidden_weights"] / start["hidden_weights"]
        level = f"{method} pruned {round(100 * fraction)}%"
        common = {"removed_fraction": removed_before, "input_atoms": pruned.after["input_atoms"],
                  "hidden_units": pruned.after["hidden_units"], "parameters": pruned.after["parameters"],
                  "rounds": len(pruned.rounds)}
        for length in lengths[:-1]:  # read from the longest fine-tune (see run_prune)
            at = start_of_finetune + length
            scored = {"heldout_psnr": _logged_heldout(pruned.history, at), "ssim": float("nan")}
            equal = _logged_heldout(control.history, at)
            report.rows.append(as_json_row(_level_row(image, f"{level}, fine-tune {length}", scored, equal, base,
                                                      common, steps_done + at)))
        steps_done += pruned.steps
        label = level if len(lengths) == 1 else f"{level}, fine-tune {lengths[-1]}"
        report.rows.append(as_json_row(_level_row(image, label, _score(current, prepared.signal, mask),
                                                  _score(reference[0], prepared.signal, mask)["heldout_psnr"],
                                                  base, common, steps_done)))


def _level_row(image: str, label: str, scored: dict[str, float], equal: float, base: dict[str, float],
               common: dict[str, Any], steps: int) -> dict[str, Any]:
    return {"image": image, "method": label, **scored,
            "kept_percent": 100.0 * scored["heldout_psnr"] / base["heldout_psnr"],
            "drop_db": base["heldout_psnr"] - scored["heldout_psnr"],
            "drop_vs_equal_db": equal - scored["heldout_psnr"], "unpruned_same_steps_psnr": equal,
            **common, "steps": steps}


def _rows_for_growing(report: BenchReport, image: str, prepared, base: dict[str, float], options: GrowOptions,
                      lr: float, say: Progress) -> None:
    signal, mask, tuner = prepared.signal, prepared.mask, prepared.config.options
    grown = grow_field(signal, replace(options, target_psnr=base["heldout_psnr"]), tuner, mask=mask, lr=lr,
                       generator=torch.Generator().manual_seed(prepared.config.seed), device=prepared.device,
                       progress=say)
    scored = _score(grown.field, signal, mask)
    atoms = len(grown.input_frequencies)

    def row(label: str, values: dict[str, float], n0: int, steps: int) -> dict[str, Any]:
        return as_json_row({"image": image, "method": label, **values, "input_atoms": n0,
                            "hidden_units": tuner.hidden_width, "steps": steps,
                            "kept_percent": 100.0 * values["heldout_psnr"] / base["heldout_psnr"],
                            "drop_db": base["heldout_psnr"] - values["heldout_psnr"]})

    report.rows.append(row("tuner grown", scored, atoms, grown.steps))
    for label, n0 in (("tuner fixed, as many atoms, same steps", atoms),
                      ("tuner fixed, all atoms, same steps", tuner.input_width)):
        config = replace(prepared.config, options=replace(TunerOptions(**{**tuner.__dict__, "input_frequencies": None,
                                                                          "input_width": n0})),
                         train=replace(prepared.config.train, steps=grown.steps))
        fixed = prepare_fit(config, signal)
        train_and_finish(fixed, None, progress=say)
        report.rows.append(row(label, _score(fixed.built.field, signal, mask), n0, grown.steps))


def _plain(options: Any) -> dict[str, Any]:
    from ..config import options_to_dict

    return options_to_dict(options)


def _write(report: BenchReport, header: dict[str, Any], out_dir: Path, title: str) -> None:
    order = list(dict.fromkeys(row["method"] for row in report.rows))
    write_report(report, header, order, out_dir, "image", COLUMNS, title)


__all__ = ["FRACTIONS", "run_prune"]
