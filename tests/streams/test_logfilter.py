"""Repeated log lines collapse (``streams.logfilter``), librdkafka's among them.

While Kafka was down, aiokafka logged ~70 errors a second and each librdkafka client ~20; a reviewer's
130 s outage wrote 9,400 lines from one worker. The first line of a kind passes, its repeats are counted
for 30 s, the next one after that says how many were held back.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from forewarn.devinfra.procs import free_port
from streams.logfilter import (
    REPEAT_WINDOW_S,
    RdkafkaLogger,
    RepeatFilter,
    install_repeat_filter,
)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Lines(logging.Handler):
    """What a handler would print, with the filter installed on it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def lines(clock):
    handler = _Lines()
    handler.addFilter(RepeatFilter(clock=clock))
    logger = logging.getLogger("test.logfilter.aiokafka")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, handler.lines
    logger.removeHandler(handler)


def test_the_first_line_passes_and_repeats_in_the_window_are_held_back(lines, clock):
    log, out = lines
    for i in range(50):
        clock.now += 0.1  # 5 s of an outage at ~10 lines a second
        log.error("Unable connect to node with id %s: %s", 1, f"[Errno 111] attempt {i}")
    assert out == ["test.logfilter.aiokafka Unable connect to node with id 1: [Errno 111] attempt 0"]


def test_the_next_line_after_the_window_says_how_many_were_held_back(lines, clock):
    log, out = lines
    for _ in range(120):
        log.error("Unable to update metadata from %s", [1])
        clock.now += 0.25  # 30 s in all
    log.error("Unable to update metadata from %s", [1])
    assert out == ["test.logfilter.aiokafka Unable to update metadata from [1]",
                   ("test.logfilter.aiokafka Unable to update metadata from [1] "
                    "(119 similar lines suppressed in the last 30s)")]
    # The count starts again: a line right after is held back, the next window's first line reports it alone.
    log.error("Unable to update metadata from %s", [1])
    clock.now += REPEAT_WINDOW_S
    log.error("Unable to update metadata from %s", [1])
    assert out[2:] == [("test.logfilter.aiokafka Unable to update metadata from [1] "
                        "(1 similar lines suppressed in the last 30s)")]


def test_a_line_after_a_quiet_window_passes_plain(lines, clock):
    log, out = lines
    log.warning("rebalancing")
    clock.now += REPEAT_WINDOW_S + 1
    log.warning("rebalancing")
    assert out == ["test.logfilter.aiokafka rebalancing"] * 2


def test_different_templates_and_loggers_are_independent(lines, clock):
    log, out = lines
    other = logging.getLogger("test.logfilter.other")
    other.propagate = False
    other.handlers = log.handlers
    try:
        for _ in range(3):
            log.error("Unable connect to node with id %s", 1)
            log.error("Failed fetch messages from %s: %s", 1, "NodeNotReadyError")
            other.error("Unable connect to node with id %s", 1)
            clock.now += 1
    finally:
        other.handlers = []
    assert out == ["test.logfilter.aiokafka Unable connect to node with id 1",
                   "test.logfilter.aiokafka Failed fetch messages from 1: NodeNotReadyError",
                   "test.logfilter.other Unable connect to node with id 1"]


def test_a_different_error_under_the_same_template_is_never_hidden_behind_a_frequent_one(lines, clock):
    """A channel raising KeyError five times a second must not hide another channel's TypeError, nor a
    refused connection an authentication failure: the printed text (numbers and ids aside) is the kind."""
    log, out = lines
    for i in range(50):
        log.error("channel %s raised %s on command %s", "hook", "KeyError", f"cmd-{i:012x}-{i}")
        if i % 10 == 0:
            log.error("channel %s raised %s on command %s", "mail", "TypeError", f"cmd-{i:012x}-{i}")
        log.error("Unable connect to node with id %s: %s", i % 3, "Connection refused" if i != 25 else "SASL failed")
        log.warning("Unable connect to node with id %s: %s", 1, "Connection refused")  # another level
        clock.now += 0.2
    assert out == [
        "test.logfilter.aiokafka channel hook raised KeyError on command cmd-000000000000-0",
        "test.logfilter.aiokafka channel mail raised TypeError on command cmd-000000000000-0",
        "test.logfilter.aiokafka Unable connect to node with id 0: Connection refused",  # any id: one kind
        "test.logfilter.aiokafka Unable connect to node with id 1: Connection refused",  # the WARNING
        "test.logfilter.aiokafka Unable connect to node with id 1: SASL failed",
    ], out


