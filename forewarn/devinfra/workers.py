"""Worker processes started by the demo and the tests: real ``forewarn worker`` subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from forewarn.devinfra.errors import DevInfraError
from forewarn.devinfra.procs import free_port, stop_pid, tail

__all__ = ["WorkerProcess", "scrape"]


def scrape(url: str, timeout: float = 2.0) -> dict[str, float]:
    """A /metrics page as {'name{label="v"}': value}; label-less samples keyed by bare name."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


class WorkerProcess:
    """A ``forewarn <command>`` subprocess with its own web port and log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, web_port: int | None = None):
        self.web_port = web_port or free_port()
        self.args = args
        self.env = dict(os.environ, **env, FOREWARN_WORKER_WEB_PORT=str(self.web_port))
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/metrics"

    def start(self) -> "WorkerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "forewarn.cli", *self.args], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self, timeout: float = 10.0) -> dict[str, float]:
        """The process's /metrics; ``timeout`` is generous: a busy worker on a loaded machine answers late."""
        return scrape(self.metrics_url, timeout)

    def wait_for(self, predicate, timeout: float, what: str) -> dict[str, float]:
        """Poll /metrics until ``predicate(metrics)`` holds; fail with the log's tail if it dies."""
        deadline = time.monotonic() + timeout
        last: dict[str, float] = {}
        while time.monotonic() < deadline:
            if not self.alive():
                raise DevInfraError(f"worker exited (code {self.proc.returncode}) while waiting for {what}; "
                                    f"log {self.log_path}: {tail(self.log_path, 3)[-400:]}")
            try:
                last = self.metrics()
                if predicate(last):
                    return last
            except OSError:
                pass
            time.sleep(0.25)
        raise DevInfraError(f"timed out after {timeout:.0f}s waiting for {what}; log {self.log_path}")

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            stop_pid(self.proc.pid, timeout=timeout)
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
