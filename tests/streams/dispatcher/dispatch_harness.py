"""What the dispatcher's integration tests share: commands from the real policy, config files, worker processes."""

from __future__ import annotations

import contextlib
import email
import random
import threading
import time
import uuid
from pathlib import Path

import orjson
from aiosmtpd.controller import Controller
from prometheus_client import CollectorRegistry

from forewarn.devinfra.procs import free_port
from forewarn.devinfra.workers import WorkerProcess
from interventions.channels.base import ChannelSpec
from interventions.config import PolicyConfig
from interventions.policy import PolicyEngine
from interventions.store import InMemoryPolicyStore
from schemas.catalogue import InterventionSpec, SuccessMetric
from schemas.command import InterventionCommand
from schemas.firing import Firing
from schemas.predicate import EventSpec
from schemas.receipt import Receipt
from schemas.timefmt import US_PER_DAY, US_PER_MINUTE
from streams.dispatcher.settings import DispatcherSettings
from streams.dispatcher.worker import Dispatcher, build_channels
from streams.producer import RecordProducer
from streams.readback import read_topic

SECRET = "whsec-integration-0123456789"


class SmtpPeer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that records every message it accepts."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.port = free_port()
        self._lock = threading.Lock()
        peer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                with peer._lock:
                    peer.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpPeer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def spec(name: str, channel: str, priority: int, cooldown_days: int, template: dict) -> InterventionSpec:
    return InterventionSpec(name, channel, priority, cooldown_days * US_PER_DAY,
                            SuccessMetric(EventSpec("session.started", None), 7 * US_PER_DAY), template)


def policy_commands(n_accounts: int, channels: dict[str, str], holdout: float = 0.2, seed: int = 3):
    """Run the real policy over firings of ``n_accounts``: (decisions, commands).

    ``channels`` maps each of the three interventions to a channel name. Firings are timed around now, so
    commands are not expired; several accounts get competing or cooling-down firings, so every arm occurs.
    """
    import random

    rng = random.Random(seed)
    catalogue = {
        "payment_outreach": spec("payment_outreach", channels["payment_outreach"], 90, 7,
                                 {"title": "Payment failing for {{account_id}}", "body": "{{evidence.failures}} failures"}),
        "onboarding_checkin": spec("onboarding_checkin", channels["onboarding_checkin"], 50, 14,
                                   {"subject": "Getting started", "body": "See {{evidence.resource}}",
                                    "to": "owner+{{account_id}}@customer.example"}),
        "we_miss_you": spec("we_miss_you", channels["we_miss_you"], 30, 30, {"subject": "We miss you"}),
    }
    triggers = {"payment_failing": "payment_outreach", "onboarding_stalled": "onboarding_checkin",
                "power_user_gone_quiet": "we_miss_you"}
    engine = PolicyEngine(PolicyConfig(default_holdout=holdout, decision_window_us=US_PER_MINUTE), catalogue, triggers,
                          InMemoryPolicyStore())
    now = int(time.time() * 1e6) - 60 * US_PER_MINUTE
    firings = []
    for i in range(n_accounts):
        account = f"acct-{uuid.uuid4().hex[:6]}-{i}"
        for trigger in rng.sample(sorted(triggers), k=rng.randint(1, 3)):
            firings.append(Firing(trigger, account, now + rng.randrange(30) * US_PER_MINUTE,
                                  {"failures": 3, "resource": "https://docs.example.com/how-to"}))
    firings.sort(key=lambda f: f.fired_at)
    out = engine.process(0, firings)
    rest = engine.flush(0)
    return out.decisions + rest.decisions, out.commands + rest.commands


def command(n: int, channel: str, *, account: str | None = None, expires_in_s: float = 3600.0,
            command_id: str | None = None) -> InterventionCommand:
    now = time.time()
    return InterventionCommand(
        command_id=command_id or f"cmd-{uuid.uuid4().hex[:12]}-{n}", firing_id=f"f-{n}", account_id=account or f"acct-{n}",
        trigger="payment_failing", intervention="payment_outreach", channel=channel,
        payload={"content": {"title": f"Task {n}", "subject": f"Mail {n}", "body": "b", "to": "o@customer.example"},
                 "evidence": {"n": n}},
        decided_at=time_text(now - 60), expires_at=time_text(now + expires_in_s))


def time_text(seconds: float) -> str:
    from schemas.timefmt import format_rfc3339

    return format_rfc3339(int(seconds * 1e6))


def produce(settings, commands: list[InterventionCommand], extra: list[tuple[bytes, bytes]] = ()) -> None:
    producer = RecordProducer(settings)
    records = [(c.account_id.encode(), c.model_dump_json().encode()) for c in commands] + list(extra)
    producer.produce_many(settings.topics.intervention_commands, records)
    producer.flush()


def receipts(settings) -> list[Receipt]:
    return [Receipt.model_validate_json(r.value) for r in read_topic(settings, settings.topics.intervention_receipts)]


