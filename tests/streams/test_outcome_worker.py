"""The live outcome worker (``forewarn outcomes``) on the real Kafka and Redis.

A scripted history — treated and control decisions of two triggers, successes inside, outside and at
the window edges, a success that reaches the worker before its decision, duplicated events and
decisions, events out of order within the allowed lateness — is produced in the order a live pipeline
would produce it (a decision trails its firing by the decision window plus the lateness). The counts
the worker stores must equal what ``track_outcomes`` computes offline on the same data for the windows
closed by the final watermark; a success is not counted before its window closes; a second worker that
gets every record again changes nothing; a write refused because another owner wrote first is worked
out again on the state that owner left.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager

import orjson
import pytest
import redis
from confluent_kafka import OFFSET_BEGINNING, Producer
from prometheus_client import CollectorRegistry

from interventions.measurement.decisions import decision_from_json
from interventions.measurement.outcomes import track_outcomes
from schemas.event import Event, event_to_json, parse_event
from schemas.timefmt import (
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_MINUTE,
    format_rfc3339,
    parse_rfc3339,
)
from streams.config import effective_config
from streams.keys import PartitionKeys
from streams.outcome_worker import OutcomeWorker
from streams.settings import Topics
from streams.stores.outcome_redis import decode_account
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

T0 = parse_rfc3339("2026-03-02T00:00:00Z")
D, H, M = US_PER_DAY, US_PER_HOUR, US_PER_MINUTE
PAY, ONB = "payment_failing", "onboarding_stalled"
INTERVENTION = {PAY: "payment_outreach", ONB: "onboarding_checkin"}
#: Every partition ends with an event at this time, so each partition's final watermark is T_END - 5m.
T_END = T0 + 10 * D + 5 * M
FINAL_WM = T0 + 10 * D
#: A decision reaches the topic once the policy's window (1h) and the lateness (5m) have passed.
DECISION_LAG = H + 5 * M


def _history() -> list[tuple[int, str, str, bytes]]:
    """(publish time, "events" | "decisions", account, value), in publish order."""
    out: list[tuple[int, str, str, bytes]] = []
    n = Counter()

    def event(account, type_, ts, published=None, event_id=None, **props):
        n["e"] += 1
        e = Event(event_id or f"e{n['e']}", account, type_, ts, None, props)
        out.append((ts if published is None else published, "events", account, event_to_json(e)))

    def decision(account, trigger, arm, decided, firing_id=None, published=None):
        n["d"] += 1
        body = {"firing_id": firing_id or f"f{n['d']}", "account_id": account, "trigger": trigger,
                "intervention": INTERVENTION[trigger] if arm != "suppressed" else None, "arm": arm,
                "decided_at": format_rfc3339(decided), "experiment": "exp-1"}
        if arm == "suppressed":
            body["reason"] = "cooldown"
        out.append((decided + DECISION_LAG if published is None else published, "decisions", account,
                    orjson.dumps(body)))

    # a1: success inside the window, held until the window closes (T0+7d+1h); its event comes twice.
    decision("a1", PAY, "treated", T0 + H)
    event("a1", "payment.succeeded", T0 + 2 * D, event_id="pay-a1")
    event("a1", "payment.succeeded", T0 + 2 * D, published=T0 + 2 * D + M, event_id="pay-a1")
    # a2: control, nothing happens: failure.
    decision("a2", PAY, "control", T0 + H)
    # a3: the success lands exactly on the window's end (excluded): failure; the decision comes twice.
    decision("a3", PAY, "treated", T0 + H, firing_id="f-a3")
    decision("a3", PAY, "treated", T0 + H, firing_id="f-a3", published=T0 + 3 * H)
    event("a3", "payment.succeeded", T0 + H + 7 * D)
    # a4: the success lands exactly at decided_at (included) and reaches the worker before the decision.
    decision("a4", PAY, "control", T0 + 2 * H)
    event("a4", "payment.succeeded", T0 + 2 * H)
    # a5: one success before decided_at (does not count), one after it, before the decision arrives, twice.
    decision("a5", ONB, "treated", T0 + 3 * H)
    event("a5", "feature.used", T0 + 2 * H + 30 * M, feature="reports")
    event("a5", "feature.used", T0 + 3 * H + 10 * M, event_id="use-a5", feature="reports")
    event("a5", "feature.used", T0 + 3 * H + 10 * M, published=T0 + 3 * H + 20 * M, event_id="use-a5",
          feature="reports")
    # a6: the feature is not a core one: failure.
    decision("a6", ONB, "treated", T0 + 3 * H)
    event("a6", "feature.used", T0 + D, feature="settings")
    # a7: control success that arrives out of order, within the lateness.
    decision("a7", ONB, "control", T0 + 3 * H)
    event("a7", "session.started", T0 + 5 * D + 3 * M)
    event("a7", "feature.used", T0 + 5 * D, published=T0 + 5 * D + 4 * M, feature="dashboards")
    # a8: success early in a window still open at the end: held, never counted here.
    decision("a8", PAY, "treated", T0 + 6 * D)
    event("a8", "payment.succeeded", T0 + 6 * D + H)
    # a9: a suppressed decision (not measured), and a control whose success comes a day too late.
    decision("a9", PAY, "suppressed", T0 + H)
    decision("a9", ONB, "control", T0 + 2 * D)
    event("a9", "feature.used", T0 + 9 * D + H, feature="integrations")
    # a10: control success.
    decision("a10", PAY, "control", T0 + D)
    event("a10", "payment.succeeded", T0 + 3 * D)
    # noise: events no metric looks at.
    for i in range(12):
        event(f"a{i % 10 + 1}", "session.started", T0 + i * 17 * H)
    out.sort(key=lambda r: r[0])
    return out


def _accounts(history) -> list[str]:
    return sorted({a for _, _, a, _ in history})


def _partition_of(partitions: int):
    return lambda account: int(account[1:]) % partitions


def _expected(history, settings) -> dict[tuple[str, str], tuple[int, int]]:
    """What the offline tracker says for the windows closed by the final watermark."""
    cfg = effective_config(settings)
    metrics = {name: cfg.success_metric(name) for name in cfg.triggers}
    decisions = [decision_from_json(orjson.loads(v)) for _, kind, _, v in history if kind == "decisions"]
    events = [parse_event(v) for _, kind, _, v in history if kind == "events"]
    outcomes, _ = track_outcomes(decisions, events, metrics, until=FINAL_WM)
    counts: dict[tuple[str, str], list[int]] = {}
    for o in outcomes:
        if o.success is not None:
            c = counts.setdefault((o.decision.trigger, o.decision.arm), [0, 0])
            c[0] += 1
            c[1] += o.success
    return {k: (v[0], v[1]) for k, v in counts.items()}


class _Kafka:
    """Produces history records to the partition of their account and remembers the last offsets."""

    def __init__(self, settings):
        self.settings = settings
        self.producer = Producer(settings.confluent_config(**{"acks": "all", "enable.idempotence": True}))
        self.part = _partition_of(settings.topics.partitions)
        self.last: dict[tuple[str, int], int] = {}
        self.total = 0

    def send(self, records) -> None:
        def ack(err, msg):
            assert err is None, err
            key = ("events" if msg.topic() == self.settings.topics.usage_events else "decisions", msg.partition())
            self.last[key] = max(self.last.get(key, -1), msg.offset())

        for _, kind, account, value in records:
            topic = self.settings.topics.usage_events if kind == "events" else self.settings.topics.intervention_decisions
            self.producer.produce(topic, value, account.encode(), partition=self.part(account), on_delivery=ack)
            self.total += 1
        assert self.producer.flush(30) == 0

    def end_ticks(self) -> list[tuple[int, str, str, bytes]]:
        """One non-metric event at T_END in every partition, so all partitions end at the same watermark."""
        ticks = []
        for p in range(self.settings.topics.partitions):
            account = next(f"a{i}" for i in range(100, 200) if self.part(f"a{i}") == p)
            e = Event(f"tick-{p}", account, "session.started", T_END)
            ticks.append((T_END, "events", account, event_to_json(e)))
        return ticks


def _wait_applied(worker: OutcomeWorker, kafka: _Kafka, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        recs = worker.store.read_records(range(worker.topics.partitions))
        if all((recs[p].ev if kind == "events" else recs[p].dec) >= off if p in recs else False
               for (kind, p), off in kafka.last.items()):
            return
        assert time.monotonic() < deadline, f"not applied in {timeout}s: {kafka.last} vs {recs}"
        time.sleep(0.1)


@contextmanager
def _running(worker: OutcomeWorker):
    stop = threading.Event()
    failure: list[BaseException] = []

    def run():
        try:
            worker.run(stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test
            failure.append(exc)

    thread = threading.Thread(target=run, name="outcome-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "worker did not stop"
    if failure:
        raise failure[0]


def _snapshot(client, worker: OutcomeWorker) -> dict:
    """Every key of the worker's namespace with its value (strings) or members (sorted sets)."""
    out = {}
    for key in client.scan_iter(match=f"fw:{{{worker.store.namespace}:*"):
        kind = client.type(key)
        out[key] = client.get(key) if kind == b"string" else client.zrange(key, 0, -1, withscores=True)
    return out


