"""``forewarn dlq replay`` against the real broker: nothing lost, nothing doubled — across
reasons, second runs, dry runs and a replay killed half-way."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import KafkaException

from streams.agents.dead_letter import dlq_headers
from streams.dlq import REPLAYED_FROM, DlqReplayError, committed_offsets, fence_replay, replay_dlq, replay_group
from streams.producer import RecordProducer
from streams.readback import read_topic
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


def _dead_letter(settings, records: list[tuple[str, bytes]], source: str | None = None) -> None:
    """Write records to the DLQ the way the ingest agent does (same headers)."""
    producer = RecordProducer(settings)
    source = source or settings.topics.usage_events
    for i, (reason, value) in enumerate(records):
        headers = dlq_headers(reason, "test", source, i % 4, i)
        producer.produce(settings.topics.usage_events_dlq, value, f"acct-{i % 7}".encode(), headers=headers)
    producer.flush()


def _replayed(settings, topic: str | None = None) -> collections.Counter:
    """Values in the source topic that a replay put there, counted."""
    recs = read_topic(settings, topic or settings.topics.usage_events)
    return collections.Counter(r.value for r in recs if REPLAYED_FROM in r.headers)


def _cli_env(settings) -> dict[str, str]:
    return dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
                REDIS_URL=settings.redis_url.get_secret_value(), FOREWARN_APP_ID=settings.app_id,
                FOREWARN_TOPICS=settings.topics.model_dump_json())


def test_replay_by_reason_then_all_replays_each_record_once(settings):
    ensure_topics(settings)
    json_bad = [("invalid_json", f'{{"broken {i}'.encode()) for i in range(60)]
    naive = [("naive_timestamp", f'{{"event_id":"n{i}","occurred_at":"2026-01-01T00:00:00"}}'.encode())
             for i in range(25)]
    _dead_letter(settings, json_bad + naive)
    dlq = settings.topics.usage_events_dlq

    dry = replay_dlq(settings, dlq, dry_run=True)
    assert dry.rows() == [("invalid_json", settings.topics.usage_events, 60),
                          ("naive_timestamp", settings.topics.usage_events, 25)]
    assert _replayed(settings) == collections.Counter()  # a dry run changes nothing

    first = replay_dlq(settings, dlq, reason="naive_timestamp")
    assert first.total == 25 and first.other_reasons == 60
    assert _replayed(settings) == collections.Counter(v for _, v in naive)
    assert replay_dlq(settings, dlq, reason="naive_timestamp").total == 0  # second run: nothing twice

    rest = replay_dlq(settings, dlq)
    assert rest.rows() == [("invalid_json", settings.topics.usage_events, 60)]
    assert rest.already_replayed == 25
    again = replay_dlq(settings, dlq)
    assert again.total == 0 and again.already_replayed == 0  # the "all" group is past everything now
    assert _replayed(settings) == collections.Counter(v for _, v in json_bad + naive)

    # The replayed copy says where it came from, and keeps key and bytes.
    copies = [r for r in read_topic(settings, settings.topics.usage_events) if REPLAYED_FROM in r.headers]
    origin = {r.headers[REPLAYED_FROM].decode().rsplit(":", 2)[0] for r in copies}
    assert origin == {dlq}
    assert {r.key for r in copies} <= {f"acct-{i}".encode() for i in range(7)}

    # Records dead-lettered after the replays are picked up by the next one, and only they.
    late = [("late", b'{"late": 1}')]
    _dead_letter(settings, late)
    assert replay_dlq(settings, dlq).rows() == [("late", settings.topics.usage_events, 1)]
    assert _replayed(settings)[b'{"late": 1}'] == 1


def test_cli_prints_counts_by_reason_and_a_second_run_replays_nothing(settings):
    ensure_topics(settings)
    _dead_letter(settings, [("invalid_json", b"{"), ("invalid_json", b"{{"), ("missing_field", b"{}")])
    cmd = [sys.executable, "-m", "forewarn.cli", "dlq", "replay"]
    first = subprocess.run(cmd, env=_cli_env(settings), capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    lines = [ln for ln in first.stdout.splitlines() if "│" in ln]
    assert any("invalid_json" in ln and "2" in ln for ln in lines)
    assert any("missing_field" in ln and "1" in ln for ln in lines)
    second = subprocess.run(cmd, env=_cli_env(settings), capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert any("total" in ln and "0" in ln for ln in second.stdout.splitlines())
    assert sum(_replayed(settings).values()) == 3


def test_record_without_source_topic_stops_with_a_clear_error_and_to_routes_it(settings):
    ensure_topics(settings)
    producer = RecordProducer(settings)
    producer.produce(settings.topics.usage_events_dlq, b"orphan", b"acct-1", headers=[("reason", b"invalid_json")])
    producer.flush()
    with pytest.raises(DlqReplayError, match="has no source-topic header; replay it with --to TOPIC"):
        replay_dlq(settings, settings.topics.usage_events_dlq)
    result = replay_dlq(settings, settings.topics.usage_events_dlq, to_topic=settings.topics.usage_events)
    assert result.total == 1
    assert _replayed(settings) == collections.Counter([b"orphan"])


def test_missing_destination_topic_is_named_and_nothing_is_committed(settings):
    ensure_topics(settings)
    _dead_letter(settings, [("invalid_json", b"{")], source=f"gone-{settings.app_id}")
    with pytest.raises(DlqReplayError, match=f"topic 'gone-{settings.app_id}' .* does not exist"):
        replay_dlq(settings, settings.topics.usage_events_dlq)
    ensure_topics(settings, names=[f"gone-{settings.app_id}"])
    assert replay_dlq(settings, settings.topics.usage_events_dlq).total == 1
    assert sum(_replayed(settings, f"gone-{settings.app_id}").values()) == 1


def _committed_total(settings) -> int:
    dlq = settings.topics.usage_events_dlq
    return sum(committed_offsets(settings, replay_group(settings, dlq, None), dlq, list(range(4))).values())


def test_a_replay_killed_half_way_resumes_without_loss_or_doubles(settings):
    ensure_topics(settings)
    n = 60_000
    values = [b'{"broken event %06d' % i + b"x" * 200 for i in range(n)]
    _dead_letter(settings, [("invalid_json", v) for v in values])
    proc = subprocess.Popen([sys.executable, "-m", "forewarn.cli", "dlq", "replay"], env=_cli_env(settings),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # Kill it hard as soon as the first transaction has committed, i.e. half-way.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and _committed_total(settings) == 0:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # The kill may land with a transaction open and its offsets pending: they stay
    # unreadable until it is aborted (as the resumed replay's first step does).
    fence_replay(settings, settings.topics.usage_events_dlq)
    done_before = _committed_total(settings)
    assert 0 < done_before < n, f"the kill did not land half-way (committed {done_before} of {n})"

    resumed = replay_dlq(settings, settings.topics.usage_events_dlq)
    assert resumed.total == n - done_before
    replayed = _replayed(settings)
    assert len(replayed) == n and set(replayed.values()) == {1}
    assert set(replayed) == set(values)


def test_a_replay_left_open_with_offsets_pending_is_fenced_not_waited_for(settings):
    """A killed run's open transaction holds its group's offsets "unstable" until it is
    aborted; the next run aborts it at once instead of waiting for the broker's timeout."""
    from confluent_kafka import Consumer, TopicPartition

    from streams.dlq import _transactional_producer

    ensure_topics(settings)
    values = [b"{broken %d" % i for i in range(5)]
    _dead_letter(settings, [("invalid_json", v) for v in values])
    dlq = settings.topics.usage_events_dlq
    group = replay_group(settings, dlq, None)
    stale = _transactional_producer(settings, dlq, 30)
    consumer = Consumer(settings.confluent_config(**{"group.id": group, "log_level": 3}))
    try:
        stale.begin_transaction()
        stale.produce(settings.topics.usage_events, b"never committed", b"k")
        stale.send_offsets_to_transaction([TopicPartition(dlq, p, 1) for p in range(4)],
                                          consumer.consumer_group_metadata(), 30)
        stale.flush(30)
        # the broker would hold these offsets for its transaction timeout (60 s); 10 s is far less
        result = replay_dlq(settings, dlq, timeout=10)
    finally:
        consumer.close()
    assert result.total == len(values)
    replayed = _replayed(settings)
    assert sorted(replayed) == sorted(values) and set(replayed.values()) == {1}


