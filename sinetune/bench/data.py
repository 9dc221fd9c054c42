"""Where a benchmark finds its data: ``--data DIR``, else the data cache's ``FOLDER``, else a one-line error.

The benchmark sets (Kodak, the audio clips) are not shipped with sinetune and a clone has no copy:
``sinetune data fetch kodak`` (:func:`sinetune.datasets.fetch`) downloads one into the cache
(:func:`sinetune.datasets.data_root`: ``$SINETUNE_DATA``, else ``~/.cache/sinetune``), where every
benchmark looks by default; ``--data DIR`` (``data_dir=``) names a local copy instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..datasets import DATA_ENV, DATASETS, data_root
from ..errors import SinetuneError


def benchmark_data(given: str | Path | None, folder: str, benchmark: str, holds: str) -> Path:
    """The data folder of ``benchmark``: ``given`` (``--data``), else ``data_root()/folder``.

    ``folder`` is the data set's folder (``kodak``, ``audio``); ``holds`` describes what it must
    contain, for the error message. Raises a one-line :class:`SinetuneError` when the folder does
    not exist, naming the ``sinetune data fetch`` command that makes it.
    """
    if given is not None:
        path = Path(given)
        if not path.is_dir():
            raise SinetuneError(f"benchmark data not found at {path}; pass --data DIR, a folder with {holds}")
        return path
    path = data_root() / folder
    if path.is_dir():
        return path
    origin = f"from {DATA_ENV}" if os.environ.get(DATA_ENV) else f"the data cache; set {DATA_ENV} to move it"
    fetch = f"run `sinetune data fetch {folder}` or " if folder in DATASETS else ""
    raise SinetuneError(f"bench {benchmark} needs its data ({holds}), which sinetune does not ship and {path} "
                        f"({origin}) does not hold: {fetch}pass --data DIR")


__all__ = ["DATA_ENV", "benchmark_data"]
