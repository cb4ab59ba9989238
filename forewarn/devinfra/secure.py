"""Secured Kafka and Redis for tests and local trials: a private CA, TLS, SCRAM, mTLS, ACL users.

Everything here is generated on the spot (``cryptography``) and lives in one
directory; nothing is fetched. One broker serves both secure flavours at once, so a
test run pays for one broker start:

* ``SASL_SSL`` — TLS with SCRAM-SHA-512 users created at storage-format time;
* ``SSL`` — mutual TLS: a client certificate signed by the CA is required.

A ``PLAINTEXT`` listener stays open on loopback for the broker's own readiness
check; clients under test never use it.

>>> import tempfile
>>> ca = CertificateAuthority(Path(tempfile.mkdtemp()))
>>> server = ca.issue("server", server=True)
>>> server.cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
True
>>> ca.verifies(server.cert)
True
>>> CertificateAuthority(Path(tempfile.mkdtemp()), "Other CA").verifies(server.cert)
False
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from forewarn.devinfra.errors import DevInfraError
from forewarn.devinfra.kafka import KafkaBroker, start_kafka, wait_for_kafka
from forewarn.devinfra.procs import ServerProcess, free_port, spawn, tail
from forewarn.devinfra.redis import redis_server_binary, wait_for_redis

__all__ = ["CertificateAuthority", "CertFiles", "SecureKafka", "TlsRedis", "start_secure_kafka", "start_tls_redis"]

SCRAM = "SCRAM-SHA-512"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class CertFiles:
    """A PEM certificate and its unencrypted PKCS#8 private key."""

    cert: Path
    key: Path


class CertificateAuthority:
    """A throw-away CA in ``directory`` that issues server and client certificates.

    Keys are EC P-256 (fast to make, accepted by Java, OpenSSL and Python's ssl).
    Server certificates name the loopback address and ``localhost`` as subject
    alternative names, so hostname verification stays on in every client.
    """

    def __init__(self, directory: Path, name: str = "Forewarn test CA"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.timezone.utc)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = self.directory / "ca.pem"
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, server: bool = False, hosts: tuple[str, ...] = LOOPBACK_NAMES) -> CertFiles:
        """Write ``<name>.pem`` and ``<name>.key``: a server (with SANs) or a client certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        if server:
            sans: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    sans.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        files = CertFiles(self.directory / f"{name}.pem", self.directory / f"{name}.key")
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
        files.key.chmod(0o600)
        return files

    def verifies(self, cert_path: Path) -> bool:
        """Whether this CA signed the certificate at ``cert_path``."""
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        try:
            cert.verify_directly_issued_by(self._cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


# -- Kafka ---------------------------------------------------------------------------


@dataclass
class SecureKafka:
    """A broker with a SCRAM-over-TLS listener and a mutual-TLS listener."""

    broker: KafkaBroker
    sasl_ssl_port: int
    mtls_port: int
    ca_file: Path

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def mtls_bootstrap(self) -> str:
        return f"127.0.0.1:{self.mtls_port}"

    def stop(self) -> None:
        self.broker.stop()


def _secure_properties(port: int, controller_port: int, sasl_port: int, mtls_port: int,
                       keystore: Path, truststore: Path) -> str:
    return f"""
