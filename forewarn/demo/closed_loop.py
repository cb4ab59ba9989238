"""The closed-loop demo: simulated customers, the real pipeline, a local messaging stand-in, the report.

Each simulated day: the simulator's events go to ``usage-events``; a watermark
tick closes the day; the demo waits until the detector has applied every event,
the policy every firing, and the dispatcher has a receipt for every command;
then the commands that reached the local receiver (the stand-in for the email
service and the CSM tool) are fed back to the simulator, whose customers react
with the planted effect. After the last day the impact report is built from the
topics and written as HTML and JSON.
"""

from __future__ import annotations

import gc
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
from ruamel.yaml import YAML

from forewarn.demo.lock import DemoLock
from forewarn.devinfra import DevStack
from forewarn.devinfra.procs import free_port
from forewarn.devinfra.signals import TerminationGuard
from forewarn.devinfra.workers import WorkerProcess
from forewarn.simulate import Simulation, SimulationConfig
from forewarn.simulate.kafka_sink import KafkaSink
from interventions.channels.receiver import WebhookReceiver
from schemas.errors import ForewarnError
from streams.config import effective_config
from streams.keys import PartitionKeys
from streams.readback import TopicFollower
from streams.settings import Settings, Topics
from streams.stores.detector_redis import detect_namespace
from streams.ticks import WatermarkTicker
from streams.topics import ensure_topics

__all__ = ["DemoOptions", "DemoResult", "ClosedLoop", "demo_config"]

_SECRET = "forewarn-demo-signing-key"


class DemoError(ForewarnError):
    """The closed loop could not complete."""


@dataclass(frozen=True)
class DemoOptions:
    accounts: int = 2000
    days: int = 120
    seed: int = 7
    holdout: str = "50%"
    out: Path = Path("out/demo")
    base_config: Path | None = None
    step_timeout_s: float = 120.0


@dataclass
class DemoResult:
    report: dict
    html: Path
    json: Path
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def demo_config(base: Path, receiver_url: str, holdout: str, out: Path) -> Path:
    """The shipped config with its channels pointed at the local receiver and the demo's holdout share."""
    yaml = YAML()
    data = yaml.load(base.read_text())
    data["channels"] = {
        "email": {"kind": "webhook", "url": f"{receiver_url}/email"},
        "csm_task": {"kind": "csm_task", "url": f"{receiver_url}/csm"},
    }
    policy = data.setdefault("policy", {})
    policy.setdefault("holdout", {})["share"] = holdout
    # Expiry is judged by the dispatcher's wall clock; the demo replays simulated days
    # that lie in the past, so its commands would all be expired on arrival.
    policy["command_expires_after"] = "3650d"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as fh:
        yaml.dump(data, fh)
    return out


