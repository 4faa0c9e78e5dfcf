"""A progress bar on stderr: done / total, images per second, ETA, failures.

On a terminal the bar redraws in place a few times a second; otherwise (a log file, CI) it
writes one line every ``log_every`` seconds and a last line at the end, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


class Progress:
    """Counts processed images and draws a bar.

    Parameters
    ----------
    total
        Images to process in this run.
    label
        Shown first, e.g. ``tag`` or ``predict``.
    enabled
        ``False`` draws nothing (the counters still work).
    stream
        Where to draw (default: ``sys.stderr``).
    log_every
        Seconds between lines when ``stream`` is not a terminal.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> p = Progress(10, label="tag", stream=out)
    >>> p.update(10, failed=1)
    >>> p.close()
    >>> "10/10" in out.getvalue() and "1 failed" in out.getvalue()
    True
    """

    def __init__(
        self,
        total: int,
        *,
        label: str,
        enabled: bool = True,
        stream: TextIO | None = None,
        log_every: float = 30.0,
    ) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.failed = 0
        self.start = time.perf_counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._every = 0.2 if self._tty else log_every
        self._last = self.start
        self._closed = False
        self._drawn = -1  # `done` when the last line was drawn

    @property
    def rate(self) -> float:
        """Images per second since the start."""
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, n: int, *, failed: int = 0) -> None:
        """Count ``n`` more images, ``failed`` of which could not be used."""
        self.done += n
        self.failed += failed
        now = time.perf_counter()
        if self.enabled and (now - self._last >= self._every or self.done >= self.total):
            self._last = now
            self._draw(final=False)

    def line(self) -> str:
        """The text of the bar."""
        width = 24
        share = self.done / self.total if self.total else 1.0
        filled = int(width * min(share, 1.0))
        bar = "#" * filled + "-" * (width - filled)
        rate = self.rate
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = _clock(left) if left == left else "?"
        elapsed = _clock(time.perf_counter() - self.start)
        failed = f", {self.failed:,} failed" if self.failed else ""
        return (
            f"{self.label} [{bar}] {self.done:,}/{self.total:,} {share * 100:5.1f}% "
            f"{rate:7.1f} img/s  elapsed {elapsed}  ETA {eta}{failed}"
        )

    def _draw(self, *, final: bool) -> None:
        text = self.line()
        self._drawn = self.done
        if self._tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Draw the last state (once)."""
        if self._closed:
            return
        self._closed = True
        if self.enabled and (self._tty or self._drawn != self.done):
            self._draw(final=True)
