"""Progress of a running study: jobs done, and the epoch each job in flight has reached.

A job trains in its scratch directory and its trainer appends one line per epoch
to ``train.log`` there (``epoch 3/12 | ...``). While jobs run, a background
thread reads the last epoch line of each job in flight, so the display moves
every epoch, not only when a job ends (the longest job of the study takes
minutes). Workers that do not share the client's file system (a remote Dask
cluster) have no log to read: their jobs show as started until they end.

On a terminal the display is a tqdm bar with the jobs in flight as its postfix;
otherwise (a log file, a pipe, CI) it writes plain lines: one per finished job
and, at most every ``interval`` seconds, one listing the epochs of the jobs in
flight; no carriage-return frames.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

__all__ = ["Progress", "last_epoch"]

_EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+)\b")
_TAIL_BYTES = 4096


def last_epoch(log_path):
    """``(epoch, epochs)`` of the last ``epoch k/N`` line of a training log, or None."""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        match = _EPOCH_LINE.match(line)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


class Progress:
    """Jobs done out of ``total``, a line per finished job, epochs of the jobs in flight.

    Parameters
    ----------
    total : int
    enabled : bool
        False: silent.
    stream : file, optional
        stderr by default.
    terminal : bool, optional
        Whether ``stream`` is a terminal; asked of the stream when None.
    interval : float
        Seconds between plain in-flight lines (not on a terminal).
    poll : float
        Seconds between reads of the logs of the jobs in flight.
    status : callable
        ``result -> str``, the line written when a job finishes.
    """

    def __init__(self, total, enabled, *, stream=None, terminal=None, interval=30.0, poll=1.0,
                 status=str):
        self.total, self.enabled, self.done = total, enabled, 0
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.interval, self.poll, self.status = interval, poll, status
        self.flight = {}                 # label -> (log path or None, epochs)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.bar = self.thread = None
        self.last_line, self.last_time = "", 0.0
        if enabled and self.terminal:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc="jobs", unit="job", file=self.stream,
                            dynamic_ncols=True)
        if enabled:
            self.thread = threading.Thread(target=self._watch, name="study-progress", daemon=True)
            self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        if self.bar is not None:
            self.bar.close()

    def started(self, jobs):
        """The jobs now in flight: ``(label, log path or None, epochs)`` each."""
        with self.lock:
            self.flight = {label: (None if log is None else Path(log), epochs)
                           for label, log, epochs in jobs}
        self._show()

    def finished(self, result):
        if not self.enabled:
            return
        line = self.status(result)
        with self.lock:
            self.done += 1
            if self.bar is not None:
                self.bar.write(line, file=self.stream)
                self.bar.update(1)
            else:
                print(f"[{self.done}/{self.total}] {line}", file=self.stream, flush=True)

    def in_flight(self):
        """``label epoch k/N`` for every job in flight (``started`` if no epoch ended yet)."""
        with self.lock:
            flight = dict(self.flight)
        parts = []
        for label, (log, epochs) in flight.items():
            reached = None if log is None else last_epoch(log)
            parts.append(f"{label} epoch {reached[0]}/{reached[1]}" if reached
                         else f"{label} epoch 0/{epochs}")
        return parts

    def _show(self):
        if not self.enabled:
            return
        parts = self.in_flight()
        text = ", ".join(parts)
        with self.lock:
            if self.bar is not None:
                self.bar.set_postfix_str(f"training {text}" if text else "")
                return
            now = time.monotonic()
            if text and text != self.last_line and now - self.last_time >= self.interval:
                print(f"[{self.done}/{self.total} done] training {text}", file=self.stream,
                      flush=True)
                self.last_line, self.last_time = text, now

    def _watch(self):
        while not self.stop.wait(self.poll):
            self._show()