def wait_receipts(settings, n: int, proc: WorkerProcess | None = None, timeout: float = 120) -> list[Receipt]:
    """Wait until the receipts topic holds at least ``n`` receipts; return them all."""
    def enough():
        got = receipts(settings)
        return got if len(got) >= n else None

    return wait_for(enough, timeout, f"{n} receipts", proc)


def wait_for(predicate, timeout: float, what: str, proc: WorkerProcess | None = None, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and not proc.alive():
            raise AssertionError(f"dispatcher exited while waiting for {what}; log: {proc.log_path.read_text()[-2000:]}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def write_config(path: Path, channels: dict[str, dict]) -> Path:
    """A config file with the three interventions and the given ``channels:`` section (JSON is YAML)."""
    doc = {
        "interventions": {
            name: {"channel": next(iter(channels)), "priority": 10, "cooldown": "1d",
                   "success": {"event": "session.started", "within": "7d"}, "template": {"subject": "s"}}
            for name in ("payment_outreach",)
        },
        "triggers": {"payment_failing": {"kind": "count", "event": "payment.failed", "threshold": 3, "window": "30d",
                                         "reset_on": ["payment.succeeded"], "rearm_on": ["payment.succeeded"],
                                         "intervention": "payment_outreach"}},
        "channels": channels,
    }
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return path


def dispatcher_env(worker_env: dict[str, str], settings, **dispatcher: str) -> dict[str, str]:
    env = dict(worker_env)
    env.update({
        "FOREWARN_DISPATCHER__GROUP_ID": f"dispatch-{settings.app_id}",
        "FOREWARN_DISPATCHER__ALLOW_PRIVATE_NETWORKS": '["127.0.0.1/32"]',
        "FOREWARN_DISPATCHER__SESSION_TIMEOUT_MS": "6000",
        "FOREWARN_DISPATCHER__OWNER_LEASE_S": "2",
        "FOREWARN_DISPATCHER__BACKOFF_INITIAL_S": "0.05",
        "FOREWARN_DISPATCHER__BACKOFF_MAX_S": "0.2",
        "FOREWARN_DISPATCHER__DELIVERED_TTL_S": "600",  # the shared test Redis forgets these claims soon
    })
    env.update({f"FOREWARN_DISPATCHER__{k.upper()}": v for k, v in dispatcher.items()})
    return env


def start_dispatcher(config: Path, env: dict[str, str], log_path: Path) -> WorkerProcess:
    port = free_port()
    env = dict(env, FOREWARN_METRICS_PORT=str(port))
    return WorkerProcess(["dispatcher", "--config", str(config), "--loglevel", "warning"], env, log_path,
                         web_port=port).start()


def hook(name: str, url: str, **options) -> ChannelSpec:
    return ChannelSpec(name, "webhook", {"url": url, "headers": {}, **options}, timeout_s=5)


class FullPauses(random.Random):
    """Jitter that always draws the ceiling: every backoff pause is as long as configured, so a test that
    needs a retry not to start within a second cannot be failed by a draw near zero."""

    def uniform(self, a: float, b: float) -> float:
        return b


def start_in_thread(settings, specs: dict[str, ChannelSpec], group_id: str | None = None,
                    backoff_rng: random.Random | None = None, beat=lambda: None, prepare=None, **conf):
    """A dispatcher running on a thread of this process: (dispatcher, stop event, thread).

    Its own consumer group unless ``group_id`` names one (a restart resumes from the committed offsets);
    ``backoff_rng`` replaces the jitter of its retry pauses (see :class:`FullPauses`); ``beat`` is its
    liveness beat; ``prepare(dispatcher)`` runs before the thread starts."""
    dconf = DispatcherSettings(group_id=group_id or f"dispatch-{uuid.uuid4().hex[:8]}",
                               allow_private_networks=["127.0.0.1/32"],
                               channel_secrets={name: SECRET for name in specs}, session_timeout_ms=6000,
                               owner_lease_s=2, **{"backoff_initial_s": 0.05, "backoff_max_s": 0.2,
                                                   "delivered_ttl_s": 600, **conf})
    s = settings.model_copy(update={"dispatcher": dconf})
    dispatcher = Dispatcher(s, build_channels(specs, s), specs, CollectorRegistry())
    if backoff_rng is not None:
        dispatcher.backoff.rng = backoff_rng
    if prepare is not None:
        prepare(dispatcher)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop, beat), daemon=True)
    thread.start()
    return dispatcher, stop, thread


@contextlib.contextmanager
def running(settings, specs: dict[str, ChannelSpec], **conf):
    """A dispatcher on a thread of this process (its own consumer group); stopped and closed on exit."""
    dispatcher, stop, thread = start_in_thread(settings, specs, **conf)
    try:
        yield dispatcher
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the dispatcher did not stop"