# -- secured listeners (forewarn.devinfra.secure) --
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},SASL_SSL://127.0.0.1:{sasl_port},SSL://127.0.0.1:{mtls_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port},SSL://127.0.0.1:{mtls_port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
listener.name.sasl_ssl.sasl.enabled.mechanisms={SCRAM}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.ssl.ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={truststore}
ssl.endpoint.identification.algorithm=https
"""


def start_secure_kafka(data_dir: Path, ca: CertificateAuthority, scram_users: dict[str, str],
                       partitions: int = 4, timeout: float = 90.0) -> SecureKafka:
    """Start one KRaft broker whose SCRAM users exist from the first second (created at format time)."""
    if not scram_users:
        raise DevInfraError("start_secure_kafka needs at least one SCRAM user")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = ca.issue("kafka-server", server=True)
    # Kafka's PEM keystore is one file: the private key followed by the certificate chain.
    keystore = data_dir / "kafka-keystore.pem"
    keystore.write_bytes(server.key.read_bytes() + server.cert.read_bytes())
    keystore.chmod(0o600)
    ports: list[int] = []
    while len(ports) < 4:
        p = free_port()
        if p not in ports:
            ports.append(p)
    port, controller_port, sasl_port, mtls_port = ports
    format_args: list[str] = []
    for name, password in scram_users.items():
        format_args += ["--add-scram", f"{SCRAM}=[name={name},password={password}]"]
    props = _secure_properties(port, controller_port, sasl_port, mtls_port, keystore, ca.cert_path)
    broker = start_kafka(data_dir, port=port, partitions=partitions, timeout=timeout, extra_properties=props,
                         controller_port=controller_port, format_args=format_args)
    secure = SecureKafka(broker, sasl_port, mtls_port, ca.cert_path)
    try:
        # The broker answered on PLAINTEXT; make sure the TLS listener is up too before handing it out.
        user, password = next(iter(scram_users.items()))
        wait_for_kafka(secure.sasl_ssl_bootstrap, 30, alive=broker.alive, log_path=broker.log_path, client_config={
            "security.protocol": "SASL_SSL", "sasl.mechanism": SCRAM, "sasl.username": user,
            "sasl.password": password, "ssl.ca.location": str(ca.cert_path)})
    except BaseException:  # a start-up failure, or Ctrl-C
        broker.stop()
        raise
    return secure


# -- Redis ---------------------------------------------------------------------------


@dataclass
class TlsRedis(ServerProcess):
    """``redis-server`` listening only on TLS (plain port off), clients need a CA-signed certificate."""

    signature = "redis-server"

    pid: int
    tls_port: int
    data_dir: Path
    ca_file: Path
    client: CertFiles

    def url(self, user: str, password: str, db: int = 0) -> str:
        return f"rediss://{user}:{password}@127.0.0.1:{self.tls_port}/{db}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"




def start_tls_redis(data_dir: Path, ca: CertificateAuthority, acl_users: dict[str, str],
                    timeout: float = 20.0) -> TlsRedis:
    """Start Redis with TLS only and ACL users; the ``default`` user is switched off."""
    if not acl_users:
        raise DevInfraError("start_tls_redis needs at least one ACL user")
    binary = redis_server_binary()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = ca.issue("redis-server", server=True)
    client = ca.issue("redis-client")
    port = free_port()
    args = [
        binary, "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port),
        "--tls-cert-file", str(server.cert), "--tls-key-file", str(server.key),
        "--tls-ca-cert-file", str(ca.cert_path), "--tls-auth-clients", "yes",
        "--dir", str(data_dir), "--logfile", str(data_dir / "redis.log"),
        "--daemonize", "no", "--protected-mode", "yes",
        "--appendonly", "no", "--save", "",
        "--user", "default", "off",
    ]
    for user, password in acl_users.items():
        # Full key, channel and command access: what a Forewarn worker needs, nothing about other users.
        args += ["--user", user, "on", f">{password}", "~*", "&*", "+@all"]
    proc = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = TlsRedis(proc.pid, port, data_dir, ca.cert_path, client)
    user, password = next(iter(acl_users.items()))
    try:
        wait_for_redis(redis.url(user, password), timeout, alive=redis.alive, log_path=redis.log_path,
                       ssl_ca_certs=str(ca.cert_path), ssl_certfile=str(client.cert), ssl_keyfile=str(client.key))
    except DevInfraError as exc:
        redis.stop()
        # wait_for_redis never echoes the URL; the log tail says why TLS start-up failed.
        raise DevInfraError(f"{exc} ({tail(redis.log_path, 2)[-200:]})") from None
    except BaseException:  # Ctrl-C while waiting
        redis.stop()
        raise
    return redis