def _phases(history):
    """The history cut at a few publish times; the worker applies each phase before the next is produced."""
    cuts = [T0 + 2 * H + 30 * M, T0 + 4 * H, T0 + D, T0 + 3 * D, T0 + 6 * D, T0 + 8 * D, T_END + 1]
    phases, start = [], 0
    for cut in cuts:
        end = start
        while end < len(history) and history[end][0] < cut:
            end += 1
        phases.append(history[start:end])
        start = end
    assert start == len(history)
    return phases


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _run_history(settings, client):
    """Produce the history phase by phase to a running worker; return (worker, kafka, history, mid-run checks)."""
    ensure_topics(settings)
    history = _history()
    kafka = _Kafka(settings)
    worker = OutcomeWorker(settings, effective_config(settings), CollectorRegistry())
    held_mid_run = None
    with _running(worker):
        for i, phase in enumerate(_phases(history)):
            kafka.send(phase)
            _wait_applied(worker, kafka)
            if i == 3:  # a1's success (T0+2d) applied, its window (to T0+7d+1h) still open
                counts = worker.global_counts()
                blob = client.get(PartitionKeys(worker.store.namespace, kafka.part("a1")).account("a1"))
                held_mid_run = (counts.get((PAY, "treated")), decode_account("a1", blob).held)
        kafka.send(kafka.end_ticks())
        _wait_applied(worker, kafka)
    return worker, kafka, history, held_mid_run


