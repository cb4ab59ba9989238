"""``forewarn dispatcher``: consume intervention commands, deliver each once, write receipts, then commit.

One loop, batch by batch (``dispatcher.batch_size`` records):

1. parse each record (a record that is not a command goes to the DLQ,
   ``invalid_command``; one naming no configured channel, ``unknown_channel``);
2. claim every command id in Redis in one pipeline (see
   :mod:`streams.dispatcher.claims` for the exactly-once argument): delivered
   ones get ``skipped_duplicate``, ones held by a live peer are waited for;
3. drop expired ones (``expired``; wall clock against ``expires_at``);
4. deliver the rest on ``dispatcher.concurrency`` threads, each through
   :func:`interventions.delivery.deliver_with_retries` (per-channel rate
   limit, exponential backoff with full jitter, ``max_attempts``), recording
   ``delivered`` in Redis as sends complete;
5. write a receipt for every command (and the DLQ record of every failure,
   with ``reason`` and ``detail`` headers), wait until Kafka acknowledged all
   of them, and only then commit the batch's offsets.

A crash anywhere before step 5's commit re-delivers the batch; the claims
make that harmless. A receipt or DLQ write Kafka refuses stops the worker
(no commit), so nothing is marked done that was not recorded.

Stopping (SIGTERM, ``stop`` set)
--------------------------------
A stop request is treated like a spent ``batch_budget_s``, at once: no send,
retry or wait for another owner's claim starts after it; a backoff pause or
a wait for a channel's rate limit ends early. Sends already on the wire
finish (each bounded by its channel's timeout) and are recorded as
delivered; every command not finished is deferred exactly as the budget
defers it (its claim released, its offset and all later ones of its
partition not committed), so the next owner delivers it once. The receipts
of what was done are written and committed, then the process exits with no
claim left in doubt.

Worst case from SIGTERM to exit, with Kafka and Redis healthy: the longest
single attempt in flight (or ``poll_timeout_s``, a poll in progress) plus
about a second (Redis round trips, receipts, commit, leaving the group).
An attempt is bounded by its channel's ``timeout_s``: a peer slow to answer
costs ``timeout_s``, one slow to accept the connection too 2 x ``timeout_s``
(webhook and csm_task time the connection, the write and the answer each on
its own: a peer stalling every step, after a kept-alive connection it had
closed, could stretch one attempt further); the kafka channel ``timeout_s``
+ 5 s; email ``timeout_s`` per SMTP step. So set
``terminationGracePeriodSeconds`` / ``stop_grace_period`` to at least
2 x the largest channel ``timeout_s`` + 10 s (30 s with the default 10 s).
If Kafka does not acknowledge the receipts, add up to 30 s (their flush;
the process then exits non-zero without committing) + 10 s (the final
producer flush).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import redis
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from interventions.channels.base import Channel, ChannelSpec
from interventions.channels.registry import build_channel
from interventions.channels.ssrf import TargetGuard
from interventions.delivery import DeliveryReport, deliver_with_retries
from interventions.errors import DeliveryError
from interventions.ratelimit import TokenBucket
from interventions.retry import Backoff
from schemas.command import InterventionCommand
from schemas.receipt import Receipt
from streams.consume import records_of
from streams.dispatcher.claims import Claimable, ClaimState, ClaimStore, Heartbeat
from streams.dispatcher.kafka_channel import KafkaChannel
from streams.dispatcher.metrics import DispatcherMetrics
from streams.errors import KafkaUnavailable, StreamsError
from streams.settings import Settings

__all__ = ["Dispatcher", "DispatcherConfigError", "build_channels", "liveness_limit_s"]

log = logging.getLogger("forewarn.dispatcher")

#: How often completed sends are recorded as delivered in Redis while a batch is being delivered.
_SETTLE_S = 0.02
#: A backoff pause or a rate-limit wait beats the liveness at least this often (an intended wait is not a hang).
_BEAT_EVERY_S = 1.0


class _Stopped(Exception):
    """Raised on a delivery thread instead of another attempt (or wait) once the worker is stopping."""


class DispatcherConfigError(StreamsError):
    """The dispatcher cannot start with this configuration (a channel without its secret, no channels...)."""


#: How many of its channel's ``timeout_s`` one attempt may take at most, by kind: smtplib times every SMTP
#: step on its own (connect, banner, EHLO, STARTTLS, handshake, EHLO, AUTH, MAIL, RCPT, DATA, body, QUIT);
#: the HTTP channels time the connection, the TLS handshake, the write and the answer each, and retry once
#: on a kept-alive connection the peer had closed; the kafka channel waits ``timeout_s`` plus 5 s.
_TIMEOUTS_PER_ATTEMPT = {"email": 12, "webhook": 5, "csm_task": 5, "kafka": 1}
#: Beyond the timeouts: a name lookup (glibc retries a silent resolver for up to ~30 s) or the kafka
#: channel's 5 s, and the receipts' flush that may follow (up to 30 s).
_ATTEMPT_SLACK_S, _FLUSH_S = 30.0, 30.0


def liveness_limit_s(specs: Mapping[str, ChannelSpec], max_poll_interval_s: float) -> float:
    """How long a healthy dispatcher may go without a beat (see :meth:`Dispatcher.run`): its longest silence
    is an attempt in flight on every thread, each as slow as its channel allows (``_TIMEOUTS_PER_ATTEMPT``
    timeouts plus a name lookup), then the receipts' flush. At least 60 s; never past
    ``max_poll_interval_s``, after which Kafka has taken the dispatcher out of its group anyway.

    >>> hook = ChannelSpec("hook", "webhook", {"url": "https://example.com/h"}, timeout_s=10)
    >>> mail = ChannelSpec("mail", "email", {"host": "smtp.example.com"}, timeout_s=10)
    >>> liveness_limit_s({"hook": hook}, 300), liveness_limit_s({"hook": hook, "mail": mail}, 300)
    (110.0, 180.0)
    >>> liveness_limit_s({"hook": hook}, 30)
    30
    """
    slowest = max((_TIMEOUTS_PER_ATTEMPT.get(spec.kind, 5) * spec.timeout_s + _ATTEMPT_SLACK_S
                   for spec in specs.values()), default=0.0)
    return min(max_poll_interval_s, max(60.0, slowest + _FLUSH_S))


def build_channels(specs: Mapping[str, ChannelSpec], settings: Settings) -> dict[str, Channel]:
    """Every channel of the config's ``channels:`` section, with its secret from the settings."""
    if not specs:
        raise DispatcherConfigError(f"{settings.config_path}: no channels: section; the dispatcher needs one "
                                    "(see interventions/channels/registry.py for examples)")
    guard = TargetGuard(settings.dispatcher.allow_private_networks)
    secrets = settings.dispatcher.channel_secrets
    channels: dict[str, Channel] = {}
    for name, spec in specs.items():
        secret = secrets.get(name)
        try:
            if spec.kind == "kafka":
                channels[name] = KafkaChannel(spec, settings)
            else:
                channels[name] = build_channel(spec, secret.get_secret_value() if secret else None, guard)
        except DeliveryError as exc:
            env = f"FOREWARN_DISPATCHER__CHANNEL_SECRETS__{name.upper()}"
            raise DispatcherConfigError(f"{exc.detail}; set it in {env}") from None
    return channels


