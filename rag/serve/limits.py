"""A bounded line in front of the answer generator: at most ``generations`` answers are written at once, at
most ``waiting`` requests wait for a slot (each at most ``max_wait`` seconds, then 503), and any request
beyond that is turned away at once with a ``Retry-After`` estimate (429), as is every request once the
server is shutting down (503).

Waiting never holds a thread: the API awaits ``Limiter.wait()`` on the event loop (a future woken by the
release), so the worker threads stay free for the generations themselves. A slot may be released from any
thread; it is handed straight to the first in line (first come, first served).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from rag.errors import ServiceError


class Busy(ServiceError):
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


class _Waiter:
    """One place in the line: woken (from any thread) when granted a slot or when the line closes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.granted = False
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._resolve)
        except RuntimeError:  # the loop is closed: nobody awaits any more
            pass

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class Limiter:
    """``generations`` slots and a line of ``waiting`` places. ``await wait()`` returns a ``Slot`` or raises
    ``Busy``; ``on_change(active, waiting)`` is told every change
    (the queue-depth gauges)."""

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
        self._lock = threading.RLock()  # re-entrant: a Slot dropped (``__del__``) while it is held
        self._line: deque[_Waiter] = deque()
        self._on_change = on_change or (lambda active, waiting: None)

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the line ahead, by the mean generation time."""
        ahead = (self.waiting + self.active) / self.generations
        return max(1, min(300, math.ceil(ahead * self._seconds)))

    async def wait(self) -> Slot:
        """A slot, waiting on the event loop (at most ``max_wait`` seconds); no thread is held."""
        got = self._enter(asyncio.get_running_loop())
        if isinstance(got, Slot):
            return got
        try:
            await asyncio.wait_for(asyncio.shield(got.future), self.max_wait)
        except TimeoutError:
            pass
        except BaseException:  # cancelled (the client went away): give back a slot granted meanwhile
            try:
                self._settle(got).release()
            except Busy:
                pass
            raise
        return self._settle(got)

    def _enter(self, loop: asyncio.AbstractEventLoop) -> Slot | _Waiter:
        with self._lock:
            if self.closed:
                raise Busy("the server is shutting down", 503, 5)
            if self.active < self.generations and not self._line:
                self.active += 1
                self._changed()
                return Slot(self)
            if self.waiting >= self.max_waiting:
                raise Busy(
                    f"too many requests: {self.active} answer(s) being written and {self.waiting} "
                    "waiting (RAG_SERVE_GENERATIONS, RAG_SERVE_QUEUE); retry later",
                    429,
                    self.retry_after(),
                )
            waiter = _Waiter(loop)
            self._line.append(waiter)
            self.waiting += 1
            self._changed()
            return waiter

    def _settle(self, waiter: _Waiter) -> Slot:
        """The waiter's slot when it was granted one; else it leaves the line with ``Busy``."""
        with self._lock:
            if waiter.granted:
                return Slot(self)
            if waiter in self._line:
                self._line.remove(waiter)
                self.waiting -= 1
                self._changed()
            if self.closed:
                raise Busy("the server is shutting down", 503, 5)
            raise Busy(
                f"timed out after {self.max_wait:g} s waiting for a free answer slot; retry later",
                503,
                self.retry_after(),
            )

    def _release(self, seconds: float) -> None:
        with self._lock:
            self._seconds = 0.8 * self._seconds + 0.2 * seconds
            if self._line and not self.closed:  # hand the slot to the first in line
                waiter = self._line.popleft()
                self.waiting -= 1
                waiter.granted = True
                waiter.wake()
            else:
                self.active -= 1
            self._changed()

    def close(self) -> None:
        """Turn away every later request and wake the waiting ones (503)."""
        with self._lock:
            self.closed = True
            for waiter in self._line:
                waiter.wake()

    def _changed(self) -> None:
        self._on_change(self.active, self.waiting)
