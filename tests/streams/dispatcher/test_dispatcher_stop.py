"""A stop request (SIGTERM) during a long batch: the dispatcher exits within about one send, not the batch budget.

Kubernetes and compose give a stopping container 60 s / 45 s before SIGKILL;
a batch may run for ``batch_budget_s`` (120 s). A stop is treated like a
spent budget: no send, retry or rate-limit wait starts after it, sends in
flight finish and are recorded, the rest is deferred (claims released,
offsets not committed). So nothing is left in doubt, and after a restart
every command arrives exactly once and has exactly one receipt.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time
import uuid

import orjson
import pytest
import redis

from dispatch_harness import (
    SECRET,
    FullPauses,
    command,
    dispatcher_env,
    hook,
    produce,
    receipts,
    start_dispatcher,
    start_in_thread,
    wait_for,
    write_config,
)
from interventions.channels.base import ChannelSpec
from interventions.channels.receiver import WebhookReceiver
from streams.dispatcher.claims import ClaimStore
from streams.readback import read_topic
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

#: 160 commands on 4 threads to a receiver answering in 1 s: one batch would take ~40 s.
N, CONCURRENCY, DELAY_S = 160, 4, 1.0
#: The stop must end the run within the send in flight (DELAY_S) plus this.
SLACK_S = 5.0


def _states(claims: ClaimStore, commands) -> dict[str, str | None]:
    return {c.command_id: claims.state(c.account_id, c.command_id) for c in commands}


def _all_receipted(settings, commands):
    def check():
        done = {r.command_id for r in receipts(settings) if r.outcome in ("delivered", "skipped_duplicate")}
        return done if done >= {c.command_id for c in commands} else None

    return check


def test_sigterm_mid_batch_exits_within_one_send_and_a_restart_delivers_the_rest_exactly_once(
        settings, worker_env, redis_url, tmp_path):
    ensure_topics(settings)
    commands = [command(i, "hook") for i in range(N)]
    produce(settings, commands)
    claims = ClaimStore(redis.from_url(redis_url), settings.app_id, delivered_ttl_s=60, owner_lease_s=2)
    with WebhookReceiver(secret=SECRET.encode(), delay_s=DELAY_S) as rx:
        config = write_config(tmp_path / "forewarn.yaml", {"hook": {"kind": "webhook", "url": rx.url()}})
        env = dispatcher_env(worker_env, settings, CHANNEL_SECRETS=orjson.dumps({"hook": SECRET}).decode(),
                             BATCH_SIZE="500", CONCURRENCY=str(CONCURRENCY))
        first = start_dispatcher(config, env, tmp_path / "first.log")
        try:
            wait_for(lambda: len(rx.arrivals) >= 2 * CONCURRENCY, 120, "two rounds of sends", first, every=0.02)
            time.sleep(DELAY_S / 2)  # the next round is on the wire
            os.kill(first.proc.pid, signal.SIGTERM)
            sent = time.monotonic()
            try:
                rc = first.proc.wait(timeout=DELAY_S + SLACK_S + 15)
            except subprocess.TimeoutExpired:
                rc = None
            took = time.monotonic() - sent
        finally:
            first.kill()
        print(f"exit code {rc} {took:.1f}s after SIGTERM, {len(rx.arrivals)} of {N} arrived")
        assert rc is not None, f"still running {took:.0f}s after SIGTERM (the batch is sent to its end)"
        assert rc == 0, (first.log_path.read_text()[-2000:])
        assert took < DELAY_S + SLACK_S, f"{took:.1f}s from SIGTERM to exit"

        before = collections.Counter(a.idempotency_key for a in rx.arrivals)
        states = _states(claims, commands)
        assert set(states.values()) <= {"delivered", None}, "a claim was left in doubt by a clean stop"
        assert {cid for cid, s in states.items() if s == "delivered"} == set(before), \
            "every send that reached the receiver is recorded as delivered, and only those"
        assert set(before.values()) == {1}
        assert 2 * CONCURRENCY <= len(before) < N // 2, len(before)
        receipted_before = collections.Counter(r.command_id for r in receipts(settings))
        assert set(receipted_before) <= set(before) and set(receipted_before.values()) <= {1}

        rx.delay_s = 0.0
        second = start_dispatcher(config, env, tmp_path / "second.log")
        try:
            wait_for(_all_receipted(settings, commands), 120, "a receipt for every command", second)
            metrics = second.metrics()
        finally:
            second.stop()

    arrived = collections.Counter(a.idempotency_key for a in rx.arrivals)
    assert arrived == {c.command_id: 1 for c in commands}, "a command lost or sent twice"
    assert all(a.signature_ok and a.status == 200 for a in rx.arrivals)
    got = receipts(settings)
    assert collections.Counter(r.command_id for r in got) == {c.command_id: 1 for c in commands}, \
        "a command without a receipt, or with two (a batch committed twice)"
    outcome = {r.command_id: r.outcome for r in got}
    # Those sent before the stop but past a deferred command of their partition come back as already delivered.
    assert {cid for cid, o in outcome.items() if o == "skipped_duplicate"} <= set(before)
    assert metrics["forewarn_dispatcher_in_doubt_total"] == 0
    assert read_topic(settings, settings.topics.intervention_commands_dlq) == []


def test_a_stop_ends_backoff_pauses_and_rate_limit_waits_and_defers_those_commands(settings):
    """Retries 30 s apart (no jitter) to a failing receiver and a channel limited to one send per 20 s would hold a
    stop for minutes; a stop must end both waits at once and leave those commands, undecided, to the
    next owner (no DLQ record, no receipt, claim released), which delivers each of them once."""
    ensure_topics(settings)
    flaky = [command(i, "flaky") for i in range(4)]
    limited = [command(100 + i, "limited") for i in range(4)]
    produce(settings, [c for pair in zip(flaky, limited) for c in pair])
    group = f"dispatch-{uuid.uuid4().hex[:8]}"
    with WebhookReceiver(secret=SECRET.encode(), always_fail=True) as rx_flaky, \
            WebhookReceiver(secret=SECRET.encode()) as rx_limited:
        specs = {"flaky": hook("flaky", rx_flaky.url()),
                 "limited": ChannelSpec("limited", "webhook", {"url": rx_limited.url(), "headers": {}},
                                        timeout_s=5, rate_per_s=0.05)}
        dispatcher, stop, thread = start_in_thread(settings, specs, group, FullPauses(), concurrency=8,
                                                   max_attempts=5, backoff_initial_s=30.0, backoff_max_s=30.0)
        try:
            wait_for(lambda: len(rx_flaky.arrivals) >= len(flaky) and rx_limited.arrivals, 60,
                     "a first attempt of every flaky command and one limited send")
            time.sleep(0.5)
            stop.set()
            sent = time.monotonic()
            thread.join(timeout=20)
            took = time.monotonic() - sent
            assert not thread.is_alive(), "the dispatcher waited out its backoff pauses or the rate limit"
        finally:
            stop.set()
            thread.join(timeout=300)
        print(f"run() ended {took:.1f}s after the stop")
        assert took < 3.0, f"{took:.1f}s from the stop to the end of run()"
        assert len(rx_flaky.arrivals) == len(flaky), "a retry started after the stop"
        assert len(rx_limited.arrivals) == 1, "a rate-limited send started after the stop"
        states = _states(dispatcher.claims, flaky + limited)
        assert [cid for cid, s in states.items() if s is not None] == [rx_limited.arrivals[0].idempotency_key]
        assert states[rx_limited.arrivals[0].idempotency_key] == "delivered"
        assert not [r for r in receipts(settings) if r.outcome != "delivered"]
        assert read_topic(settings, settings.topics.intervention_commands_dlq) == []

        rx_flaky.always_fail = False
        specs["limited"] = hook("limited", rx_limited.url())
        dispatcher, stop, thread = start_in_thread(settings, specs, group, concurrency=8)
        try:
            wait_for(_all_receipted(settings, flaky + limited), 60, "a receipt for every command")
        finally:
            stop.set()
            thread.join(timeout=60)
    accepted = collections.Counter(a.idempotency_key for a in rx_flaky.accepted() + rx_limited.accepted())
    assert accepted == {c.command_id: 1 for c in flaky + limited}
    got = receipts(settings)
    assert collections.Counter(r.command_id for r in got) == {c.command_id: 1 for c in flaky + limited}
    assert {r.command_id: r.attempts for r in got if r.command_id in {c.command_id for c in flaky}} == \
        {c.command_id: 1 for c in flaky}, "the next owner starts the deferred commands afresh"
    assert read_topic(settings, settings.topics.intervention_commands_dlq) == []