def test_the_kinds_remembered_are_bounded_and_the_oldest_forgotten_first(clock):
    from streams import logfilter

    repeat = RepeatFilter(clock=clock)
    for i in range(3 * logfilter._MAX_KINDS):  # every line a new kind, all inside one window
        record = logging.LogRecord("rdkafka", logging.ERROR, __file__, 1, "%s", (f"line {i}",), None)
        record.repeat_key = f"kind {i}"
        assert repeat.filter(record)
    assert len(repeat._kinds) == logfilter._MAX_KINDS
    assert next(iter(repeat._kinds))[2] == f"kind {2 * logfilter._MAX_KINDS}"


def test_forewarn_own_lines_are_never_held_back_the_kafka_clients_are(clock):
    """A cold start of partition 1 right after partition 0's is its own diagnosis; librdkafka's lines come
    through forewarn.rdkafka and are collapsed like aiokafka's."""
    repeat = RepeatFilter(clock=clock)

    def passes(name, *args):
        return repeat.filter(logging.LogRecord(name, logging.ERROR, __file__, 1, "cold start of partition %s",
                                               args, None))

    assert [passes("forewarn.dropoff", p) for p in (0, 1, 1)] == [True, True, True]
    assert [passes("streams.batching.lanes", p) for p in (0, 1)] == [True, True]
    assert [passes("forewarn.rdkafka", p) for p in (0, 1)] == [True, False]
    assert [passes("aiokafka.conn", p) for p in (0, 1)] == [True, False]


def test_lines_written_to_stderr_under_mode_are_never_held_back(clock):
    """mode (forewarn worker) turns each line written to stderr into a record of mode.redirect: two
    tracebacks share most of their lines, and the second must print whole."""
    repeat = RepeatFilter(clock=clock)
    for _ in range(2):
        for text in ("Traceback (most recent call last):", '  File "x.py", line 1, in run', "KeyError: 'x'"):
            assert repeat.filter(logging.LogRecord("mode.redirect", logging.WARNING, __file__, 1, text, (), None))


def test_one_record_at_two_handlers_is_one_line_at_each(clock):
    """The root logger of a worker has several handlers (Faust adds its spinner's): one filter on all of
    them must not count the same record twice."""
    first, second = _Lines(), _Lines()
    install_repeat_filter([first, second], RepeatFilter(clock=clock))
    log = logging.getLogger("test.logfilter.two")
    log.propagate = False
    log.handlers = [first, second]
    try:
        log.error("Group Coordinator Request failed: %s", "NodeNotReadyError")
        log.error("Group Coordinator Request failed: %s", "NodeNotReadyError")
    finally:
        log.handlers = []
    assert first.lines == second.lines == ["test.logfilter.two Group Coordinator Request failed: NodeNotReadyError"]


