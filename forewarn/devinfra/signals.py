"""Termination signals for foreground commands that start servers (``forewarn demo``, ``forewarn dev up``).

Python turns only SIGINT (Ctrl-C) into ``KeyboardInterrupt``; SIGTERM and SIGHUP end
the process at once, skipping every ``finally`` — and the servers and workers it
started run on in sessions of their own. Inside ``TerminationGuard`` all three raise
``KeyboardInterrupt``, so the cleanup that Ctrl-C runs runs for them too.

The cleanup itself must not be cut short: stopping a worker can take 30 s, and a
second Ctrl-C would otherwise abort the ``finally`` and leave Kafka and Redis
running. So only the first signal interrupts; from then on (and from
``shutting_down()``, called where the cleanup starts) a signal only prints
"stopping…, please wait". The cleanup stays bounded: every stop SIGKILLs what is
left after its timeout.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["TerminationGuard"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class TerminationGuard:
    """While active, SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` in the main thread.

    Only the first signal interrupts; later ones, and every one after ``shutting_down()``,
    print one line and are otherwise ignored. A signal already ignored (SIGHUP under
    ``nohup``) stays ignored. Outside the main thread (where handlers cannot be
    installed) it does nothing. ``received`` is the first signal that arrived, if any.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.stopping = False
        self._previous: dict[int, object] = {}

    def shutting_down(self) -> None:
        """From here on signals no longer interrupt: the cleanup that follows runs to its end."""
        self.stopping = True

    def __enter__(self) -> TerminationGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:  # e.g. SIGHUP under nohup stays ignored
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        if self.stopping:
            try:  # os.write, not print: a handler may run in the middle of another write to stderr
                os.write(2, "stopping…, please wait\n".encode())
            except OSError:
                pass
            return
        self.stopping = True
        self.received = signum
        raise KeyboardInterrupt
