"""A dispatcher SIGKILLed mid-batch and restarted: no command lost, none delivered twice unless it was in doubt.

The receiver dedupes nothing, so it shows every copy that reaches it. A copy
can only repeat when the dispatcher died after the receiver took a send and
before "delivered" was recorded: that command was *in doubt* (claimed by a dead
owner). The restarted dispatcher resends exactly those, with the same
idempotency key and body, which is the documented exactly-once argument: a
receiver that honours the key sees each command once. Everything recorded as
delivered before the kill must arrive exactly once.
"""

from __future__ import annotations

import collections

import orjson
import pytest
import redis

from dispatch_harness import SECRET, command, dispatcher_env, produce, receipts, start_dispatcher, wait_for, write_config
from interventions.channels.receiver import WebhookReceiver
from streams.dispatcher.claims import ClaimStore
from streams.keys import CLAIMED_PREFIX
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

N, BATCH, CONCURRENCY = 400, 100, 4


def test_sigkill_mid_batch_then_restart_delivers_every_command_and_repeats_only_in_doubt_ones(
        settings, worker_env, redis_url, tmp_path):
    ensure_topics(settings)
    commands = [command(i, "hook") for i in range(N)]
    produce(settings, commands)
    claims = ClaimStore(redis.from_url(redis_url), settings.app_id, delivered_ttl_s=60, owner_lease_s=2)
    with WebhookReceiver(secret=SECRET.encode(), delay_s=0.01) as rx:
        config = write_config(tmp_path / "forewarn.yaml", {"hook": {"kind": "webhook", "url": rx.url()}})
        env = dispatcher_env(worker_env, settings, CHANNEL_SECRETS=orjson.dumps({"hook": SECRET}).decode(),
                             BATCH_SIZE=str(BATCH), CONCURRENCY=str(CONCURRENCY))
        first = start_dispatcher(config, env, tmp_path / "first.log")
        try:
            wait_for(lambda: len(rx.arrivals) >= BATCH + BATCH // 2, 120, "the middle of the second batch", first,
                     every=0.01)
            first.kill()
        finally:
            first.stop()
        before = len(rx.arrivals)
        states = {c.command_id: claims.state(c.account_id, c.command_id) for c in commands}
        in_doubt = {cid for cid, s in states.items() if s and s.startswith(CLAIMED_PREFIX)}
        delivered_before = {cid for cid, s in states.items() if s == "delivered"}

        second = start_dispatcher(config, env, tmp_path / "second.log")
        try:
            def all_receipted():
                done = {r.command_id for r in receipts(settings) if r.outcome in ("delivered", "skipped_duplicate")}
                return done if len(done) == N else None

            wait_for(all_receipted, 180, "a delivered receipt for every command", second)
            metrics = second.metrics()
        finally:
            second.stop()

    arrivals = collections.defaultdict(list)
    for a in rx.arrivals:
        arrivals[a.idempotency_key].append(a)
    repeated = {cid for cid, copies in arrivals.items() if len(copies) > 1}
    print(f"killed after {before} arrivals: {len(in_doubt)} claims in doubt, {len(repeated)} commands arrived twice")
    assert BATCH < before < N, "the kill did not land mid-run"
    assert in_doubt, "nothing was in doubt at the kill: the test did not kill mid-batch"
    assert set(arrivals) == {c.command_id for c in commands}, "a command was lost"
    assert repeated <= in_doubt, f"{len(repeated - in_doubt)} commands arrived twice without being in doubt"
    assert not repeated & delivered_before
    # Only sends in flight (or landed within the last settle interval) can repeat, not the whole batch.
    assert len(repeated) <= 3 * CONCURRENCY, (len(repeated), len(in_doubt))
    for cid in repeated:  # the same command, with the same key, every time
        assert len({a.body for a in arrivals[cid]}) == 1 and all(a.signature_ok for a in arrivals[cid])
    assert all(a.signature_ok for a in rx.arrivals)
    assert metrics["forewarn_dispatcher_in_doubt_total"] == len(in_doubt)
    assert not [r for r in receipts(settings) if r.outcome == "failed"]