def test_librdkafka_lines_of_one_kind_collapse_whatever_their_timing(clock):
    """Every librdkafka line has the template ``%s [%s] %s``; its kind is the line with its durations
    masked, so ``(after 0ms ...)`` and ``(after 3ms ...)`` are one kind and another failure is another."""
    handler = _Lines()
    handler.addFilter(RepeatFilter(clock=clock))
    target = logging.getLogger("test.logfilter.rdkafka")
    target.propagate = False
    target.handlers = [handler]
    sink = RdkafkaLogger(["hunter2"], target=target)
    refused = "127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused (after {}ms in state CONNECT)"
    try:
        for ms in (0, 3, 1, 0):
            sink.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", refused.format(ms))
        sink.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "SASL authentication failed: hunter2")
    finally:
        target.handlers = []
    assert handler.lines == [
        f"test.logfilter.rdkafka FAIL [rdkafka#consumer-1] {refused.format(0)}",
        "test.logfilter.rdkafka FAIL [rdkafka#consumer-1] SASL authentication failed: ***",
    ]


# -- librdkafka in a process: the clients of the dispatcher against a closed port ----------------------

_CLIENTS = textwrap.dedent("""
    import sys, time
    from confluent_kafka import Consumer, Producer
    from forewarn.commands.common import service_settings

    # Logging and settings as 'forewarn dispatcher' has them, its two clients configured as it does.
    settings = service_settings(None, "info")
    conf = settings.dispatcher
    consumer = Consumer(settings.confluent_config(**{
        "group.id": conf.group_id, "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "session.timeout.ms": conf.session_timeout_ms,
        "max.poll.interval.ms": int(conf.max_poll_interval_s * 1000), "log_level": 3}))
    producer = Producer(settings.confluent_config(**{
        "enable.idempotence": True, "acks": "all", "linger.ms": 5, "log_level": 3}))
    consumer.subscribe(["intervention-commands"])
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:
        consumer.consume(500, timeout=0.5)
        producer.poll(0)
    producer.flush(0)
    consumer.close()
    print("done", flush=True)
""")


@pytest.mark.integration
def test_clients_against_a_closed_port_log_a_bounded_number_of_lines(tmp_path):
    """Before: each client printed a ``%3|...|FAIL|...Connection refused`` line per reconnect
    attempt straight to stderr (dozens in 5 s, ~20 a second in the reviewer's outage)."""
    port = free_port()  # nothing listens there
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
           "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "FOREWARN_STATE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", _CLIENTS, "6"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr[-3000:]
    printed = [line for line in result.stderr.splitlines() if line.strip()]
    refused = [line for line in printed if "Connection refused" in line]
    # librdkafka's lines now go through logging (one format, the repeat filter): at most one per client
    # and kind in 6 s, where there were dozens.
    assert 1 <= len(refused) <= 4, "\n".join(printed[:40])
    assert len(printed) <= 8, "\n".join(printed[:40])
    assert all(" ERROR forewarn.rdkafka: " in line for line in refused), refused
    assert not any(line.startswith("%3|") for line in printed), printed[:5]


@pytest.mark.integration
def test_a_client_that_never_polls_still_shows_why_the_broker_refused_it(kafka_bootstrap, tmp_path):
    """ensure_topics' admin client never polls: with the routed logger its librdkafka lines (here a SASL
    handshake refused by a PLAINTEXT broker) waited for a poll and died with the client, unseen."""
    script = tmp_path / "refused.py"
    script.write_text(textwrap.dedent(f"""
        from streams.settings import KafkaSecurity, Settings
        from streams.topics import ensure_topics
        s = Settings(kafka_bootstrap_servers={kafka_bootstrap!r}, redis_url="redis://127.0.0.1:1/0",
                     kafka_security=KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                                                  sasl_username="forewarn", sasl_password="hunter2-secret"))
        try:
            ensure_topics(s, ["never-created"], timeout=3)
        except Exception as exc:
            print("raised", type(exc).__name__)
    """))
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("FOREWARN_")}
    env["PYTHONPATH"] = os.getcwd()  # this checkout's code, whichever one is installed
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert "raised KafkaUnavailable" in done.stdout, done.stdout + done.stderr[-1000:]
    assert "SASL PLAIN mechanism handshake failed" in done.stderr, done.stderr[-1000:]
    assert "hunter2-secret" not in done.stdout + done.stderr
