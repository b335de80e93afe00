"""A daemon thread that writes what a request left in memory, shared by the tallies that keep writes off the
hot path (analytics' view events, the bandwidth meter, the photos' view counts).

The owner counts under its own lock and calls poke(); the thread starts on the first poke, calls
flush() every `seconds` while has_waiting() says something waits, and ends after a quiet spell (the
next poke starts another). stop() ends it and flushes once more; it also runs when the process exits
normally. A process killed outright loses what still waited: at most the last interval.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import Callable


class Flusher:
    """The writing thread of one tally: flush() and has_waiting() are the tally's own."""

    def __init__(self, name: str, seconds: float, flush: Callable[[], object], has_waiting: Callable[[], bool]):
        self.name, self.seconds = name, seconds
        self._flush, self._has_waiting = flush, has_waiting
        self._lock = threading.Lock()  # guards _thread and _stopped
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.stopped = False
        atexit.register(_stop_at_exit, weakref.ref(self))

    def poke(self) -> None:
        """Something was counted: make sure the thread runs (call it after counting, outside the tally's lock)."""
        with self._lock:
            if self._thread is None and not self.stopped:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def hurry(self) -> None:
        """Flush now rather than at the end of the interval (a full batch)."""
        self._wake.set()

    def stop(self) -> None:
        """End the thread and write what waits (at exit, and when a test's app goes away)."""
        with self._lock:
            self.stopped = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10 * self.seconds)
        self._flush()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.seconds)
            self._wake.clear()
            with self._lock:
                # A quiet spell (or stop()) ends the thread; the next poke starts another.
                if self.stopped or not self._has_waiting():
                    self._thread = None
                    return
            self._flush()


def _stop_at_exit(reference: weakref.ref) -> None:
    flusher = reference()
    if flusher is not None:
        flusher.stop()