def test_stored_counts_equal_the_offline_tracker_on_closed_windows(settings, client):
    worker, kafka, history, (mid_counts, mid_held) = _run_history(settings, client)
    # Mid-run: a1 succeeded, but its window is open: held in its state, not counted.
    assert mid_counts is None
    assert mid_held == [(PAY, "treated", T0 + H + 7 * D)]

    expected = _expected(history, settings)
    assert expected == {(PAY, "treated"): (2, 1), (PAY, "control"): (3, 2),
                        (ONB, "treated"): (2, 1), (ONB, "control"): (2, 1)}
    assert worker.global_counts() == expected
    recs = worker.store.read_records(range(settings.topics.partitions))
    assert {r.wm for r in recs.values()} == {FINAL_WM}
    # a8's success is still held (its window closes after the final watermark).
    blob = client.get(PartitionKeys(worker.store.namespace, kafka.part("a8")).account("a8"))
    assert decode_account("a8", blob).held == [(PAY, "treated", T0 + 13 * D)]
    # The gauges are the global figures.
    for (trigger, arm), (closed, successes) in expected.items():
        assert worker.gauges.value("forewarn_outcome_decisions", trigger=trigger, arm=arm) == closed
        assert worker.gauges.value("forewarn_outcome_success_ratio", trigger=trigger, arm=arm) == successes / closed
    # The two invalid-free streams were read in full, nothing counted invalid.
    assert worker.registry.get_sample_value("forewarn_outcome_invalid_records_total", {"stream": "events"}) is None


class _FromTheBeginning(OutcomeWorker):
    """A worker whose consumer is handed every record again (as after lost Kafka offsets or a crash)."""

    def _on_assign(self, consumer, partitions):
        super()._on_assign(consumer, partitions)
        for tp in partitions:
            tp.offset = OFFSET_BEGINNING
        consumer.assign(partitions)


