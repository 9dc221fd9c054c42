"""Progress of a long command, on stderr: what is about to happen, how training goes, which stage runs.

A :class:`Progress` is handed to :func:`sinetune.runs.run`, :func:`sinetune.many.fit_many`, the
benchmarks and the one training loop (:func:`sinetune.training.train`):

* :meth:`Progress.note` — a line said before the work it describes (the run directory, the
  ``derived:`` choices);
* :meth:`Progress.stage` — a stage line (``evaluating …``, ``writing …``);
* :meth:`Progress.steps` — training steps: on a terminal a tqdm bar (ETA, loss, PSNR); elsewhere
  (a pipe, a log file) a line every :attr:`Progress.interval` seconds and at the first and last
  step: ``fit: step 40/300 (13%), loss 0.00412, train PSNR 23.85 dB, held-out PSNR 23.10 dB,
  0.21 s/step, ETA 55 s``.

``quiet`` silences all of it (errors and warnings are not progress and still appear). Library
functions take ``progress: bool | Progress``: ``False`` is a quiet one, ``True`` the default one.
The interval between log lines is ``SINETUNE_PROGRESS_SECONDS`` (default 10) when not given.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import TextIO

#: Environment variable: seconds between two training log lines when stderr is not a terminal.
INTERVAL_ENV = "SINETUNE_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 10.0


def _default_interval() -> float:
    try:
        value = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if math.isfinite(value) and value >= 0 else DEFAULT_INTERVAL


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: a duration as a person reads it."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class Progress:
    """Where and how a command reports its progress.

    Attributes:
        quiet: report nothing.
        stream: where to write (``None``: ``sys.stderr`` at the time of writing).
        interval: seconds between training log lines when not on a terminal (``None``:
            ``$SINETUNE_PROGRESS_SECONDS``, default 10; 0: every step).
        terminal: draw a bar (``None``: when the stream is a terminal).
    """

    quiet: bool = False
    stream: TextIO | None = None
    interval: float | None = None
    terminal: bool | None = None

    @property
    def out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr

    def on_terminal(self) -> bool:
        if self.terminal is not None:
            return self.terminal
        isatty = getattr(self.out, "isatty", None)
        return bool(isatty and isatty())

    def note(self, text: str) -> None:
        """Say ``text`` (one line) unless quiet."""
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def stage(self, text: str) -> None:
        """A stage line: ``text …`` unless quiet."""
        self.note(f"{text} …")

    def steps(self, total: int, label: str = "fit", start: int = 0) -> Steps:
        """A reporter for ``total`` training steps, ``start`` of them already done (a resumed fit)."""
        return Steps(self, total, label, start)


class Steps:
    """Reports training steps: a bar on a terminal, else a log line every ``interval`` seconds.

    Call :meth:`update` after every step and :meth:`close` at the end (also when training stops early).
    """

    def __init__(self, progress: Progress, total: int, label: str, start: int = 0):
        self.progress, self.total, self.label = progress, total, label
        self.started = time.perf_counter()
        self.last_line = -math.inf
        self.step = self.first = start  # steps done before this reporter (a resumed fit): not timed here
        self.line_step = start
        self.fields: dict[str, float | int | None] = {}
        self.bar = None
        if progress.quiet:
            return
        self.interval = progress.interval if progress.interval is not None else _default_interval()
        if progress.on_terminal():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=start, desc=label, unit="step", leave=False, dynamic_ncols=True,
                            file=progress.out)

    def update(self, step: int, loss: float, train_psnr: float | None = None, heldout_psnr: float | None = None,
               active: int | None = None) -> None:
        """Step ``step`` is done with objective ``loss``; the PSNRs (dB) where this step logged them,
        ``active`` the signals still training (a stack)."""
        if self.progress.quiet:
            return
        self.fields["loss"] = loss
        if train_psnr is not None:
            self.fields.update(train_psnr=train_psnr, heldout_psnr=heldout_psnr, logged_step=step)
        if active is not None:
            self.fields["active"] = active
        previous, self.step = self.step, step
        if self.bar is not None:
            self.bar.update(step - previous)
            if train_psnr is not None:
                self.bar.set_postfix_str(self._text(with_rate=False), refresh=False)
            return
        now = time.perf_counter()
        if step == self.first + 1 or step == self.total or now - self.last_line >= self.interval:
            self._line(now)

    def _text(self, with_rate: bool = True) -> str:
        parts = []
        loss = self.fields.get("loss")
        if loss is not None:
            parts.append(f"loss {loss:.4g}")
        for key, name in (("train_psnr", "train PSNR"), ("heldout_psnr", "held-out PSNR")):
            value = self.fields.get(key)
            if value is not None and math.isfinite(value):
                parts.append(f"{name} {value:.2f} dB")
        logged = self.fields.get("logged_step")
        if with_rate and logged is not None and logged != self.step and len(parts) > 1:
            parts[-1] += f" (step {logged})"
        if self.fields.get("active") is not None:
            parts.append(f"{self.fields['active']} signals active")
        timed = self.step - self.first
        if with_rate and timed > 0:
            elapsed = time.perf_counter() - self.started
            parts.append(f"{elapsed / timed:.3g} s/step")
            if self.step < self.total:
                parts.append(f"ETA {duration_text(elapsed / timed * (self.total - self.step))}")
        return ", ".join(parts)

    def _line(self, now: float) -> None:
        self.last_line, self.line_step = now, self.step
        percent = 100 * self.step // max(self.total, 1)
        self.progress.note(f"{self.label}: step {self.step}/{self.total} ({percent}%), {self._text()}")

    def close(self) -> None:
        """End the bar; off a terminal, log the last step if it was not (training stopped early)."""
        if self.progress.quiet:
            return
        if self.bar is not None:
            self.bar.close()
        elif self.step and self.line_step != self.step:
            self._line(time.perf_counter())
        elapsed = time.perf_counter() - self.started
        resumed = f" (resumed after step {self.first})" if self.first else ""
        self.progress.note(f"{self.label}: {self.step - self.first} steps in {duration_text(elapsed)}{resumed}")


def as_progress(progress: bool | Progress | None) -> Progress:
    """``True`` → the default :class:`Progress`, ``False``/``None`` → a quiet one, a ``Progress`` → itself."""
    if isinstance(progress, Progress):
        return progress
    return Progress(quiet=not progress)


__all__ = ["DEFAULT_INTERVAL", "INTERVAL_ENV", "Progress", "Steps", "as_progress", "duration_text"]
