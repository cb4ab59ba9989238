"""The stack stops only what was started, and a failed start leaves nothing running (fake servers: fast)."""

from __future__ import annotations

import json

import pytest

from forewarn.demo import ClosedLoop, DemoOptions
from forewarn.devinfra import DevInfraError, DevStack
from forewarn.devinfra import stack as stack_module
from forewarn.devinfra.kafka import KafkaBroker
from forewarn.devinfra.procs import pid_alive, spawn, stop_pid
from forewarn.devinfra.redis import RedisServer, start_redis


@pytest.fixture
def sleepers():
    """Stand-ins for server processes: trusted as ours because this process spawned them."""
    procs = []

    def make():
        proc = spawn(["sleep", "60"])
        procs.append(proc)
        return proc.pid

    yield make
    for proc in procs:
        stop_pid(proc.pid, timeout=5)


def test_down_only_stops_the_named_servers(tmp_path, sleepers):
    kafka, redis = sleepers(), sleepers()
    state = {"kafka": {"pid": kafka, "port": 1, "controller_port": 2, "data_dir": str(tmp_path / "k")},
             "redis": {"pid": redis, "port": 3, "data_dir": str(tmp_path / "r")}}
    (tmp_path / "stack.json").write_text(json.dumps(state))
    assert DevStack(tmp_path, environ={}).down(only=["kafka"]) == ["kafka"]
    assert not pid_alive(kafka) and pid_alive(redis)
    assert set(json.loads((tmp_path / "stack.json").read_text())) == {"redis"}, "redis forgotten by the state file"


def test_a_redis_data_dir_that_cannot_be_made_is_one_clear_error(tmp_path):
    (tmp_path / "redis").write_text("not a directory")
    with pytest.raises(DevInfraError, match="cannot create the Redis data directory"):
        start_redis(tmp_path / "redis")


def test_demo_stops_the_kafka_it_started_when_redis_fails_to_start(tmp_path, sleepers, monkeypatch):
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "FOREWARN_KAFKA_BOOTSTRAP_SERVERS", "FOREWARN_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOREWARN_STATE_DIR", str(tmp_path / "state"))
    kafka_pid = sleepers()
    monkeypatch.setattr(stack_module, "start_kafka",
                        lambda data_dir, **kw: KafkaBroker(kafka_pid, 1, 2, data_dir))

    def no_redis(data_dir, **kw):
        raise DevInfraError("redis-server exited during start-up")

    monkeypatch.setattr(stack_module, "start_redis", no_redis)
    with pytest.raises(DevInfraError, match="redis-server exited"):
        ClosedLoop(DemoOptions(accounts=5, days=1, out=tmp_path / "out"), note=lambda m: None).run()
    assert not pid_alive(kafka_pid), "the demo left the Kafka it started running"
    assert not (tmp_path / "state" / "stack.json").exists()


def test_demo_leaves_a_running_kafka_it_did_not_start(tmp_path, sleepers, monkeypatch):
    """'dev up' Kafka running, Redis down: the demo starts Redis and stops only Redis."""
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "FOREWARN_KAFKA_BOOTSTRAP_SERVERS", "FOREWARN_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    monkeypatch.setenv("FOREWARN_STATE_DIR", str(state_dir))
    kafka_pid, redis_pid = sleepers(), sleepers()
    (state_dir / "stack.json").write_text(json.dumps(
        {"kafka": {"pid": kafka_pid, "port": 1, "controller_port": 2, "data_dir": str(state_dir / "kafka")}}))
    monkeypatch.setattr(stack_module, "wait_for_kafka", lambda *a, **kw: None)
    monkeypatch.setattr(stack_module, "start_redis", lambda data_dir, **kw: RedisServer(redis_pid, 3, data_dir))

    def fail(self, *args):
        raise DevInfraError("stop here")

    monkeypatch.setattr(ClosedLoop, "_run", fail)
    with pytest.raises(DevInfraError, match="stop here"):
        ClosedLoop(DemoOptions(accounts=5, days=1, out=tmp_path / "out"), note=lambda m: None).run()
    assert pid_alive(kafka_pid), "the demo stopped a Kafka it did not start"
    assert not pid_alive(redis_pid), "the demo left the Redis it started running"
    assert set(json.loads((state_dir / "stack.json").read_text())) == {"kafka"}


def test_servers_that_died_are_started_again_on_their_ports(tmp_path, sleepers, monkeypatch):
    """After a crash (state file still naming them, processes gone) 'dev up' reuses the ports it had, so
    clients and shells given the old address reach the new servers; a port taken meanwhile is not reused."""
    from forewarn.devinfra.procs import free_port

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    kafka_port, controller_port, redis_port = free_port(), free_port(), free_port()
    dead = spawn(["true"])
    dead.wait()
    (state_dir / "stack.json").write_text(json.dumps({
        "kafka": {"pid": dead.pid, "port": kafka_port, "controller_port": controller_port,
                  "data_dir": str(state_dir / "kafka")},
        "redis": {"pid": dead.pid, "port": redis_port, "data_dir": str(state_dir / "redis")}}))
    asked = {}
    kafka_pid, redis_pid = sleepers(), sleepers()

    def fake_kafka(data_dir, port=None, controller_port=None, **kw):
        asked["kafka"] = (port, controller_port)
        return KafkaBroker(kafka_pid, port or 1, controller_port or 2, data_dir)

    def fake_redis(data_dir, port=None, **kw):
        asked["redis"] = port
        return RedisServer(redis_pid, port or 3, data_dir)

    monkeypatch.setattr(stack_module, "start_kafka", fake_kafka)
    monkeypatch.setattr(stack_module, "start_redis", fake_redis)
    monkeypatch.setattr(stack_module, "wait_for_redis", lambda *a, **kw: None)
    monkeypatch.setattr(stack_module, "wait_for_kafka", lambda *a, **kw: None)
    DevStack(state_dir, environ={}).up()
    assert asked == {"kafka": (kafka_port, controller_port), "redis": redis_port}

    # The same crash, but something else took the Kafka port meanwhile: a new one is picked.
    import socket

    state = json.loads((state_dir / "stack.json").read_text())
    state["kafka"]["pid"] = state["redis"]["pid"] = dead.pid
    (state_dir / "stack.json").write_text(json.dumps(state))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", kafka_port))
        holder.listen(1)
        DevStack(state_dir, environ={}).up()
    assert asked["kafka"] == (None, controller_port) and asked["redis"] == redis_port