@dataclass
class _Job:
    """One command record of a batch and what became of it."""

    msg: Message
    command: InterventionCommand | None = None
    channel: Channel | None = None
    report: DeliveryReport | None = None
    outcome: str = ""
    reason: str = ""  # DLQ reason when failed
    detail: str = ""
    attempts: int = 0
    copy_of: "_Job | None" = None  # the same command id earlier in the batch
    dead_letter: bool = False
    expires_at: float = 0.0  # Unix seconds

    @property
    def claimable(self) -> Claimable:
        return Claimable(self.command.account_id, self.command.command_id)


@dataclass
class _Acks:
    failed: int = 0
    first_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, err, _msg) -> None:
        if err is not None:
            with self.lock:
                self.failed += 1
                self.first_error = self.first_error or err.str()


def _channel_bug(channel: str, command_id: str, exc: Exception) -> DeliveryReport:
    """The report of a send whose channel raised something other than a DeliveryError (a bug in it)."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ is not None else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame is not None else ""
    # The message may carry the payload (addresses, URLs): the log names the type and place only.
    log.error("channel %s raised %s%s on command %s; dead-lettered as channel_error", channel,
              type(exc).__name__, where, command_id)
    return DeliveryReport("failed", 1, "channel_error", f"the channel raised {type(exc).__name__}{where}", 0.0)


class Dispatcher:
    """The worker; ``run(stop)`` until ``stop`` is set (it then ends within about one send: see "Stopping"
    in the module's docstring). Channels come built (see :func:`build_channels`)."""

    #: The liveness beat (``run`` sets it): called at each poll and on progress inside a batch.
    beat: Callable[[], None] = staticmethod(lambda: None)

    def __init__(self, settings: Settings, channels: Mapping[str, Channel], specs: Mapping[str, ChannelSpec],
                 registry: CollectorRegistry | None = None, clock=time.time):
        self.settings = settings
        self.conf = settings.dispatcher
        self.topics = settings.topics
        self.channels = dict(channels)
        self.metrics = DispatcherMetrics(registry or CollectorRegistry(), self.channels)
        client = redis.from_url(settings.redis_url.get_secret_value(), **settings.redis_kwargs())
        self.claims = ClaimStore(client, settings.app_id, delivered_ttl_s=self.conf.delivered_ttl_s,
                                 owner_lease_s=self.conf.owner_lease_s)
        #: Set by ``run``'s ``stop``: the batch in progress starts nothing more (see the module's docstring).
        self.stopping = threading.Event()
        # Their waits for a token end with _Stopped when a stop is requested (see _pause).
        self.limiters = {name: TokenBucket(spec.rate_per_s, sleep=self._pause) for name, spec in specs.items()
                         if spec.rate_per_s}
        self.backoff = Backoff(self.conf.backoff_initial_s, self.conf.backoff_max_s)
        self.clock = clock
        self.pool = ThreadPoolExecutor(self.conf.concurrency, thread_name_prefix="deliver")
        self.consumer = Consumer(settings.confluent_config(**{
            "group.id": self.conf.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.conf.session_timeout_ms,
            "max.poll.interval.ms": int(self.conf.max_poll_interval_s * 1000),
            "log_level": 3,
        }))
        self.producer = Producer(settings.confluent_config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 5, "log_level": 3,
        }))
        self.batches = 0

    # -- the loop ---------------------------------------------------------------

    def run(self, stop: threading.Event, beat: Callable[[], None] = lambda: None) -> None:
        """Consume until ``stop`` is set, calling ``beat()`` (its liveness) at each poll and, inside a batch,
        whenever it makes progress or waits on purpose: a send lands, a claim wait turns, a backoff pause
        or rate-limit wait goes on (at least every second). So a batch that takes minutes still beats
        while it works, and the longest silence of a healthy dispatcher is one attempt in flight on every
        thread (or the receipts' flush): see :func:`liveness_limit_s`."""
        self.stopping = stop
        self.beat = beat
        heartbeat = Heartbeat(self.claims).start()
        self.consumer.subscribe([self.topics.intervention_commands])
        log.info("dispatcher %s consuming %s in group %s with channels %s", self.claims.owner,
                 self.topics.intervention_commands, self.conf.group_id, ", ".join(sorted(self.channels)))
        try:
            while not stop.is_set():
                beat()
                records = records_of(self.consumer.consume(self.conf.batch_size, timeout=self.conf.poll_timeout_s))
                if records:
                    self.process_batch(records)
        finally:
            try:
                self.close()  # waits for sends in flight: their claims stay ours (not in doubt) until they end
            finally:
                heartbeat.stop()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        try:
            self.consumer.close()
        finally:
            self.producer.flush(10)
            for channel in self.channels.values():
                channel.close()

    # -- one batch --------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        """Sleep (a backoff pause, a wait for a rate-limit token) unless a stop is requested: then raise _Stopped.

        Beats the liveness as it goes: a long wait is intended, not a hang."""
        end = time.monotonic() + seconds
        while True:
            self.beat()
            if self.stopping.wait(min(max(end - time.monotonic(), 0.0), _BEAT_EVERY_S)):
                raise _Stopped
            if time.monotonic() >= end:
                return

    def process_batch(self, msgs: list[Message]) -> None:
        self.metrics.consumed.inc(len(msgs))
        deadline = time.monotonic() + self.conf.batch_budget_s
        jobs = [self._parse(m) for m in msgs]
        first: dict[str, _Job] = {}
        live: list[_Job] = []
        for job in jobs:
            if job.outcome:
                continue
            earlier = first.get(job.command.command_id)
            if earlier is not None:
                job.copy_of = earlier  # the policy published it twice: decided by the first copy
            else:
                first[job.command.command_id] = job
                live.append(job)

        states = self._claim(live, deadline)
        now = self.clock()
        to_send, to_release = [], []
        for job in live:
            state = states[job.command.command_id]
            if state is ClaimState.BUSY:
                continue  # another live owner still holds it at the budget: left for the next batch
            if state is ClaimState.DELIVERED:
                job.outcome, job.detail = "skipped_duplicate", "already delivered"
            elif job.expires_at <= now:
                job.outcome, job.detail = "expired", "expired before it could be delivered"
                to_release.append(job)
            else:
                if state is ClaimState.IN_DOUBT:
                    self.metrics.in_doubt.inc()
                to_send.append(job)
        self.claims.release([j.claimable for j in to_release])
        self._deliver(to_send, deadline)
        jobs = self._defer_unfinished(jobs)

        for job in jobs:
            if job.copy_of is not None:
                src = job.copy_of
                job.outcome = "skipped_duplicate" if src.outcome in ("delivered", "skipped_duplicate") else src.outcome
                job.detail = "same command as an earlier record of this batch"
        self._record(jobs)
        self.batches += 1

    def _defer_unfinished(self, jobs: list[_Job]) -> list[_Job]:
        """Leave the commands the budget (or a stop) did not reach for the next batch; return the jobs to record.

        Per partition, everything from the first command without an outcome on is neither recorded nor
        committed, and the consumer is sent back to it; claims taken for those are released, so the next
        batch claims them afresh.
        """
        first: dict[tuple[str, int], int] = {}
        for job in jobs:
            if not job.outcome and job.copy_of is None:
                key = (job.msg.topic(), job.msg.partition())
                first[key] = min(first.get(key, job.msg.offset()), job.msg.offset())
        if not first:
            return jobs
        deferred = [j for j in jobs if j.msg.offset() >= first.get((j.msg.topic(), j.msg.partition()), 1 << 62)]
        self.claims.release([j.claimable for j in deferred if j.command is not None and j.copy_of is None
                             and not j.outcome])
        for (topic, partition), offset in first.items():
            self.consumer.seek(TopicPartition(topic, partition, offset))
        self.metrics.deferred.inc(len(deferred))
        if self.stopping.is_set():
            log.info("stopping: %d commands left for the next owner", len(deferred))
        else:
            log.info("batch budget of %.0f s spent: %d commands left for the next batch", self.conf.batch_budget_s,
                     len(deferred))
        kept = {id(j) for j in deferred}
        return [j for j in jobs if id(j) not in kept]

    def _parse(self, msg: Message) -> _Job:
        job = _Job(msg)
        try:
            job.command = InterventionCommand.model_validate_json(msg.value() or b"")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "record"
            job.outcome, job.reason, job.dead_letter = "invalid", "invalid_command", True
            job.detail = f"not an intervention command: {where}: {first.get('msg', '')}"[:500]
            return job
        job.expires_at = job.command.expires_at_us / 1e6
        job.channel = self.channels.get(job.command.channel)
        if job.channel is None:
            job.outcome, job.reason, job.dead_letter = "failed", "unknown_channel", True
            job.detail = f"channel {job.command.channel!r} is not configured (channels: {', '.join(sorted(self.channels))})"
        return job

    def _claim(self, jobs: list[_Job], deadline: float) -> dict[str, ClaimState]:
        states = self.claims.claim_many([j.claimable for j in jobs])
        # Another live dispatcher holds some (a rebalance in progress): wait for it to finish or die, within
        # the batch's budget (what is still busy then is left for the next batch).
        while (busy := [j for j in jobs if states[j.command.command_id] is ClaimState.BUSY]) \
                and time.monotonic() < deadline and not self.stopping.wait(0.2):
            self.beat()
            states.update(self.claims.claim_many([j.claimable for j in busy]))
        return states

    def _deliver(self, jobs: list[_Job], deadline: float = float("inf")) -> None:
        """Send on ``concurrency`` threads that pull from one queue; record deliveries in Redis as they land.

        Completed sends are recorded every ``_SETTLE_S`` (one pipeline for all of them): each Redis round
        trip costs about as much as a send here, and a few milliseconds more in doubt change nothing in the
        argument (a crash in between resends with the same idempotency key).

        Past ``deadline`` or once ``self.stopping`` is set, no send starts; after a stop, neither does a
        retry (its backoff pause and any rate-limit wait end at once): that command is left without an
        outcome, so the caller defers it. A retry stopped so is safe to leave: the next owner sends it
        with the same idempotency key, as the retry would have.
        """
        if not jobs:
            return
        queue = collections.deque(jobs)
        finished: list[_Job] = []
        lock = threading.Lock()

        stopping = self.stopping

        def work() -> None:
            # Past the budget or after a stop no send starts: the rest waits for the next batch (or owner).
            while time.monotonic() < deadline and not stopping.is_set():
                try:
                    job = queue.popleft()
                except IndexError:
                    return
                channel = job.channel
                try:
                    job.report = deliver_with_retries(
                        channel, job.command, job.msg.value(), max_attempts=self.conf.max_attempts,
                        backoff=self.backoff, expires_at=job.expires_at, limiter=self.limiters.get(channel.name),
                        clock=self.clock, sleep=self._pause,
                        on_retry=lambda _e, name=channel.name: self.metrics.retries.labels(channel=name).inc(),
                    )
                except _Stopped:  # in a backoff pause or a rate-limit wait: no outcome, deferred by the caller
                    return
                except Exception as exc:  # a channel bug: this command fails (DLQ), the batch goes on
                    job.report = _channel_bug(channel.name, job.command.command_id, exc)
                with lock:
                    finished.append(job)

        pending = {self.pool.submit(work) for _ in range(min(self.conf.concurrency, len(jobs)))}
        try:
            while pending:
                done, pending = wait(pending, timeout=_SETTLE_S)
                for fut in done:
                    fut.result()
                with lock:
                    landed, finished[:] = finished[:], []
                if landed:
                    self.beat()  # progress: sends end (each within its channel's timeout)
                self._settle(landed)
        except BaseException:
            # e.g. Redis failed while recording deliveries. Start no more sends (they would go out unrecorded
            # and all be resent by the next owner); let those in flight end and record what landed if we can.
            queue.clear()
            wait(pending)
            with lock:
                landed = finished[:]
            try:
                self._settle(landed)
            except Exception:  # noqa: BLE001 - the first error is the one to raise; these stay in doubt
                log.warning("could not record %d finished sends after an error; the next owner resends them "
                            "with the same idempotency keys", len(landed))
            raise
        self._settle(finished)

    def _settle(self, jobs: list[_Job]) -> None:
        delivered, released = [], []
        for job in jobs:
            report = job.report
            job.outcome, job.attempts, job.reason, job.detail = report.outcome, report.attempts, report.reason, report.detail
            if report.outcome == "delivered":
                delivered.append(job)
                self.metrics.latency.labels(channel=job.channel.name).observe(report.seconds)
            else:
                job.dead_letter = report.outcome == "failed"
                released.append(job)
        self.claims.mark_delivered([j.claimable for j in delivered])
        self.claims.release([j.claimable for j in released])

    def _record(self, jobs: list[_Job]) -> None:
        acks = _Acks()
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        now = datetime.now(timezone.utc)
        offsets: dict[tuple[str, int], int] = {}
        for job in jobs:
            msg = job.msg
            key = (msg.topic(), msg.partition())
            offsets[key] = max(offsets.get(key, -1), msg.offset())
            if job.dead_letter and job.copy_of is None:
                self._dead_letter(job, acks)
            if job.command is None:
                continue
            # Built from a validated command and our own outcome: no need to validate again (the receipt
            # contract test in tests/streams/dispatcher re-reads every receipt through the model).
            receipt = Receipt.model_construct(command_id=job.command.command_id, account_id=job.command.account_id,
                                              channel=job.command.channel, outcome=job.outcome,
                                              attempts=job.attempts, at=now, detail=job.detail[:1024])
            channel_label = job.command.channel if job.command.channel in self.channels else "unknown"
            counts[(channel_label, job.outcome)] += 1
            self._produce(self.topics.intervention_receipts, receipt.model_dump_json().encode(),
                          job.command.account_id.encode(), None, acks)
        for (channel, outcome), n in counts.items():
            self.metrics.deliveries.labels(channel=channel, outcome=outcome).inc(n)
        remaining = self.producer.flush(30)
        if remaining or acks.failed:
            raise KafkaUnavailable(f"{remaining or acks.failed} receipts or DLQ records were not acknowledged "
                                   f"({acks.first_error or 'timeout'}); offsets not committed, the batch will be "
                                   "redelivered")
        self.consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()],
                             asynchronous=False)

    def _dead_letter(self, job: _Job, acks: _Acks) -> None:
        msg = job.msg
        headers = [
            ("reason", job.reason.encode()),
            ("detail", job.detail[:1000].encode()),
            ("attempts", str(job.attempts).encode()),
            ("source-topic", msg.topic().encode()),
            ("source-partition", str(msg.partition()).encode()),
            ("source-offset", str(msg.offset()).encode()),
        ]
        if job.command is not None:
            headers.append(("command-id", job.command.command_id.encode()))
        self.metrics.dead_lettered.labels(reason=job.reason).inc()
        self._produce(self.topics.intervention_commands_dlq, msg.value() or b"", msg.key(), headers, acks)

    def _produce(self, topic: str, value: bytes, key: bytes | None, headers, acks: _Acks) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, headers=headers, on_delivery=acks)
                return
            except BufferError:
                self.producer.poll(0.05)

