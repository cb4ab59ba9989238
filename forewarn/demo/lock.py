"""One demo at a time per state directory and per output directory: a lock file holding the owner's pid.

The lock is an advisory ``flock`` on the file, so it dies with its process: a file
left by a demo that was killed (SIGKILL, a reboot) is stale and simply taken over
— no pid guessing, no pid reused by another program mistaken for a demo. The pid
inside only names the owner in the refusal.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from schemas.errors import ForewarnError

__all__ = ["DemoLock", "DemoLocked"]


class DemoLocked(ForewarnError):
    """Another demo holds the lock."""


class DemoLock:
    """``with DemoLock(path, "state directory /x"):`` — refuses in one line while another demo holds ``path``.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "demo.lock"
    >>> with DemoLock(path, "output directory out"):
    ...     DemoLock(path, "output directory out").__enter__()
    Traceback (most recent call last):
    ...
    forewarn.demo.lock.DemoLocked: another forewarn demo (pid ...) is using the output directory out; wait for it to end or stop it
    >>> path.exists()
    False
    """

    def __init__(self, path: Path, what: str):
        self.path = path
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> DemoLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DemoLocked(f"cannot create the {self.what}: {exc.strerror or exc}") from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise DemoLocked(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise DemoLocked(f"another forewarn demo (pid {owner}) is using the {self.what}; "
                                 "wait for it to end or stop it") from None
            # The owner before us removes the file as it ends: make sure we hold the file that is there now.
            try:
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
