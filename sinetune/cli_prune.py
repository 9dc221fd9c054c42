"""The ``prune`` command: a thin layer over :func:`sinetune.run_pruning.prune_run` (registered by
:mod:`sinetune.cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .progress import Progress


def add_prune_command(commands: argparse._SubParsersAction) -> None:
    """Add ``prune`` to the ``sinetune`` sub-command parser ``commands``."""
    from .pruning import PruneOptions

    defaults = PruneOptions()
    prune = commands.add_parser("prune", help="prune a saved run's hidden matrix (rows and columns really removed) "
                                              "into a new, smaller run directory")
    prune.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a saved run (only read)")
    prune.add_argument("--fraction", type=float, required=True, metavar="F",
                       help="share of the hidden matrix's weights to remove, in (0, 1) (0.25: a quarter)")
    prune.add_argument("-o", "--out", type=Path, required=True, metavar="NEW_RUN_DIR",
                       help="the new run directory (must not exist, unless --overwrite; never the source run)")
    prune.add_argument("--axes", choices=("both", "rows", "columns"), default=defaults.axes,
                       help=f"what may be cut: input atoms (columns), hidden units (rows) or both (default "
                            f"{defaults.axes}; a run with several hidden layers: columns only)")
    prune.add_argument("--finetune-steps", type=int, metavar="N", default=defaults.finetune_steps,
                       help=f"MSE steps after each cut (default {defaults.finetune_steps})")
    prune.add_argument("--batch-size", type=int, metavar="N",
                       help="points per training step of every phase (default: full batch)")
    prune.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="where the decay and fine-tune steps run (default auto: CUDA when available)")
    prune.add_argument("--overwrite", action="store_true", help="replace an existing run at --out")
    prune.add_argument("--quiet", action="store_true", help="print nothing but the result, warnings and errors")


def _numbers(kind: type, name: str):
    """An argparse type: ``"100,400"`` → ``(100, 400)`` of ``kind`` (a bad item is one usage error)."""
    def parse(text: str) -> tuple:
        try:
            items = tuple(kind(item) for item in text.split(",") if item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {name}, got {text!r}") from None
        if not items:
            raise argparse.ArgumentTypeError(f"expected comma-separated {name}, got {text!r}")
        return items
    return parse


BENCH_PRUNE_FLAGS = {"--batch-size": "batch_size", "--finetune-steps": "finetune_steps", "--fractions": "fractions",
                     "--no-grow": "grow"}


def add_bench_prune_flags(bench: argparse.ArgumentParser) -> None:
    """The flags of ``sinetune bench prune`` (:data:`BENCH_PRUNE_FLAGS` → the parameters of
    :func:`~sinetune.bench.prune.run_prune`; ``--batch-size`` also reaches the N-D benchmarks' ``batch_size``)."""
    from .cli import _int_or

    bench.add_argument("--batch-size", type=_int_or(["full"]), metavar="N|full",
                       help="samples per step; prune: of every training — the fit before pruning, the pruning "
                            "phases, the unpruned control (default: the fit's derived batches, full-batch "
                            "pruning); video, volume, sdf: default 8192")
    bench.add_argument("--finetune-steps", type=_numbers(int, "integers"), metavar="N[,N...]",
                       help="prune: fine-tune steps after each cut (default 100); several, e.g. 100,400,1200: one "
                            "row per length, read from the longest (multiples of the log interval, 50)")
    bench.add_argument("--fractions", type=_numbers(float, "numbers"), metavar="F[,F...]",
                       help="prune: cumulative shares of the hidden weights removed (default 0.25,0.5,0.75)")
    bench.add_argument("--no-grow", action="store_const", const=False, default=None,
                       help="prune: skip the growing comparison")


def command_prune(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .pruning import PruneOptions
    from .run_pruning import prune_run

    defaults = PruneOptions()
    train = defaults.train if args.batch_size is None else replace(defaults.train, batch_size=args.batch_size)
    options = replace(defaults, axes=args.axes, finetune_steps=args.finetune_steps, train=train)
    result = prune_run(args.run_dir, args.fraction, args.out, options, overwrite=args.overwrite, device=args.device,
                       progress=Progress(quiet=args.quiet))
    before, after = result.before, result.after

    def psnr(row: dict) -> str:
        return f"{row['heldout_psnr']:.2f} dB" if row["heldout_psnr"] is not None else "n/a"

    print(f"wrote {result.run.run_dir}: A {before['hidden_units']}×{before['input_atoms']} → "
          f"{after['hidden_units']}×{after['input_atoms']} ({100 * result.pruning.removed_fraction:.1f}% of the "
          f"hidden weights removed, {before['parameters']} → {after['parameters']} parameters), held-out PSNR "
          f"{psnr(before)} → {psnr(after)}, {result.pruning.steps} steps")
    return 0


PRUNE_COMMANDS = {"prune": command_prune}