def test_records_dead_lettered_during_a_replay_after_a_transaction_marker_are_not_skipped(settings, monkeypatch):
    """The snapshot's last offset is a transaction marker (never delivered), and two records arrive after
    the snapshot: the run must commit its progress at the snapshot's end, not at the consumer's position
    past those two, or the next run never replays them."""
    import confluent_kafka
    from confluent_kafka import Producer

    import streams.dlq as dlq_mod

    ensure_topics(settings)
    dlq = settings.topics.usage_events_dlq
    headers = dlq_headers("invalid_json", "test", settings.topics.usage_events, 0, 0)
    tx = Producer(settings.confluent_config(**{"transactional.id": f"writer-{settings.app_id}", "log_level": 3}))
    tx.init_transactions(30)
    tx.begin_transaction()
    for i in range(3):
        tx.produce(dlq, b"old-%d" % i, b"k", partition=0, headers=headers)
    tx.commit_transaction(30)  # offsets 0-2, commit marker at 3
    plain = Producer(settings.confluent_config(**{"log_level": 3}))

    class ArrivingDuringTheRun(confluent_kafka.Consumer):
        def assign(self, partitions):
            for i in range(2):  # dead-lettered just after the run took its snapshot of the ends
                plain.produce(dlq, b"new-%d" % i, b"k", partition=0, headers=headers)
            plain.flush(30)
            return super().assign(partitions)

    monkeypatch.setattr(dlq_mod, "Consumer", ArrivingDuringTheRun)
    assert replay_dlq(settings, dlq).total == 3
    monkeypatch.setattr(dlq_mod, "Consumer", confluent_kafka.Consumer)
    assert replay_dlq(settings, dlq).total == 2
    assert _replayed(settings) == collections.Counter([b"old-0", b"old-1", b"old-2", b"new-0", b"new-1"])


