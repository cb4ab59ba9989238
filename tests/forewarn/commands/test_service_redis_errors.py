"""Only a lost Redis ends a service with the one line blaming Redis; any other RedisError is a bug of ours
and ends with its traceback (a bad value, a broken Lua script would otherwise crash-loop undiagnosed)."""

from __future__ import annotations

import pytest
import redis
import typer

import forewarn.commands.dispatcher as dispatcher_cmd
import forewarn.commands.outcomes as outcomes_cmd


@pytest.fixture
def services(monkeypatch, kafka_bootstrap, redis_url):
    """run_dispatcher / run_outcomes up to their run loop, which raises what the test gives."""
    import streams.config
    import streams.dispatcher.worker
    import streams.health

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setattr(streams.health, "preflight", lambda settings, **kw: None)
    monkeypatch.setattr(streams.config, "load_dispatcher_config",
                        lambda path: type("Config", (), {"extra": {"channels": {}}})())
    monkeypatch.setattr(streams.dispatcher.worker, "build_channels", lambda specs, settings: {})
    raised = []

    def serve(settings, port, registry, run, stale_after_s):
        raise raised[0]

    monkeypatch.setattr(dispatcher_cmd, "serve", serve)
    monkeypatch.setattr(outcomes_cmd, "serve", serve)
    monkeypatch.setattr(outcomes_cmd, "OUTCOMES_STALE_AFTER_S", 60.0)
    runs = {"dispatcher": lambda: dispatcher_cmd.run_dispatcher(None, 0, "warning"),
            "outcomes": lambda: outcomes_cmd.run_outcomes(None, 0, "warning")}
    return raised, runs


@pytest.mark.parametrize("service", ["dispatcher", "outcomes"])
@pytest.mark.parametrize("error", [redis.DataError("Invalid input of type: 'NoneType'"),
                                   redis.ResponseError("user_script:1: attempt to perform arithmetic on a nil value"),
                                   redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind")])
def test_a_redis_error_that_is_a_bug_keeps_its_traceback(services, service, error, caplog):
    raised, runs = services
    raised.append(error)
    with pytest.raises(type(error)):
        runs[service]()
    assert "Redis at" not in caplog.text


@pytest.mark.parametrize("service", ["dispatcher", "outcomes"])
@pytest.mark.parametrize("error", [redis.ConnectionError("Error 111 connecting"), redis.TimeoutError("Timeout"),
                                   redis.exceptions.ReadOnlyError("You can't write against a read only replica.")])
def test_a_lost_redis_ends_with_one_line_and_exit_1(services, service, error, caplog):
    raised, runs = services
    raised.append(error)
    with pytest.raises(typer.Exit) as ended:
        runs[service]()
    assert ended.value.exit_code == 1
    assert [r.levelname for r in caplog.records if "Redis at" in r.getMessage()] == ["ERROR"]