def test_records_delivered_again_change_nothing(settings, client):
    worker, kafka, _, _ = _run_history(settings, client)
    before = _snapshot(client, worker)
    counts = worker.global_counts()
    assert counts and any(k.endswith(b":wakes") for k in before)

    other_settings = settings.model_copy(update={"app_id": settings.app_id + "-again"})  # a new consumer group
    again = _FromTheBeginning(other_settings, effective_config(settings), CollectorRegistry())
    with _running(again):
        deadline = time.monotonic() + 90
        while (again.registry.get_sample_value("forewarn_outcome_redelivered_records_total") or 0) < kafka.total:
            assert time.monotonic() < deadline, "records were not delivered again"
            time.sleep(0.1)
    assert again.registry.get_sample_value("forewarn_outcome_redelivered_records_total") == kafka.total
    assert _snapshot(client, worker) == before
    assert again.global_counts() == counts
    for (trigger, arm), (closed, _) in counts.items():
        assert again.gauges.value("forewarn_outcome_decisions", trigger=trigger, arm=arm) == closed


def _records(history):
    """Every record of the history on partition 0, with its offset in its topic: [(kind, (offset, value))]."""
    offsets = Counter()
    out = []
    for _, kind, _, value in history:
        out.append((kind, (offsets[kind], value)))
        offsets[kind] += 1
    return out


def _split(chunk):
    return [r for k, r in chunk if k == "events"], [r for k, r in chunk if k == "decisions"]


def test_a_write_refused_because_another_owner_wrote_first_is_worked_out_again(settings, client):
    """Two owners of partition 0 overlapping in a rebalance: the old owner stores this chunk *and the next*
    between the new owner's read and its write. The refused chunk is worked out again on that state (all
    of it is then a redelivery) and the partition ends where one owner applying it all ends."""
    history = _history()
    records = _records(history)
    third = len(records) // 3
    first, second, rest = records[:third], records[third:2 * third], records[2 * third:]
    cfg = effective_config(settings)

    ref_settings = settings.model_copy(update={"topics": Topics(**{
        **settings.topics.model_dump(), "usage_events": settings.topics.usage_events + ".ref"})})
    reference = OutcomeWorker(ref_settings, cfg, CollectorRegistry())
    for chunk in (first, second, rest):
        reference.handle_partition(0, *_split(chunk))

    owner = OutcomeWorker(settings, cfg, CollectorRegistry())
    other = OutcomeWorker(settings, cfg, CollectorRegistry())
    owner.handle_partition(0, *_split(first))
    real = other.store.read_accounts
    interleaved = []

    def owner_writes_first(*args, **kwargs):
        blobs = real(*args, **kwargs)  # the record and the accounts read after ``first`` ...
        if not interleaved:
            interleaved.append(True)
            owner.handle_partition(0, *_split(second + rest))  # ... then the old owner stores the rest
        return blobs

    other.store.read_accounts = owner_writes_first
    result = other.handle_partition(0, *_split(second))
    assert interleaved
    assert other.registry.get_sample_value("forewarn_outcome_stale_writes_total") == 1
    assert result.redelivered == len(second) and result.applied_events == result.applied_decisions == 0

    _, got = other.store.read_record(0)
    _, want = reference.store.read_record(0)
    got.n = want.n = 0  # the number of writes differs (two owners), nothing else may
    assert got == want and got.counts
    accounts = _accounts(history)
    assert other.store.read_accounts(0, accounts) == reference.store.read_accounts(0, accounts)
    assert (client.zrange(other.store.keys(0).wakes, 0, -1, withscores=True)
            == client.zrange(reference.store.keys(0).wakes, 0, -1, withscores=True))


def test_a_history_already_in_kafka_when_the_worker_starts_gives_the_same_counts(settings, client):
    """A replay: everything is in both topics before the worker starts (events are held back while the
    decisions have a backlog, so a decision never finds its success events forgotten)."""
    ensure_topics(settings)
    history = _history()
    kafka = _Kafka(settings)
    kafka.send(history)
    kafka.send(kafka.end_ticks())
    worker = OutcomeWorker(settings, effective_config(settings), CollectorRegistry())
    with _running(worker):
        _wait_applied(worker, kafka)
    assert worker.global_counts() == _expected(history, settings)


