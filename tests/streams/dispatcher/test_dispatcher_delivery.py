"""The dispatcher against the real broker, Redis and protocol peers: what arrives, what is recorded, what is retried."""

from __future__ import annotations

import collections
import threading
import uuid

import orjson
import pytest
from prometheus_client import CollectorRegistry

from dispatch_harness import (
    SECRET,
    SmtpPeer,
    command,
    dispatcher_env,
    hook,
    policy_commands,
    produce,
    running,
    start_dispatcher,
    wait_receipts,
    write_config,
)
from interventions.channels.base import ChannelSpec
from interventions.channels.receiver import WebhookReceiver
from schemas.command import command_id
from streams.dispatcher.settings import DispatcherSettings
from streams.dispatcher.worker import Dispatcher
from streams.readback import read_topic
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_treated_commands_arrive_once_signed_and_control_and_suppressed_never_arrive(settings, worker_env, tmp_path):
    """The real policy decides; a ``forewarn dispatcher`` process delivers over webhook, CSM task and SMTP."""
    ensure_topics(settings)
    decisions, commands = policy_commands(60, {"payment_outreach": "csm", "onboarding_checkin": "email",
                                               "we_miss_you": "hook"})
    arms = collections.Counter(d.arm for d in decisions)
    assert arms["treated"] and arms["control"] and arms["suppressed"], arms
    with WebhookReceiver(secret=SECRET.encode()) as rx_hook, WebhookReceiver(secret=SECRET.encode()) as rx_csm, \
            SmtpPeer() as smtp:
        config = write_config(tmp_path / "forewarn.yaml", {
            "hook": {"kind": "webhook", "url": rx_hook.url()},
            "csm": {"kind": "csm_task", "url": rx_csm.url("/tasks")},
            "email": {"kind": "email", "host": "127.0.0.1", "port": smtp.port, "starttls": False,
                      "from": "success@ours.example"},
        })
        env = dispatcher_env(worker_env, settings, CHANNEL_SECRETS=orjson.dumps({"hook": SECRET, "csm": SECRET}).decode())
        produce(settings, commands)
        proc = start_dispatcher(config, env, tmp_path / "dispatcher.log")
        try:
            got = wait_receipts(settings, len(commands), proc)
            metrics = proc.wait_for(lambda m: m.get("forewarn_dispatcher_commands_consumed_total", 0) >= len(commands),
                                    30, "metrics")
        finally:
            proc.stop()
    arrived = collections.Counter([a.idempotency_key for a in rx_hook.arrivals + rx_csm.arrivals]
                                  + [m["X-Forewarn-Command-Id"] for m in smtp.messages])
    treated = {d.command_id for d in decisions if d.arm == "treated"}
    assert set(arrived) == treated and set(arrived.values()) == {1}, "each treated command exactly once"
    never = {command_id(d.firing_id) for d in decisions if d.arm != "treated"}
    assert not never & set(arrived), "a control or suppressed decision reached a customer"
    assert all(a.signature_ok for a in rx_hook.arrivals + rx_csm.arrivals)
    assert {orjson.loads(a.body)["external_id"] for a in rx_csm.arrivals} == {a.idempotency_key for a in rx_csm.arrivals}
    assert all(m["To"].startswith("owner+acct-") for m in smtp.messages)
    assert sorted((r.command_id, r.outcome) for r in got) == sorted((c, "delivered") for c in treated)
    by_channel = collections.Counter(c.channel for c in commands)
    for channel, n in by_channel.items():
        assert metrics[f'forewarn_deliveries_total{{channel="{channel}",outcome="delivered"}}'] == n
    assert not any("acct-" in key for key in metrics), "account ids leaked into metric labels"
    log = (tmp_path / "dispatcher.log").read_text()
    assert SECRET not in log


