"""fit-many on a Ray cluster (cluster.py, issue #16): a local 2-CPU Ray instance, no network.

A worker is killed with ``kill -9`` in the middle of its group's fit (its PID is the one in the run
directory's lock file, taken once the group's training checkpoint appears); Ray retries the task,
the retry resumes from the checkpoint, and every run equals the sequential ``fit_many``'s.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
from conftest import smooth_rgb, write_png
from safetensors.torch import load_file

from sinetune import TrainOptions, TunerOptions
from sinetune.many import fit_many
from sinetune.rundir import resume_path, sibling

ray = pytest.importorskip("ray")
from sinetune.cluster import fit_many_ray, parse_cluster  # noqa: E402

TINY = TunerOptions(input_width=8, hidden_width=8, band_fraction=0.3)
TIMING = {"seconds_per_step_median", "train_seconds"}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _images(folder):
    folder.mkdir()
    base = smooth_rgb(16, 16)
    arrays = (base, base[::-1], base[:, ::-1], base[::-1, ::-1])
    return [write_png(folder / f"img{index}.png", np.ascontiguousarray(array)) for index, array in enumerate(arrays)]


def _kill_first_worker_mid_fit(out, stems, killed):
    """Wait for a group's checkpoint, then kill -9 the process holding that group's lock."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not killed:
        for stem in stems:
            lock = sibling(out / stem, "lock")
            if resume_path(out / stem).exists() and lock.exists():
                try:
                    pid = int(lock.read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError, IndexError):
                    continue
                killed.append((stem, pid))
                return
        time.sleep(0.005)


def test_a_killed_worker_loses_nothing_and_results_equal_sequential_fits(tmp_path, local_ray):
    images = _images(tmp_path / "data")
    arguments = dict(size=None, options=TINY, device="cpu", seed=2,
                     train_options=TrainOptions(steps=300, log_every=50, checkpoint_every=10))
    sequential = fit_many(images, out=tmp_path / "sequential", group_size=2, **arguments)
    out = tmp_path / "cluster"
    killed: list = []
    watcher = threading.Thread(target=_kill_first_worker_mid_fit, args=(out, ["img0", "img2"], killed))
    watcher.start()
    results = fit_many_ray(images, out=out, group_size=2, retries=2, progress=False, **arguments)
    watcher.join()
    assert killed, "no worker was killed: the test did not exercise a retry"
    assert [r.name for r in results] == [f"img{i}" for i in range(4)]
    for result, reference in zip(results, sequential):
        assert result.run_dir == out / reference.signal.name
        ours = {k: v for k, v in result.metrics.items() if k not in TIMING}
        theirs = {k: v for k, v in json.loads((reference.run_dir / "metrics.json").read_text()).items()
                  if k not in TIMING}
        assert ours == theirs
        a = load_file(str(result.run_dir / "model.safetensors"))
        b = load_file(str(reference.run_dir / "model.safetensors"))
        assert all(torch.equal(a[name], b[name]) for name in a)
        assert not resume_path(result.run_dir).exists()
    # finished runs are never redone: a second call reads them back
    before = (out / "img1" / "model.safetensors").stat().st_mtime_ns
    again = fit_many_ray(images, out=out, group_size=2, progress=False, **arguments)
    assert (out / "img1" / "model.safetensors").stat().st_mtime_ns == before
    assert [r.metrics["heldout_psnr"] for r in again] == [r.metrics["heldout_psnr"] for r in results]


def test_cluster_addresses_and_errors(tmp_path, local_ray):
    assert parse_cluster("ray") is None and parse_cluster("ray:auto") == "auto"
    assert parse_cluster("ray://head:10001") == "ray://head:10001"
    from sinetune import SinetuneError

    with pytest.raises(SinetuneError, match="--cluster"):
        parse_cluster("dask")
    images = _images(tmp_path / "data")
    odd = write_png(tmp_path / "odd.png", smooth_rgb(16, 24))
    with pytest.raises(SinetuneError, match="equal shape"):  # a worker's one-line error reaches the driver
        fit_many_ray([images[0], odd], out=tmp_path / "out", group_size=2, progress=False, size=None,
                     options=TINY, device="cpu", train_options=TrainOptions(steps=2))
