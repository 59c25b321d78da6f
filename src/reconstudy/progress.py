"""Progress for long work (CS over a volume, TGV iterations, training, cohorts).

Lines go to the ``reconstudy`` logger, which rule scripts route to the rule's log and the
terminal, so a user sees rate and ETA in both places.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("reconstudy")


class Progress:
    """Report ``done/total``, rate and ETA at most every ``every_s`` seconds.

    Example:
        >>> progress = Progress(total=256, label="CS planes", unit="plane")
        >>> for batch in batches: ...; progress.advance(len(batch))
    """

    def __init__(self, total: int, label: str, unit: str = "it", every_s: float = 5.0, budget_s=None):
        """``budget_s``: a wall-clock budget that stops the work early (``--max-minutes``); the
        ETA is then the sooner of the work's end and the budget's."""
        self.total, self.label, self.unit, self.every_s = int(total), label, unit, every_s
        self.budget_s = None if budget_s is None else float(budget_s)
        self.done = 0
        self.start = self._last = time.perf_counter()

    def advance(self, n: int = 1, **extra):
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every_s or self.done >= self.total:
            self._last = now
            log.info(self.line(now, **extra))

    def line(self, now: float | None = None, **extra) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        bound = ""
        if self.budget_s is not None and self.budget_s - elapsed < eta:
            eta, bound = max(self.budget_s - elapsed, 0.0), " (time budget)"
        details = "".join(f" {k}={v:.4g}" if isinstance(v, float) else f" {k}={v}" for k, v in extra.items())
        return (
            f"{self.label}: {self.done}/{self.total} {self.unit}s, {rate:.3g} {self.unit}/s, "
            f"elapsed {elapsed:.1f} s, ETA {eta:.1f} s{bound}{details}"
        )


def configure_logging(log_path=None, level=logging.INFO):
    """Send reconstudy's log to stderr and, if given, to ``log_path`` (a rule's log file).

    Only the ``reconstudy`` logger is configured at ``level``; other libraries keep the
    default (warnings and errors), so logs show our progress, not font subsetting.
    """
    formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    handlers = [logging.StreamHandler()]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="a"))
    for handler in handlers:
        handler.setFormatter(formatter)
    log.handlers = handlers  # replaces, so calling twice does not duplicate lines
    log.setLevel(level)
