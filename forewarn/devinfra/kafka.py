"""A real Apache Kafka 4.x broker for development and tests: single node, KRaft, from jars.

The jar set is pinned by ``deploy/kafka/pom.xml`` and resolved once by Maven into a
per-user cache (``$XDG_CACHE_HOME/forewarn/kafka/<pom hash>``); later starts need no
download. The broker is formatted with ``kafka.tools.StorageTool format --standalone``
and started with ``java`` on free loopback ports, with its data and logs in a state
directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from forewarn.devinfra.errors import DevInfraError
from forewarn.devinfra.procs import (
    ServerProcess,
    ensure_port_free,
    free_port,
    spawn,
    tail,
)

__all__ = ["DEPLOY_DIR", "KafkaBroker", "resolve_jars", "start_kafka", "wait_for_kafka"]

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
POM = DEPLOY_DIR / "kafka" / "pom.xml"
LOG4J2 = DEPLOY_DIR / "kafka" / "log4j2.properties"
HEAP = os.environ.get("FOREWARN_KAFKA_HEAP", "-Xmx1g")


@dataclass
class KafkaBroker(ServerProcess):
    """A broker this process (or an earlier ``dev up``) started."""

    signature = "kafka.Kafka"

    stop_timeout_s = 30.0  # a broker flushes its logs on SIGTERM

    pid: int
    port: int
    controller_port: int
    data_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "server.log"




def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "forewarn" / "kafka"


def resolve_jars(progress=None) -> Path:
    """The directory of the pinned broker jars, resolving them with Maven on first use."""
    pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    libs = _cache_root() / pom_hash / "libs"
    marker = libs.parent / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevInfraError("Maven (mvn) is not installed; it resolves the Kafka jars: apt-get install -y maven")
    if progress:
        progress("resolving Kafka jars with Maven (first start only)")
    tmp = libs.parent / f"libs.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
           f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise DevInfraError(f"Maven could not resolve the Kafka jars from {POM}: {' | '.join(last)}")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    marker.write_text(pom_hash)
    return libs


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DevInfraError("Java is not installed; Kafka 4 needs Java 17+: apt-get install -y openjdk-17-jre-headless")
    return java


def _server_properties(data_dir: Path, port: int, controller_port: int, partitions: int) -> str:
    return f"""# written by forewarn dev up
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
log.dirs={data_dir / "data"}
num.partitions={partitions}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# The controller fences a broker whose heartbeats stop for this long (default 9 s), and a fenced single
# node refuses every topic creation ("All brokers are currently fenced"): measured on a 2-core machine
# starved by other work. Its own heartbeats reaching itself late is not a reason to stop serving.
broker.session.timeout.ms=30000
# After a SIGKILL the controller keeps the dead broker's registration for that session timeout and
# refuses the restarted one (DUPLICATE_BROKER_REGISTRATION) until then: the restarted broker must keep
# trying longer than that (the default, 60 s, equal to a 60 s session, made it give up and exit).
initial.broker.registration.timeout.ms=120000
auto.create.topics.enable=false
log.retention.hours=-1
message.max.bytes=16777216
"""


def start_kafka(data_dir: Path, port: int | None = None, partitions: int = 4,
                timeout: float = 90.0, extra_properties: str = "", progress=None,
                controller_port: int | None = None, format_args: list[str] | None = None) -> KafkaBroker:
    """Format and start a single-node KRaft broker; returns once a metadata request succeeds.

    ``extra_properties`` is appended to ``server.properties`` (a repeated key wins), and
    ``format_args`` to the storage format command (e.g. ``--add-scram``); a caller that
    rewrites ``listeners`` passes ``controller_port`` so it knows the controller's port.
    """
    java = _java()
    libs = resolve_jars(progress)
    if port is None:
        port = free_port()
    else:
        ensure_port_free(port, "Kafka")
    controller_port = controller_port or free_port()
    while controller_port == port:
        controller_port = free_port()
    props = data_dir / "server.properties"
    try:
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        props.write_text(_server_properties(data_dir, port, controller_port, partitions) + extra_properties)
    except OSError as exc:
        raise DevInfraError(f"cannot prepare the Kafka data directory {data_dir}: {exc.strerror or exc}") from None
    classpath = f"{libs}/*"
    jvm = [java, HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
           f"-Dkafka.logs.dir={data_dir / 'logs'}", f"-Dlog4j2.configurationFile={LOG4J2}", "-cp", classpath]
    if not (data_dir / "data" / "meta.properties").exists():
        if progress:
            progress("formatting Kafka storage")
        fmt = subprocess.run(
            jvm + ["kafka.tools.StorageTool", "format", "--standalone", "-t", str(uuid.uuid4().hex[:22]),
                   "-c", str(props), *(format_args or [])],
            capture_output=True, text=True,
        )
        if fmt.returncode != 0:
            raise DevInfraError(f"Kafka storage format failed: {(fmt.stdout + fmt.stderr).strip()[-300:]}")
    out = open(data_dir / "logs" / "stdout.log", "ab")
    proc = spawn(jvm + ["kafka.Kafka", str(props)], stdout=out, stderr=subprocess.STDOUT)
    broker = KafkaBroker(proc.pid, port, controller_port, data_dir)
    if progress:
        progress(f"waiting for Kafka on {broker.bootstrap}")
    try:
        wait_for_kafka(broker.bootstrap, timeout, alive=broker.alive, log_path=broker.log_path)
    except BaseException:  # a start-up failure, or Ctrl-C: no broker is left running unrecorded
        broker.stop()
        raise
    return broker


def wait_for_kafka(bootstrap: str, timeout: float, alive=lambda: True, log_path: Path | None = None,
                   client_config: dict | None = None) -> None:
    """Block until a metadata request to ``bootstrap`` lists a broker."""
    from confluent_kafka.admin import AdminClient

    conf = {"bootstrap.servers": bootstrap, "log_level": 0}
    conf.update(client_config or {})
    admin = AdminClient(conf)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            hint = tail(log_path, 3) if log_path else ""
            raise DevInfraError(f"Kafka exited during start-up; see {log_path}: {hint[-300:]}")
        try:
            meta = admin.list_topics(timeout=2)
            if meta.brokers:
                return
        except Exception as exc:  # librdkafka raises KafkaException until the listener is up
            last = str(exc)[:120]
        time.sleep(0.3)
    where = f"; broker log: {log_path}" if log_path else ""
    raise DevInfraError(f"Kafka at {bootstrap} did not answer a metadata request within {timeout:.0f}s ({last}){where}")