def test_a_receiver_that_fails_twice_then_succeeds_gets_exactly_one_successful_delivery(settings):
    ensure_topics(settings)
    commands = [command(i, "hook") for i in range(15)]
    produce(settings, commands)
    with WebhookReceiver(secret=SECRET.encode(), fail_first=2) as rx, \
            running(settings, {"hook": hook("hook", rx.url())}, max_attempts=5) as d:
        got = wait_receipts(settings, len(commands))
        retries = d.metrics.retries.labels(channel="hook")._value.get()
    accepted = collections.Counter(a.idempotency_key for a in rx.accepted())
    assert accepted == {c.command_id: 1 for c in commands}
    assert collections.Counter(a.idempotency_key for a in rx.arrivals) == {c.command_id: 3 for c in commands}
    assert {(r.outcome, r.attempts) for r in got} == {("delivered", 3)}
    assert retries == 2 * len(commands)
    assert read_topic(settings, settings.topics.intervention_commands_dlq) == []


def test_an_always_failing_receiver_dead_letters_after_the_retries_and_the_dispatcher_goes_on(settings):
    ensure_topics(settings)
    bad = [command(i, "down") for i in range(6)]
    good = [command(100 + i, "up") for i in range(6)]
    produce(settings, [c for pair in zip(bad, good) for c in pair])
    with WebhookReceiver(secret=SECRET.encode(), always_fail=True) as rx_down, \
            WebhookReceiver(secret=SECRET.encode()) as rx_up, \
            running(settings, {"down": hook("down", rx_down.url()), "up": hook("up", rx_up.url())},
                    max_attempts=3) as d:
        wait_receipts(settings, 12)
        later = [command(200 + i, "up") for i in range(4)]
        produce(settings, later)  # the dispatcher is still consuming after the failures
        got = wait_receipts(settings, 16)
        dlq_metric = d.metrics.dead_lettered.labels(reason="retries_exhausted")._value.get()
    outcome = {r.command_id: (r.outcome, r.attempts) for r in got}
    assert all(outcome[c.command_id] == ("failed", 3) for c in bad)
    assert all(outcome[c.command_id] == ("delivered", 1) for c in good + later)
    assert collections.Counter(a.idempotency_key for a in rx_down.arrivals) == {c.command_id: 3 for c in bad}
    assert sorted(a.idempotency_key for a in rx_up.accepted()) == sorted(c.command_id for c in good + later)
    dlq = read_topic(settings, settings.topics.intervention_commands_dlq)
    assert sorted(r.headers["command-id"].decode() for r in dlq) == sorted(c.command_id for c in bad)
    for r in dlq:
        assert r.headers["reason"] == b"retries_exhausted" and r.headers["attempts"] == b"3"
        assert b"http_5xx" in r.headers["detail"]
        assert r.headers["source-topic"].decode() == settings.topics.intervention_commands
        assert orjson.loads(r.value)["command_id"] == r.headers["command-id"].decode()  # the original bytes
    assert dlq_metric == len(bad)


def test_expired_duplicate_invalid_unknown_channel_rejected_and_unsafe_commands(settings):
    ensure_topics(settings)
    expired = command(1, "hook", expires_in_s=-10)
    twice = command(2, "hook")
    unknown = command(3, "fax")
    fine = command(4, "hook")
    refused = command(5, "strict")
    metadata = command(6, "metadata")
    produce(settings, [expired, twice, twice, unknown, fine, refused, metadata],
            extra=[(b"acct-x", b'{"not": "a command"}')])
    with WebhookReceiver(secret=SECRET.encode()) as rx, WebhookReceiver(always_fail=True, fail_status=400) as rx_400, \
            running(settings, {"hook": hook("hook", rx.url()), "strict": hook("strict", rx_400.url()),
                               "metadata": hook("metadata", "http://169.254.169.254/latest/meta-data/")}):
        got = wait_receipts(settings, 7)
    by_id = collections.defaultdict(list)
    for r in got:
        by_id[r.command_id].append(r.outcome)
    assert by_id[expired.command_id] == ["expired"]
    assert sorted(by_id[twice.command_id]) == ["delivered", "skipped_duplicate"]
    assert by_id[unknown.command_id] == ["failed"] and by_id[fine.command_id] == ["delivered"]
    assert by_id[refused.command_id] == ["failed"] and by_id[metadata.command_id] == ["failed"]
    assert sorted(a.idempotency_key for a in rx.arrivals) == sorted([twice.command_id, fine.command_id])
    assert len(rx_400.arrivals) == 1  # a 400 is final: no retry
    dlq = {r.headers["reason"].decode(): r for r in read_topic(settings, settings.topics.intervention_commands_dlq)}
    assert set(dlq) == {"invalid_command", "unknown_channel", "rejected", "unsafe_target"}
    assert b"169.254.169.254 is a link-local address" in dlq["unsafe_target"].headers["detail"]
    assert dlq["invalid_command"].value == b'{"not": "a command"}'
    assert b"'fax' is not configured" in dlq["unknown_channel"].headers["detail"]


