"""The dispatcher's liveness beats inside a long batch: a send landing and a rate-limit wait are progress.

Its ``/healthz`` fails once the loop has not beaten for :func:`liveness_limit_s` (110 s for a webhook with the default
10 s channel timeout). A batch may run for ``batch_budget_s`` (120 s) or longer while it works, so the
loop must beat within the batch, not only when it polls Kafka between batches; otherwise a busy
dispatcher is called hung and restarted in the middle of its work.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from dispatch_harness import SECRET, command, hook, produce, receipts, running, wait_for
from interventions.channels.base import ChannelSpec
from interventions.channels.receiver import WebhookReceiver
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

#: Sends to the slow receiver take this long; the limited channel allows one send per 1 / RATE seconds.
DELAY_S, RATE = 0.5, 0.5


def test_a_long_batch_beats_as_its_sends_land_and_while_it_waits_for_a_rate_limit(settings):
    ensure_topics(settings)
    account = f"acct-beat-{uuid.uuid4().hex[:6]}"  # one partition: the commands come in one batch
    limited = [command(i, "limited", account=account) for i in range(3)]
    slow = [command(10 + i, "slow", account=account) for i in range(6)]
    produce(settings, limited + slow)
    beats: list[float] = []
    batches: list[list[float]] = []
    lock = threading.Lock()

    def beat() -> None:
        with lock:
            beats.append(time.monotonic())

    def track_batches(dispatcher) -> None:
        inner = dispatcher.process_batch

        def process_batch(msgs):
            batches.append([time.monotonic(), float("inf")])
            try:
                inner(msgs)
            finally:
                batches[-1][1] = time.monotonic()

        dispatcher.process_batch = process_batch

    with WebhookReceiver(secret=SECRET.encode(), delay_s=DELAY_S) as rx_slow, \
            WebhookReceiver(secret=SECRET.encode()) as rx_limited:
        specs = {"slow": hook("slow", rx_slow.url()),
                 "limited": ChannelSpec("limited", "webhook", {"url": rx_limited.url(), "headers": {}},
                                        timeout_s=5, rate_per_s=RATE)}
        with running(settings, specs, concurrency=1, beat=beat, prepare=track_batches):
            wait_for(lambda: {r.command_id for r in receipts(settings)} >= {c.command_id for c in limited + slow},
                     120, "a receipt for every command")

    start, end = max(batches, key=lambda b: b[1] - b[0])
    # Serial sends: two waits of 1 / RATE for the limited channel, six sends of DELAY_S.
    assert end - start >= 2 / RATE + 6 * DELAY_S - 1, (end - start, len(batches))
    inside = sorted(t for t in beats if start < t < end)
    assert len(inside) >= 6 + 2 / RATE, f"{len(inside)} beats in a batch of {end - start:.1f}s"
    longest_silence = max(b - a for a, b in zip([start, *inside], [*inside, end]))
    # Before, the loop beat only when it polled: the whole batch was one silence.
    assert longest_silence < (end - start) / 2, (longest_silence, end - start)
    assert sorted(a.idempotency_key for a in rx_limited.accepted() + rx_slow.accepted()) == \
        sorted(c.command_id for c in limited + slow)
