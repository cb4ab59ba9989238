"""A real Redis for development and tests: Debian's ``redis-server`` on a free port."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from forewarn.devinfra.errors import DevInfraError
from forewarn.devinfra.procs import (
    ServerProcess,
    ensure_port_free,
    free_port,
    spawn,
    tail,
)

__all__ = ["RedisServer", "redis_server_binary", "start_redis", "wait_for_redis"]


@dataclass
class RedisServer(ServerProcess):
    signature = "redis-server"

    pid: int
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"




def redis_server_binary(install: bool = True) -> str:
    """Path of ``redis-server``, installing Debian's package when it is missing and allowed."""
    found = shutil.which("redis-server")
    if found:
        return found
    if not install:
        raise DevInfraError("redis-server is not installed: apt-get install -y redis-server")
    apt = shutil.which("apt-get")
    if apt is None:
        raise DevInfraError("redis-server is missing and apt-get is not available to install it; install Redis 7+ by hand")
    if os.geteuid() != 0:
        raise DevInfraError("redis-server is missing; installing it needs root: sudo apt-get install -y redis-server")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "redis-server"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise DevInfraError(f"'{' '.join(cmd)}' failed: {(done.stdout + done.stderr).strip()[-200:]}")
    found = shutil.which("redis-server")
    if not found:
        raise DevInfraError("apt-get installed redis-server but it is not on PATH")
    return found


def start_redis(data_dir: Path, port: int | None = None, extra_args: list[str] | None = None,
                timeout: float = 20.0) -> RedisServer:
    """Start ``redis-server`` bound to loopback with explicit persistence settings."""
    binary = redis_server_binary()
    if port is None:
        port = free_port()
    else:
        ensure_port_free(port, "Redis")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DevInfraError(f"cannot create the Redis data directory {data_dir}: {exc.strerror or exc}") from None
    args = [
        binary,
        "--bind", "127.0.0.1", "--port", str(port),
        "--dir", str(data_dir), "--logfile", str(data_dir / "redis.log"),
        "--daemonize", "no", "--protected-mode", "yes",
        # Persistence: an append-only file fsynced every second, no RDB snapshots.
        "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        "--maxmemory-policy", "noeviction",
    ] + list(extra_args or [])
    proc = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(proc.pid, port, data_dir)
    try:
        wait_for_redis(server.url, timeout, alive=server.alive, log_path=server.log_path)
    except BaseException:  # a start-up failure, or Ctrl-C: no server is left running unrecorded
        server.stop()
        raise
    return server


def wait_for_redis(url: str, timeout: float, alive=lambda: True, log_path: Path | None = None,
                   **client_kwargs) -> None:
    import redis

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise DevInfraError(f"redis-server exited during start-up; see {log_path}: {tail(log_path, 2)[-200:] if log_path else ''}")
        try:
            client = redis.Redis.from_url(url, socket_timeout=1, **client_kwargs)
            if client.ping():
                client.close()
                return
        except Exception as exc:  # connection refused until it listens
            last = type(exc).__name__
        time.sleep(0.1)
    raise DevInfraError(f"Redis did not answer PING within {timeout:.0f}s ({last}); log: {log_path}")
