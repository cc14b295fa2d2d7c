"""A bounded line in front of the answer generator: at most ``generations`` answers are written at once, at
most ``waiting`` requests wait for a slot, and any request beyond that is turned away at once with a
``Retry-After`` estimate (429), as is every request once the server is shutting down (503). Thread-based:
the API's request handlers run in worker threads and the local LLM answers one request at a time."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class Busy(Exception):
    """No slot and no room to wait: answer ``status`` with ``Retry-After: retry_after`` seconds."""

    def __init__(self, message: str, status: int, retry_after: int) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Slot:
    """A held generation slot; ``release()`` (idempotent) gives it back, as does dropping it unreleased."""

    def __init__(self, limiter: Limiter) -> None:
        self._limiter: Limiter | None = limiter
        self._started = time.perf_counter()

    def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(time.perf_counter() - self._started)

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a stream dropped before it began still frees its slot
        self.release()


class Limiter:
    """``generations`` slots and a line of ``waiting`` places. ``acquire()`` returns a ``Slot`` or raises
    ``Busy``; ``on_change(active, waiting)`` is told every change (the queue-depth gauges)."""

    def __init__(
        self,
        generations: int,
        waiting: int,
        on_change: Callable[[int, int], None] | None = None,
        max_wait: float | None = None,
    ) -> None:
        if generations < 1 or waiting < 0:
            raise ValueError("generations must be >= 1 and waiting >= 0")
        self.generations = generations
        self.max_waiting = waiting
        self.max_wait = max_wait  # seconds a request may wait for a slot (None: as long as it takes)
        self.active = 0
        self.waiting = 0
        self.closed = False
        self._seconds = 5.0  # running mean of a generation's duration (for Retry-After); a first guess
        self._cond = threading.Condition()
        self._on_change = on_change or (lambda active, waiting: None)

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the line ahead, by the mean generation time."""
        ahead = (self.waiting + self.active) / self.generations
        return max(1, min(300, math.ceil(ahead * self._seconds)))

    def acquire(self) -> Slot:
        with self._cond:
            if self.closed:
                raise Busy("the server is shutting down", 503, 5)
            if self.active >= self.generations:
                if self.waiting >= self.max_waiting:
                    raise Busy(
                        f"too many requests: {self.active} answer(s) being written and {self.waiting} "
                        "waiting (RAG_SERVE_GENERATIONS, RAG_SERVE_QUEUE); retry later",
                        429,
                        self.retry_after(),
                    )
                self.waiting += 1
                self._changed()
                deadline = None if self.max_wait is None else time.monotonic() + self.max_wait
                try:
                    while self.active >= self.generations and not self.closed:
                        left = None if deadline is None else deadline - time.monotonic()
                        if left is not None and left <= 0:
                            raise Busy("timed out waiting for a free answer slot", 503, self.retry_after())
                        self._cond.wait(left)
                finally:
                    self.waiting -= 1
                    self._changed()
                if self.closed:
                    raise Busy("the server is shutting down", 503, 5)
            self.active += 1
            self._changed()
            return Slot(self)

    def _release(self, seconds: float) -> None:
        with self._cond:
            self.active -= 1
            self._seconds = 0.8 * self._seconds + 0.2 * seconds
            self._changed()
            self._cond.notify()

    def close(self) -> None:
        """Turn away every later request and wake the waiting ones (503)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _changed(self) -> None:
        self._on_change(self.active, self.waiting)