def test_a_replay_of_the_whole_topic_skips_every_delivered_command(settings):
    ensure_topics(settings)
    commands = [command(i, "hook") for i in range(20)]
    produce(settings, commands)
    with WebhookReceiver(secret=SECRET.encode()) as rx:
        with running(settings, {"hook": hook("hook", rx.url())}):
            wait_receipts(settings, 20)
        with running(settings, {"hook": hook("hook", rx.url())}):  # a new consumer group reads from the start
            got = wait_receipts(settings, 40)
    assert len(rx.arrivals) == 20
    assert collections.Counter(r.outcome for r in got) == {"delivered": 20, "skipped_duplicate": 20}


def test_kafka_channel_forwards_the_command_to_the_users_topic(settings):
    user_topic = f"customer-outreach.{settings.app_id}"
    ensure_topics(settings)
    ensure_topics(settings, [user_topic])
    commands = [command(i, "outreach") for i in range(5)]
    produce(settings, commands)
    spec = ChannelSpec("outreach", "kafka", {"topic": user_topic}, timeout_s=10)
    with running(settings, {"outreach": spec}):
        got = wait_receipts(settings, 5)
    assert {r.outcome for r in got} == {"delivered"}
    forwarded = read_topic(settings, user_topic)
    assert sorted(r.headers["idempotency-key"].decode() for r in forwarded) == sorted(c.command_id for c in commands)
    assert all(orjson.loads(r.value)["account_id"] == r.key.decode() for r in forwarded)


class _Buggy:
    """A channel that raises something other than a DeliveryError for one command (a bug in it)."""

    def __init__(self, name: str, bad: str, inner) -> None:
        self.name, self.bad, self.inner = name, bad, inner

    def deliver(self, command, body):
        if command.command_id == self.bad:
            raise ValueError("Header values may not contain linefeed")
        return self.inner.deliver(command, body)

    def close(self) -> None:
        self.inner.close()


def test_a_channel_bug_dead_letters_that_command_and_the_batch_and_the_dispatcher_go_on(settings):
    ensure_topics(settings)
    cmds = [command(i, "up") for i in range(12)]
    produce(settings, cmds)
    bad = cmds[5].command_id
    with WebhookReceiver(secret=SECRET.encode()) as rx:
        spec = hook("up", rx.url())
        with running(settings, {"up": spec}, max_attempts=2) as d:
            d.channels["up"] = _Buggy("up", bad, d.channels["up"])
            got = wait_receipts(settings, 12)
            assert d.metrics.dead_lettered.labels(reason="channel_error")._value.get() == 1
    outcome = {r.command_id: r.outcome for r in got}
    assert outcome.pop(bad) == "failed" and set(outcome.values()) == {"delivered"}
    assert sorted(a.idempotency_key for a in rx.accepted()) == sorted(c.command_id for c in cmds if c.command_id != bad)
    dlq = read_topic(settings, settings.topics.intervention_commands_dlq)
    assert [(r.headers["command-id"].decode(), r.headers["reason"]) for r in dlq] == [(bad, b"channel_error")]


