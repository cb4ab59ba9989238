"""The local development stack: one Kafka broker and one Redis, remembered in a state file.

``DevStack.up()`` is idempotent: a second call finds the running servers through
the state file and returns them. When ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL``
are set, those servers are used and nothing is started.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from forewarn.devinfra.errors import DevInfraError
from forewarn.devinfra.kafka import KafkaBroker, start_kafka, wait_for_kafka
from forewarn.devinfra.procs import port_free
from forewarn.devinfra.redis import RedisServer, start_redis, wait_for_redis

__all__ = ["DevStack", "Endpoints", "default_state_dir"]


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(os.environ.get("FOREWARN_STATE_DIR", Path(base) / "forewarn" / "dev"))


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap_servers: str
    redis_url: str
    kafka_external: bool
    redis_external: bool

    def env_lines(self) -> str:
        return f"KAFKA_BOOTSTRAP_SERVERS={self.kafka_bootstrap_servers}\nREDIS_URL={self.redis_url}"


class DevStack:
    """Kafka + Redis under one state directory.

    >>> DevStack(Path("/tmp/forewarn-doctest-none")).status()["kafka"]["running"]
    False
    """

    def __init__(self, state_dir: Path | None = None, environ: dict[str, str] | None = None):
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self.environ = dict(os.environ if environ is None else environ)
        self.state_file = self.state_dir / "stack.json"
        #: The servers ``up`` started (not found running), in order; kept as each one starts,
        #: so a caller interrupted half-way knows what to stop.
        self.started: list[str] = []

    # -- state file --------------------------------------------------------------

    def _load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, state: dict) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=2))
            tmp.replace(self.state_file)
        except OSError as exc:
            raise DevInfraError(f"cannot write the state file {self.state_file}: {exc.strerror or exc}") from None

    def _kafka(self, state: dict) -> KafkaBroker | None:
        k = state.get("kafka")
        return KafkaBroker(k["pid"], k["port"], k["controller_port"], Path(k["data_dir"])) if k else None

    def _redis(self, state: dict) -> RedisServer | None:
        r = state.get("redis")
        return RedisServer(r["pid"], r["port"], Path(r["data_dir"])) if r else None

    # -- commands ----------------------------------------------------------------

    def up(self, kafka_port: int | None = None, redis_port: int | None = None, partitions: int = 4,
           progress=None) -> Endpoints:
        """Start what is not running yet (or use the configured servers) and return the endpoints."""
        state = self._load()
        ext_kafka = self.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        ext_redis = self.environ.get("REDIS_URL")
        if ext_kafka:
            wait_for_kafka(ext_kafka, timeout=30)
        else:
            broker = self._kafka(state)
            if broker is None or not broker.alive():
                # A broker that died is restarted on the ports it had (when free), so the clients and
                # shells that were given its address reach it again.
                before = state.get("kafka") or {}
                if kafka_port is None and port_free(before.get("port")):
                    kafka_port = before["port"]
                controller_port = before.get("controller_port") if port_free(before.get("controller_port")) \
                    and before.get("controller_port") != kafka_port else None
                broker = start_kafka(self.state_dir / "kafka", port=kafka_port, partitions=partitions,
                                     progress=progress, controller_port=controller_port)
                state["kafka"] = {"pid": broker.pid, "port": broker.port,
                                  "controller_port": broker.controller_port, "data_dir": str(broker.data_dir)}
                self.started.append("kafka")
                self._save(state)
            else:
                wait_for_kafka(broker.bootstrap, timeout=60, alive=broker.alive, log_path=broker.log_path)
        if ext_redis:
            wait_for_redis(ext_redis, timeout=15)
        else:
            server = self._redis(state)
            if server is None or not server.alive():
                if progress:
                    progress("starting Redis")
                before = state.get("redis") or {}
                if redis_port is None and port_free(before.get("port")):
                    redis_port = before["port"]
                server = start_redis(self.state_dir / "redis", port=redis_port)
                state["redis"] = {"pid": server.pid, "port": server.port, "data_dir": str(server.data_dir)}
                self.started.append("redis")
                self._save(state)
        return self.endpoints()

    def endpoints(self) -> Endpoints:
        state = self._load()
        ext_kafka = self.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        ext_redis = self.environ.get("REDIS_URL")
        broker, server = self._kafka(state), self._redis(state)
        kafka = ext_kafka or (broker.bootstrap if broker and broker.alive() else None)
        redis_url = ext_redis or (server.url if server and server.alive() else None)
        if not kafka or not redis_url:
            missing = " and ".join(n for n, v in (("Kafka", kafka), ("Redis", redis_url)) if not v)
            raise DevInfraError(f"{missing} not running: start the stack with 'forewarn dev up'")
        return Endpoints(kafka, redis_url, bool(ext_kafka), bool(ext_redis))

    def status(self) -> dict:
        state = self._load()
        broker, server = self._kafka(state), self._redis(state)
        return {
            "kafka": {
                "running": bool(broker and broker.alive()),
                "endpoint": broker.bootstrap if broker else None,
                "pid": broker.pid if broker else None,
                "log": str(broker.log_path) if broker else None,
            },
            "redis": {
                "running": bool(server and server.alive()),
                "endpoint": server.url if server else None,
                "pid": server.pid if server else None,
                "log": str(server.log_path) if server else None,
            },
        }

    def down(self, wipe: bool = False, only: Iterable[str] | None = None) -> list[str]:
        """Stop what this stack started; with ``wipe`` also delete its data. Returns what was stopped.

        ``only`` names the servers to stop (``"kafka"``, ``"redis"``), e.g. ``self.started``; the
        others keep running and stay in the state file.
        """
        import shutil

        state = self._load()
        names = ("kafka", "redis") if only is None else tuple(only)
        stopped = []
        for name, proc in (("kafka", self._kafka(state)), ("redis", self._redis(state))):
            if name not in names:
                continue
            if proc is not None and proc.alive():
                proc.stop()
                if proc.alive():
                    raise DevInfraError(f"{name} (pid {proc.pid}) did not stop; kill it by hand")
                stopped.append(name)
            state.pop(name, None)
        if state and only is not None:
            self._save(state)
        elif self.state_file.exists():
            self.state_file.unlink()
        if wipe:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return stopped
