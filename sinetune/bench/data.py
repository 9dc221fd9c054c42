"""Where a benchmark finds its data: ``--data DIR``, else ``$SINETUNE_DATA/NAME``, else a one-line error.

The benchmark sets (Kodak, the audio clips) are not shipped with sinetune and a clone has no copy,
so there is no default path: a run names its folder with ``--data DIR`` (``data_dir=``) or sets the
environment variable :data:`DATA_ENV` to a folder holding one sub-folder per set (``kodak/``,
``audio/``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SinetuneError

#: Environment variable naming a folder with one sub-folder per benchmark set (``kodak``, ``audio``).
DATA_ENV = "SINETUNE_DATA"


def benchmark_data(given: str | Path | None, folder: str, benchmark: str, holds: str) -> Path:
    """The data folder of ``benchmark``: ``given`` (``--data``), else ``$SINETUNE_DATA/folder``.

    ``holds`` describes what the folder must contain, for the error message. Raises a one-line
    :class:`SinetuneError` when neither is given or the folder does not exist.
    """
    if given is not None:
        path = Path(given)
    elif os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV]) / folder
    else:
        raise SinetuneError(f"bench {benchmark} needs its data ({holds}), which sinetune does not ship: pass "
                            f"--data DIR, or set {DATA_ENV} to a folder holding {folder}/")
    if not path.is_dir():
        origin = "" if given is not None else f" (from {DATA_ENV})"
        raise SinetuneError(f"benchmark data not found at {path}{origin}; pass --data DIR, a folder with {holds}")
    return path


__all__ = ["DATA_ENV", "benchmark_data"]
