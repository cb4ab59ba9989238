"""Termination signals for foreground commands that start servers (``forewarn demo``, ``forewarn dev up``).

Python turns only SIGINT (Ctrl-C) into ``KeyboardInterrupt``; SIGTERM and SIGHUP end
the process at once, skipping every ``finally`` — and the servers and workers it
started run on in sessions of their own. Inside ``TerminationGuard`` all three raise
``KeyboardInterrupt``, so the cleanup that Ctrl-C runs runs for them too.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["TerminationGuard"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class TerminationGuard:
    """While active, SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` in the main thread.

    Outside the main thread (where handlers cannot be installed) it does nothing.
    ``received`` is the first signal that arrived, if any.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "TerminationGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
        raise KeyboardInterrupt