def test_a_reason_replay_started_during_a_plain_replay_fences_it_and_nothing_is_published_twice(settings):
    ensure_topics(settings)
    dlq = settings.topics.usage_events_dlq
    values = [b"bad-%d" % i for i in range(6000)]
    _dead_letter(settings, [("invalid_json", v) for v in values])
    outcome: dict[str, object] = {}
    started: list[threading.Thread] = []

    def reason_run() -> None:
        try:
            outcome["reason"] = replay_dlq(settings, dlq, reason="invalid_json", timeout=30)
        except DlqReplayError as exc:
            outcome["reason"] = exc

    def progress(_n: int) -> None:
        if not started:  # an operator starts `forewarn dlq replay --reason invalid_json` meanwhile
            started.append(threading.Thread(target=reason_run))
            started[0].start()
            started[0].join()

    try:
        outcome["plain"] = replay_dlq(settings, dlq, chunk=1000, on_progress=progress, timeout=30)
    except (DlqReplayError, KafkaException) as exc:
        outcome["plain"] = exc
    assert started, "the plain run made no progress"
    assert any(isinstance(v, DlqReplayError | KafkaException) for v in outcome.values()), \
        "both runs went on: one must fence the other"
    replay_dlq(settings, dlq, timeout=30)  # a last plain run finishes whatever is left
    replayed = _replayed(settings)
    assert sorted(replayed) == sorted(values) and set(replayed.values()) == {1}, "published twice or lost"
