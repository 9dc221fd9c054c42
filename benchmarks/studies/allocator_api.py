"""Step time through the Python API against the CLI (issue #16: the allocator fast path for every entry point).

Each round runs, in fresh processes and in turn, the same fit (built-in astronaut at ``--size``,
TUNER defaults, full batch, ``--steps`` steps, CPU): ``sinetune.fit`` (the API, which now gets the
fast allocator scoped to its training loop), ``sinetune.fit`` with ``SINETUNE_MALLOC=system`` (what
the API did before: glibc's defaults) and the ``sinetune fit`` command. Printed: the median over
rounds of each one's median seconds per step, and the ratios to the CLI (measured in the same rounds,
so machine load hits all three alike).

    .venv/bin/python benchmarks/studies/allocator_api.py --size 256 --steps 15 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

API = ("import sinetune, json; from sinetune import TrainOptions; "
       "r = sinetune.fit('astronaut', size={size}, train_options=TrainOptions(steps={steps}, log_every={steps}), "
       "device='cpu'); print(json.dumps(r.metrics['seconds_per_step_median']))")


def one(kind: str, size: int, steps: int, scratch: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "SINETUNE_MALLOC"}
    if kind == "api, glibc defaults":
        env["SINETUNE_MALLOC"] = "system"
    if kind == "cli":
        out = Path(tempfile.mkdtemp(dir=scratch)) / "run"
        subprocess.run([str(Path(sys.executable).with_name("sinetune")), "fit", "astronaut", "--size", str(size),
                        "--steps", str(steps), "--set", f"train.log_every={steps}", "--device", "cpu", "--out",
                        str(out), "--quiet"], check=True, env=env, stdout=subprocess.DEVNULL)
        return json.loads((out / "metrics.json").read_text())["seconds_per_step_median"]
    done = subprocess.run([sys.executable, "-c", API.format(size=size, steps=steps)], check=True, env=env,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = ("api", "api, glibc defaults", "cli")
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.rounds):
            for kind in kinds:
                seconds[kind].append(one(kind, args.size, args.steps, Path(scratch)))
    cli = statistics.median(seconds["cli"])
    print(f"| entry point | s/step (median of {args.rounds}) | × CLI |\n|---|---|---|")
    for kind in kinds:
        value = statistics.median(seconds[kind])
        print(f"| {kind} | {value:.3f} | {value / cli:.2f} |")
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