class ClosedLoop:
    """One run of the demo; ``run`` returns the report. Everything it starts, it stops."""

    def __init__(self, options: DemoOptions, progress: Callable[[str, int, int], None] | None = None,
                 note: Callable[[str], None] = print):
        self.options = options
        self.progress = progress
        self.note = note
        self.run_id = uuid.uuid4().hex[:8]

    def run(self) -> DemoResult:
        sim_config = self._check_options()
        # SIGTERM and SIGHUP end the demo like Ctrl-C: through the cleanup below, which
        # a further signal does not interrupt.
        with TerminationGuard() as guard, ExitStack() as locks:
            stack = DevStack()
            # One demo at a time on a state directory (it starts and stops the servers there) and on an
            # output directory; demos on configured servers share nothing else.
            if not (stack.environ.get("KAFKA_BOOTSTRAP_SERVERS") and stack.environ.get("REDIS_URL")):
                locks.enter_context(DemoLock(stack.state_dir / "demo.lock", f"state directory {stack.state_dir}"))
            locks.enter_context(DemoLock(self.options.out / ".demo.lock", f"output directory {self.options.out}"))
            return self._run_guarded(guard, stack, sim_config)

    def _check_options(self) -> SimulationConfig:
        """The simulator's options and the demo config, checked before anything starts (a mistake is one line)."""
        from streams.config import load_config

        opts = self.options
        sim_config = SimulationConfig(accounts=opts.accounts, days=opts.days, seed=opts.seed)
        base = opts.base_config or Settings().config_path
        with tempfile.TemporaryDirectory() as tmp:  # the real one is written once the receiver's URL is known
            load_config(demo_config(base, "http://127.0.0.1:9", opts.holdout, Path(tmp) / "demo-config.yaml"))
        return sim_config

    def _run_guarded(self, guard: TerminationGuard, stack: DevStack, sim_config: SimulationConfig) -> DemoResult:
        started = time.monotonic()
        receiver: WebhookReceiver | None = None
        procs: list[WorkerProcess] = []
        try:
            # Inside the try: a failure or Ctrl-C after Kafka started and before Redis did still stops Kafka.
            ends = stack.up(progress=self.note)
            receiver = WebhookReceiver(secret=_SECRET.encode()).start()
            return self._run(ends, receiver, procs, started, sim_config)
        except BaseException as exc:
            # Let go of the Kafka clients the failed run's frames still hold before Kafka stops: a live
            # client logs every failed reconnect while the broker shuts down.
            traceback.clear_frames(exc.__traceback__)
            raise
        finally:
            guard.shutting_down()
            for proc in procs:
                proc.stop()
            if receiver is not None:
                receiver.stop()
            if stack.started:  # only the servers this demo started: a 'dev up' one found running stays
                gc.collect()  # Kafka clients kept only by reference cycles (an admin client's futures) go first
                stack.down(only=stack.started)

    def _run(self, ends, receiver, procs, started, sim_config: SimulationConfig) -> DemoResult:
        from streams.config import load_config

        opts = self.options
        run = self.run_id
        out = opts.out
        topics = Topics.suffixed(f"demo-{run}")
        base = opts.base_config or Settings().config_path
        config_path = demo_config(base, receiver.url("").rstrip("/"), opts.holdout, out / "demo-config.yaml")
        config = load_config(config_path)
        settings = Settings(kafka_bootstrap_servers=ends.kafka_bootstrap_servers, redis_url=ends.redis_url,
                            topics=topics, app_id=f"forewarn-demo-{run}", config_path=config_path,
                            idle_advance=False)
        ensure_topics(settings)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": ends.kafka_bootstrap_servers, "REDIS_URL": ends.redis_url,
            "FOREWARN_APP_ID": settings.app_id, "FOREWARN_TOPICS": topics.model_dump_json(),
            "FOREWARN_CONFIG_PATH": str(config_path), "FOREWARN_IDLE_ADVANCE": "false",
            "FOREWARN_DISPATCHER__GROUP_ID": f"forewarn-demo-dispatcher-{run}",
            "FOREWARN_DISPATCHER__ALLOW_PRIVATE_NETWORKS": '["127.0.0.0/8"]',
            "FOREWARN_DISPATCHER__CHANNEL_SECRETS": orjson.dumps({"email": _SECRET, "csm_task": _SECRET}).decode(),
            "FOREWARN_METRICS_PORT": str(free_port()),
        }
        logs = out / "logs"
        worker = WorkerProcess(["worker", "--loglevel", "warning"], env, logs / "worker.log").start()
        procs.append(worker)
        dispatcher = WorkerProcess(["dispatcher", "--loglevel", "warning"], env, logs / "dispatcher.log").start()
        procs.append(dispatcher)

        lateness_us = effective_config(settings).engine.allowed_lateness_us
        sim = Simulation(sim_config)
        client = redis.Redis.from_url(ends.redis_url)
        known: dict[str, dict] = {}
        receipted: dict[str, str] = {}
        fed: set[str] = set()
        counts = {"events": 0, "commands": 0, "fed_back": 0}
        ticker = WatermarkTicker(settings)
        # The topic readers are closed on every way out: one left open after Ctrl-C logs each failed
        # reconnect while Kafka stops.
        with ExitStack() as readers:
            events, firings, commands, receipts = (
                readers.enter_context(closing(TopicFollower(settings, topic)))
                for topic in (topics.usage_events, topics.trigger_firings, topics.intervention_commands,
                              topics.intervention_receipts))
            with KafkaSink(settings) as sink:
                for day in range(opts.days):
                    batch = sim.step()
                    sink(batch.records)
                    sink.flush()
                    counts["events"] += len(batch.records)
                    # Close the day: every watermark reaches its end minus the lateness, so
                    # nothing of the next day's batch can be late.
                    ticker.tick(batch.end_us - lateness_us - 1)
                    self._wait_pipeline(settings, client, events, firings, worker, dispatcher)
                    for rec in commands.poll_to_end():
                        cmd = orjson.loads(rec.value)
                        known[cmd["command_id"]] = cmd
                    self._wait_receipts(receipts, known, receipted, dispatcher)
                    arrived = [a.idempotency_key for a in receiver.accepted()]
                    new = [known[k] for k in dict.fromkeys(arrived) if k in known and k not in fed]
                    if new:
                        sim.feed(new)
                        fed.update(c["command_id"] for c in new)
                    if self.progress:
                        self.progress(batch.date, day + 1, opts.days)
        counts["commands"] = len(known)
        for outcome in sorted(set(receipted.values())):
            counts[f"receipts {outcome}"] = sum(1 for o in receipted.values() if o == outcome)
        counts["received by the stand-in"] = len({a.idempotency_key for a in receiver.accepted()})
        counts["fed_back"] = len(fed)
        counts.update(self._reconcile(settings))
        for proc in procs:
            proc.stop()
        self.note("building the impact report from the topics")
        from forewarn.report.build import report_from_topics
        from forewarn.report.output import write_metrics, write_report

        report = report_from_topics(settings, config).to_json()
        files = write_report(report, out)
        metrics = write_metrics(report, out / "forewarn.prom", config.triggers)
        self.note(f"headline gauges (Prometheus text format): {metrics}")
        return DemoResult(report, files.html, files.json, counts, time.monotonic() - started)

    def _reconcile(self, settings: Settings) -> dict[str, int]:
        """Counts read back from the topics: firings = decisions; treated = commands = receipts."""
        from streams.outbox import WATERMARK_HEADER
        from streams.readback import read_topic

        topics = settings.topics
        firings = [r for r in read_topic(settings, topics.trigger_firings) if WATERMARK_HEADER not in r.headers]
        decisions = [orjson.loads(r.value) for r in read_topic(settings, topics.intervention_decisions)]
        out = {"firings": len({orjson.loads(r.value)["firing_id"] for r in firings}),
               "decisions": len({d["decision_id"] for d in decisions})}
        for arm in ("treated", "control", "suppressed"):
            out[f"decisions {arm}"] = sum(1 for d in decisions if d["arm"] == arm)
        out["commands dead-lettered"] = len(read_topic(settings, topics.intervention_commands_dlq))
        return out

    # -- waiting for the pipeline --------------------------------------------------------

    def _deadline(self) -> float:
        return time.monotonic() + self.options.step_timeout_s

    def _check(self, procs, deadline: float, what: str) -> None:
        for proc in procs:
            if not proc.alive():
                raise DemoError(f"{proc.args[0]} exited while waiting for {what}; see {proc.log_path}")
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}; logs in {self.options.out / 'logs'}")

    def _wait_pipeline(self, settings, client, events, firings, worker, dispatcher) -> None:
        deadline = self._deadline()
        ns = detect_namespace(settings.topics.usage_events)
        ends = events.end_offsets()
        while True:
            applied = [client.hget(PartitionKeys(ns, p).record, "applied_offset") for p in ends]
            # The firings of the last apply are published (and the outbox emptied) just after it moves the
            # offset: until then, the firings' end offsets below would miss them.
            published = all(client.llen(PartitionKeys(ns, p).outbox) == 0 for p in ends)
            if published and all(end == 0 or (a is not None and int(a) >= end - 1)
                                 for a, end in zip(applied, ends.values())):
                break
            self._check([worker, dispatcher], deadline, "the detector")
            time.sleep(0.05)
        fired_ends = firings.end_offsets()
        while True:
            try:
                metrics = worker.metrics()
            except OSError:
                metrics = {}
            done = all(end == 0 or metrics.get(f'forewarn_policy_position_offset{{partition="{p}"}}', -1) >= end - 1
                       for p, end in fired_ends.items())
            if done:
                return
            self._check([worker, dispatcher], deadline, "the policy")
            time.sleep(0.05)

    def _wait_receipts(self, receipts, known, receipted, dispatcher) -> None:
        deadline = self._deadline()
        while True:
            for rec in receipts.poll_to_end():
                receipt = orjson.loads(rec.value)
                receipted[receipt["command_id"]] = receipt["outcome"]
            if receipted.keys() >= known.keys():
                return
            self._check([dispatcher], deadline, "the dispatcher's receipts")
            time.sleep(0.05)