def test_the_worker_refuses_to_start_when_the_two_topics_differ_in_partition_count(settings):
    """Events and decisions of an account must land on the same partition number; if not, its decisions
    would never see its successes: one clear error at start, nothing counted."""
    import threading

    from confluent_kafka.admin import AdminClient, NewTopic

    from streams.config import load_config
    from streams.errors import StreamsError
    from streams.outcome_worker import OutcomeWorker

    ensure_topics(settings)
    odd = settings.topics.intervention_decisions + ".odd"
    admin = AdminClient(settings.confluent_config())
    admin.create_topics([NewTopic(odd, settings.topics.partitions + 2, 1)])[odd].result()
    s = settings.model_copy(update={"topics": settings.topics.model_copy(update={"intervention_decisions": odd})})
    worker = OutcomeWorker(s, load_config(s.config_path))
    with pytest.raises(StreamsError, match="partitions"):
        worker.run(threading.Event())
    assert worker.consumer is None


def test_the_gate_never_resumes_events_while_the_decisions_end_is_unknown(settings):
    """Right after assignment librdkafka does not know the decisions' end until their first fetch (it answers
    -1001): resuming the events on that guess let them run ahead of a decisions backlog, and every success
    was forgotten before its decision came."""
    from confluent_kafka import TopicPartition

    from streams.config import load_config

    ensure_topics(settings)
    worker = OutcomeWorker(settings, load_config(settings.config_path))
    consumer = worker._make_consumer()
    try:
        tps = [TopicPartition(settings.topics.usage_events, 0), TopicPartition(settings.topics.intervention_decisions, 0)]
        consumer.assign(tps)
        assert consumer.get_watermark_offsets(tps[1], cached=True)[1] < 0  # nothing fetched yet: unknown
        worker._assigned, worker._paused = {0}, {0}
        consumer.pause([tps[0]])
        worker._gate(consumer)
        assert worker._paused == {0}, "the events were resumed on an unknown end of the decisions"
    finally:
        consumer.close()


# -- idle partitions: the watermark follows the wall clock -------------------------------------------------

S = 1_000_000
#: Decided at X, a 7-day payment window ends at X + 7d; the last event leaves the watermark 5 s before it.
X = T0 + 2 * H
WINDOW_END = X + 7 * D
LAST_WM = WINDOW_END - 5 * S


def _idle_history(partitions: int) -> list[tuple[int, str, str, bytes]]:
    """On one partition: a treated decision nothing answers (a failure once its window closes), a control
    decision answered inside its window (a success held until then), and a last event that leaves the
    watermark 5 s before both windows close; then silence."""
    part = _partition_of(partitions)
    fail, win = next((a, b) for a in (f"a{i}" for i in range(1, 100)) for b in (f"a{i}" for i in range(100, 200))
                     if part(a) == part(b))

    def decision(account, arm, firing_id):
        return (X + DECISION_LAG, "decisions", account, orjson.dumps({
            "firing_id": firing_id, "account_id": account, "trigger": PAY, "intervention": INTERVENTION[PAY],
            "arm": arm, "decided_at": format_rfc3339(X), "experiment": "exp-1"}))

    def event(account, type_, ts, event_id):
        return (ts, "events", account, event_to_json(Event(event_id, account, type_, ts, None, {})))

    return [decision(fail, "treated", "f-idle-1"), decision(win, "control", "f-idle-2"),
            event(win, "payment.succeeded", X + D, "pay-idle"),
            event(fail, "session.started", LAST_WM + 5 * M, "last")]


def _set_detect_watermark(client, worker: OutcomeWorker, partition: int, watermark: int) -> None:
    """What a detect worker stores as its partition's watermark (the cap of the outcome worker's idle advance);
    its namespace is the one ``streams.app`` gives the detect worker."""
    namespace = f"det:{worker.settings.topics.usage_events}"
    client.hset(PartitionKeys(namespace, partition).record, "watermark", watermark)


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.1)


