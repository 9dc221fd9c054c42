"""sinetune: fit sinusoidal neural networks (TUNER, SIREN) to signals, with control over their frequencies.

Quick start::

    import sinetune
    result = sinetune.fit("astronaut", method="tuner", size=128)
    result.metrics["heldout_psnr"]     # dB on held-out pixels
    result.field                       # nn.Module: (N, 2) coords in [-1, 1] -> (N, 3) RGB
"""

__version__ = "0.1.0"

from .config import RunConfig, SignalConfig, load_config, save_config  # noqa: E402
from .errors import SinetuneError  # noqa: E402
from .many import fit_many  # noqa: E402
from .methods import METHODS, SirenOptions, TunerOptions, build_field  # noqa: E402
from .runs import FitResult, fit, load_run, render_run, run  # noqa: E402
from .signals import Signal, load_audio, load_image, load_signal  # noqa: E402
from .tasks import TaskOptions  # noqa: E402
from .training import TrainOptions  # noqa: E402

__all__ = [
    "METHODS", "FitResult", "RunConfig", "SignalConfig", "Signal", "SinetuneError", "SirenOptions",
    "TaskOptions", "TrainOptions", "TunerOptions", "build_field", "fit", "fit_many", "load_audio", "load_config",
    "load_image", "load_run", "load_signal", "render_run", "run", "save_config",
]
