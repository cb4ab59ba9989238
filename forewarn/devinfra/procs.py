"""Small process and port helpers shared by the Kafka and Redis launchers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from forewarn.devinfra.errors import DevInfraError

__all__ = ["SPAWNED", "ServerProcess", "spawn", "free_port", "ensure_port_free", "pid_alive", "stop_pid", "tail"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int | None) -> bool:
    """Whether nothing listens on ``port`` of 127.0.0.1 now (None, or out of range: no)."""
    if not port or not 0 < port <= 65535:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ensure_port_free(port: int, what: str) -> None:
    if not 0 < port <= 65535:
        raise DevInfraError(f"port {port} for {what} is out of range: pick one from 1 to 65535")
    if not port_free(port):
        raise DevInfraError(
            f"port {port} for {what} is already taken on 127.0.0.1; stop what holds it or pick another port")


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive: reap it if it is our child
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        stat = Path(f"/proc/{pid}/stat")
        return not (stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z"))


def stop_pid(pid: int | None, timeout: float = 20.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL what is left."""
    if not pid_alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while pid_alive(pid):
        time.sleep(0.05)


def tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


#: Pids of the servers this process started (trusted as they are; others are checked by command line).
SPAWNED: set[int] = set()


def spawn(args: list[str], **popen_kwargs: Any) -> subprocess.Popen:
    """Start a server in a session of its own (its pid leads its process group), remembered in ``SPAWNED``."""
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True, **popen_kwargs)
    SPAWNED.add(proc.pid)
    return proc


class ServerProcess:
    """A server started in a session of its own (``pid`` leads its process group).

    Alive while its pid lives; ``stop`` sends SIGTERM to the group, waits up to
    ``stop_timeout_s``, then SIGKILLs what is left. Subclasses are dataclasses with a
    ``pid`` field.
    """

    pid: int
    stop_timeout_s = 15.0
    #: A word of the server's command line (``/proc/<pid>/cmdline``): a recorded pid that a reboot gave to
    #: another program is not ours — neither reported running nor signalled.
    signature = ""

    def ours(self) -> bool:
        if self.pid in SPAWNED:
            return True  # started by this process: between fork and exec its command line is still ours
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc to ask: the pid is all there is
        return self.signature.encode() in cmdline

    def alive(self) -> bool:
        return pid_alive(self.pid) and self.ours()

    def stop(self) -> None:
        if self.alive():
            stop_pid(self.pid, timeout=self.stop_timeout_s)