@pytest.mark.parametrize("idle_advance", [True, False], ids=["idle-advance-on", "idle-advance-off"])
def test_a_silent_partition_closes_its_windows_by_the_wall_clock(settings, client, idle_advance):
    """The old worker moved a partition's watermark only with its events: two windows 5 s of event time from
    closing stayed open for as long as the partition was silent. With the idle advance (after 1 s idle here)
    the watermark follows the wall clock from the last event, so within seconds the unanswered window is a
    failure and the held success is counted; off, nothing moves. A worker handed every record again after
    the advance (a restart with lost offsets), itself advancing, counts nothing twice."""
    settings = settings.model_copy(update={"idle_advance": idle_advance, "idle_advance_after_s": 1.0})
    ensure_topics(settings)
    history = _idle_history(settings.topics.partitions)
    kafka = _Kafka(settings)
    p = kafka.part(history[-1][2])
    worker = OutcomeWorker(settings, effective_config(settings), CollectorRegistry())
    _set_detect_watermark(client, worker, p, WINDOW_END + D)  # a detect worker further on: no cap here
    closed = {(PAY, "treated"): (1, 0), (PAY, "control"): (1, 1)}
    with _running(worker):
        kafka.send(history)
        _wait_applied(worker, kafka)
        assert worker.global_counts() == {}
        if idle_advance:
            _wait(lambda: worker.global_counts() == closed, 30, "the windows closed and counted")
            assert worker.gauges.value("forewarn_outcome_decisions", trigger=PAY, arm="control") == 1
        else:
            time.sleep(8)  # on, both windows would be counted by now (1 s idle + 5 s + a tick)
    rec = worker.store.read_record(p)[1]
    if not idle_advance:
        assert worker.global_counts() == {} and rec.wm == LAST_WM
        return
    assert WINDOW_END <= rec.wm < WINDOW_END + 60 * S  # seconds past the last event's watermark, not "now"
    for account in {a for _, _, a, _ in history}:
        blob = client.get(PartitionKeys(worker.store.namespace, p).account(account))
        st = decode_account(account, blob) if blob else None
        assert st is None or not (st.pending or st.held), (account, st)  # both windows are gone from the state

    again_settings = settings.model_copy(update={"app_id": settings.app_id + "-again"})
    again = _FromTheBeginning(again_settings, effective_config(settings), CollectorRegistry())
    with _running(again):
        _wait(lambda: (again.registry.get_sample_value("forewarn_outcome_redelivered_records_total") or 0)
              >= kafka.total, 60, "every record delivered again")
        time.sleep(3)  # idle ticks of the second worker too
    assert again.global_counts() == closed
    assert worker.store.read_record(p)[1].wm >= rec.wm


def test_the_idle_advance_moves_only_when_idle_caught_up_and_behind_the_detect_worker(settings, client):
    """The rule of ``OutcomeWorker.advance_idle`` (module doc), one condition at a time, on Redis: idle long
    enough; every event and decision in Kafka applied (a consumer position past a commit marker counts); by
    at most the wall-clock time since the last event, never past the detect worker's watermark, never back;
    the advance and its counts are one compare-and-set write (another owner's write first: dropped, then
    counted once by the next)."""
    settings = settings.model_copy(update={"idle_advance_after_s": 30.0})
    cfg = effective_config(settings)
    worker = OutcomeWorker(settings, cfg, CollectorRegistry())
    *decisions, _, last = _idle_history(settings.topics.partitions)  # the success event left out
    worker.handle_partition(0, [(0, last[3])], [(i, v) for i, (_, _, _, v) in enumerate(decisions)])
    wall, wm = worker.progress[0]
    assert wm == LAST_WM and worker.global_counts() == {}
    ends = (1, 2)  # the partition's log ends: everything applied

    assert worker.advance_idle(0, ends, now=wall + 29) is None  # not idle long enough
    assert worker.advance_idle(0, (2, 2), now=wall + 60) is None  # an event still in Kafka
    assert worker.advance_idle(0, (1, 3), now=wall + 60) is None  # a decision still in Kafka
    assert worker.advance_idle(0, ends, now=wall + 60) is None  # no detect worker watermark stored
    _set_detect_watermark(client, worker, 0, WINDOW_END - S)
    chunk = worker.advance_idle(0, (2, 3), read=(2, 3), now=wall + 60)  # positions past commit markers
    assert chunk is not None and chunk.counted == 0
    assert worker.store.read_record(0)[1].wm == WINDOW_END - S  # capped by the detect worker's watermark

    _set_detect_watermark(client, worker, 0, WINDOW_END + D)
    other = OutcomeWorker(settings, cfg, CollectorRegistry())
    real, raced = worker.store.read_accounts, []

    def another_owner_writes_first(*args, **kwargs):
        blobs = real(*args, **kwargs)
        if not raced:
            raced.append(other.handle_partition(0, [(1, last[3])], []))  # a copy of the last event
        return blobs

    worker.store.read_accounts = another_owner_writes_first
    assert worker.advance_idle(0, ends, now=wall + 60) is None  # refused: dropped, nothing counted
    assert raced and worker.registry.get_sample_value("forewarn_outcome_stale_writes_total") == 1
    worker.store.read_accounts = real
    assert worker.global_counts() == {}

    chunk = worker.advance_idle(0, (2, 2), now=wall + 60)
    assert chunk is not None and chunk.counted == 2 and chunk.watermark == LAST_WM + 60 * S
    assert worker.global_counts() == {(PAY, "treated"): (1, 0), (PAY, "control"): (1, 0)}  # no success came
    stored = worker.store.read_record(0)[0]
    assert worker.advance_idle(0, (2, 2), now=wall + 45) is None  # never backwards
    assert worker.advance_idle(0, (2, 2), now=wall + 60) is None  # the same time again: nothing to do
    assert worker.store.read_record(0)[0] == stored

    off = OutcomeWorker(settings.model_copy(update={"idle_advance": False}), cfg, CollectorRegistry())
    off.progress[0] = (wall, wm)
    assert off.advance_idle(0, (2, 2), now=wall + 3600) is None
    assert worker.store.read_record(0)[0] == stored and worker.global_counts() == {
        (PAY, "treated"): (1, 0), (PAY, "control"): (1, 0)}