def test_when_recording_deliveries_fails_no_further_send_starts(settings, redis_url):
    """A Redis error while marking sends delivered stops the batch: the sends not yet started must not go
    out unrecorded (the next owner would send them all again); only those in flight may finish."""
    import redis as redis_lib

    from interventions.retry import Backoff
    from streams.dispatcher.claims import ClaimStore
    from streams.dispatcher.metrics import DispatcherMetrics
    from streams.dispatcher.worker import _Job

    class Msg:
        def __init__(self, value: bytes) -> None:
            self._value = value

        def value(self) -> bytes:
            return self._value

    class Counting:
        name = "up"

        def __init__(self) -> None:
            self.sent, self.lock = [], threading.Lock()

        def deliver(self, command, body):
            __import__("time").sleep(0.002)  # 400 sends on 4 threads take ~0.2 s: the error comes early
            with self.lock:
                self.sent.append(command.command_id)
            return "ok"

    class FailingOnce(ClaimStore):
        failed = False

        def mark_delivered(self, claimables):
            if claimables and not FailingOnce.failed:
                FailingOnce.failed = True
                raise redis_lib.ConnectionError("connection reset (a failover)")
            return super().mark_delivered(claimables)

    client = redis_lib.from_url(redis_url)
    claims = FailingOnce(client, f"test-{uuid.uuid4().hex[:8]}", delivered_ttl_s=600, owner_lease_s=5)
    dispatcher = Dispatcher.__new__(Dispatcher)  # only what _deliver uses: no consumer, no producer
    dispatcher.conf = DispatcherSettings(concurrency=4, max_attempts=2)
    dispatcher.claims, dispatcher.limiters, dispatcher.clock = claims, {}, __import__("time").time
    dispatcher.stopping = threading.Event()
    dispatcher.backoff = Backoff(0.01, 0.01)
    dispatcher.metrics = DispatcherMetrics(CollectorRegistry(), ["up"])
    from concurrent.futures import ThreadPoolExecutor

    dispatcher.pool = ThreadPoolExecutor(4)
    channel = Counting()
    cmds = [command(i, "up") for i in range(400)]
    jobs = [_Job(Msg(c.model_dump_json().encode()), command=c, channel=channel, expires_at=c.expires_at_us / 1e6)
            for c in cmds]
    claims.claim_many([j.claimable for j in jobs])
    with pytest.raises(redis_lib.ConnectionError):
        dispatcher._deliver(jobs)
    dispatcher.pool.shutdown(wait=True)
    assert len(channel.sent) < len(cmds) // 2, f"{len(channel.sent)} of {len(cmds)} sent after the error"
    client.close()


def test_a_batch_past_its_time_budget_leaves_the_rest_for_the_next_batch_and_nothing_is_lost_or_doubled(settings):
    """A slow receiver: one batch of 24 commands would take ~3.6 s on 2 threads, the budget is 1 s. The batch
    must stop starting sends at the budget (so it comes back to poll within max.poll.interval), commit only
    what it finished, and the rest must be delivered by the next batches — each command exactly once."""
    ensure_topics(settings)
    cmds = [command(i, "slow") for i in range(24)]
    produce(settings, cmds)
    with WebhookReceiver(secret=SECRET.encode(), delay_s=0.3) as rx:
        with running(settings, {"slow": hook("slow", rx.url())}, concurrency=2, batch_size=100,
                     batch_budget_s=1.0, max_poll_interval_s=10.0) as d:
            got = wait_receipts(settings, 24)
            deferred = d.metrics.deferred._value.get()
            batches = d.batches
    assert deferred > 0 and batches >= 3, (deferred, batches)
    assert sorted(r.command_id for r in got) == sorted(c.command_id for c in cmds), "a receipt missing or doubled"
    assert {r.outcome for r in got} == {"delivered"}
    assert sorted(a.idempotency_key for a in rx.accepted()) == sorted(c.command_id for c in cmds)