def test_the_idle_tick_caps_by_the_detect_watermark_read_before_the_log_ends(settings, client):
    """An event appended after the tick asked for the log ends reached the detect worker after the watermark
    the tick read first, so it is acceptable below that cap; had the tick read the detect watermark after
    the ends (the detect worker's own idle advance moving it in between), it could close a window that event
    would have settled. Found in review: the tick read it after the ends."""
    from confluent_kafka import Consumer

    ensure_topics(settings)
    settings = settings.model_copy(update={"idle_advance_after_s": 30.0})
    worker = OutcomeWorker(settings, effective_config(settings), CollectorRegistry())
    *decisions, _, last = _idle_history(settings.topics.partitions)
    worker.handle_partition(0, [(0, last[3])], [(i, v) for i, (_, _, _, v) in enumerate(decisions)])
    producer = Producer(settings.confluent_config(**{"log_level": 3}))  # the log ends the applied offsets reach
    producer.produce(settings.topics.usage_events, last[3], partition=0)
    for *_, value in decisions:
        producer.produce(settings.topics.intervention_decisions, value, partition=0)
    assert producer.flush(30) == 0
    _set_detect_watermark(client, worker, 0, WINDOW_END - S)

    class DetectAdvancesMeanwhile(Consumer):
        def get_watermark_offsets(self, *args, **kwargs):
            marks = super().get_watermark_offsets(*args, **kwargs)
            _set_detect_watermark(client, worker, 0, WINDOW_END + D)  # the detect worker's idle advance
            return marks

    consumer = DetectAdvancesMeanwhile(settings.confluent_config(**{"group.id": f"{settings.app_id}-t",
                                                                     "log_level": 3}))
    try:
        worker._assigned, worker._paused = {0}, set()
        worker.progress[0] = (time.time() - 60, LAST_WM)
        worker._advance_idle_partitions(consumer)
    finally:
        consumer.close()
    assert worker.store.read_record(0)[1].wm == WINDOW_END - S  # the cap read before the ends
    assert worker.global_counts() == {}  # no window closed


# -- state lifetime: event time, not the wall clock -------------------------------------------------------


class _Partition0:
    """Records of partition 0 for ``handle_partition``, numbered per topic as Kafka would."""

    def __init__(self):
        self.offsets = Counter()

    def event(self, account, type_, ts, **props):
        value = event_to_json(Event(f"e{self.offsets['ev']}", account, type_, ts, None, props))
        self.offsets["ev"] += 1
        return self.offsets["ev"] - 1, value

    def decision(self, account, arm, decided, firing_id):
        value = orjson.dumps({"firing_id": firing_id, "account_id": account, "trigger": PAY,
                              "intervention": INTERVENTION[PAY], "arm": arm, "decided_at": format_rfc3339(decided),
                              "experiment": "exp-1"})
        self.offsets["dec"] += 1
        return self.offsets["dec"] - 1, value


def _wall_clock_passes(client, worker: OutcomeWorker, ms: int) -> int:
    """What ``ms`` of wall-clock time does to the worker's keys while it is down: every key whose time-to-live
    runs out within it is gone, the others have ``ms`` less left. Returns how many keys expired."""
    expired = 0
    for key in client.scan_iter(match=f"fw:{{{worker.store.namespace}:*"):
        left = client.pttl(key)
        if left == -1:
            continue  # no TTL (the partition record, the wake-up times)
        if left <= ms:
            client.delete(key)
            expired += 1
        else:
            client.pexpire(key, left - ms)
    return expired


def _account_keys(client, worker: OutcomeWorker) -> set[str]:
    prefix = worker.store.keys(0).account_prefix.encode()
    return {k[len(prefix):].decode() for k in client.scan_iter(match=prefix + b"*")}


def test_state_outlives_a_weeks_long_outage_and_trailing_decisions_still_find_their_successes(settings, client):
    """The worker applies a success that comes before its decision and a success held in an open window, then
    is down for 30 days (the keys' wall-clock TTL runs on meanwhile), then the decisions that trail them arrive
    and the windows close: both successes are credited. (Before, the keys expired on the wall clock: the
    remembered success after about a day, the open window after about three weeks.)"""
    cfg = effective_config(settings)
    worker = OutcomeWorker(settings, cfg, CollectorRegistry())
    p = _Partition0()
    # held: decided at T0, answered at T0 + 1d (window to T0 + 7d). early: answered at T0 + 1d + 10m, and its
    # decision (decided at T0 + 1d) only reaches the worker after the outage, as the policy trails the events.
    worker.handle_partition(0, [p.event("held", "payment.succeeded", T0 + D),
                                p.event("early", "payment.succeeded", T0 + D + 10 * M),
                                p.event("noise", "payment.failed", T0 + D + 20 * M)],
                            [p.decision("held", "treated", T0, "f-held")])
    assert _account_keys(client, worker) == {"held", "early"}
    assert worker.global_counts() == {}

    expired = _wall_clock_passes(client, worker, 30 * D // 1000)

    worker.handle_partition(0, [p.event("noise", "payment.failed", T0 + D + DECISION_LAG)],
                            [p.decision("early", "control", T0 + D, "f-early")])
    worker.handle_partition(0, [p.event("noise", "payment.failed", T0 + 8 * D + 10 * M)], [])
    assert worker.global_counts() == {(PAY, "treated"): (1, 1), (PAY, "control"): (1, 1)}
    assert expired == 0


def test_an_account_is_deleted_once_nothing_in_it_can_matter_any_more(settings, client):
    """A remembered success goes once it is older than the lookback; a decided account once its window is
    counted and its claim expired (its deadline + twice the lookback): by the watermark, not by a TTL, and not
    a moment before. Nothing is left in the end: the state does not grow with the accounts ever seen."""
    cfg = effective_config(settings)
    worker = OutcomeWorker(settings, cfg, CollectorRegistry())
    lookback = worker.lookback_us
    lateness = cfg.engine.allowed_lateness_us
    p = _Partition0()
    wakes = worker.store.keys(0).wakes

    def tick(wm):  # an event no metric looks at that moves the watermark to wm
        worker.handle_partition(0, [p.event("noise", "payment.failed", wm + lateness)], [])

    worker.handle_partition(0, [p.event("remembered", "payment.succeeded", T0),
                                p.event("decided", "payment.succeeded", T0 + H)],
                            [p.decision("decided", "treated", T0, "f-1")])
    assert _account_keys(client, worker) == {"remembered", "decided"}
    tick(T0 + lookback)  # prune keeps an event while watermark - lookback <= its time
    assert _account_keys(client, worker) == {"remembered", "decided"}
    tick(T0 + lookback + 1)
    assert _account_keys(client, worker) == {"decided"}
    assert client.zscore(wakes, "remembered") is None

    deadline = T0 + 7 * D
    tick(deadline)  # the held success is counted; the claim stays to refuse the decision delivered again
    assert worker.global_counts() == {(PAY, "treated"): (1, 1)}
    assert _account_keys(client, worker) == {"decided"}
    assert decode_account("decided", client.get(worker.store.keys(0).account("decided"))).claims == {
        "f-1": deadline + lookback}
    tick(deadline + 2 * lookback)
    assert _account_keys(client, worker) == {"decided"}
    tick(deadline + 2 * lookback + 1)
    assert _account_keys(client, worker) == set()
    assert client.zcard(wakes) == 0
    assert worker.global_counts() == {(PAY, "treated"): (1, 1)}
