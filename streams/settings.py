"""One settings object for every Forewarn process, from ``FOREWARN_*`` variables.

Built once at start-up and passed explicitly; nothing reads the environment
behind its back. ``KAFKA_BOOTSTRAP_SERVERS`` and ``REDIS_URL`` are honoured as
well, so the output of ``forewarn dev env`` configures every tool.

>>> s = Settings(kafka_bootstrap_servers="127.0.0.1:9092", redis_url="redis://127.0.0.1:6379/0")
>>> s.confluent_config()["bootstrap.servers"]
'127.0.0.1:9092'
>>> s.topics.usage_events
'usage-events'
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from streams.dispatcher.settings import DispatcherSettings
from streams.envcheck import UnknownNameCheck

__all__ = ["NOT_SETTINGS", "KafkaSecurity", "Settings", "Topics"]

#: The shipped configuration, found relative to the source tree rather than the working directory.
_DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "config" / "forewarn.yaml"

#: ``FOREWARN_*`` variables that are not settings, so Settings does not refuse them as misspelt ones.
NOT_SETTINGS = (
    "FOREWARN_STATE_DIR",       # forewarn/devinfra/stack.py: where `forewarn dev` keeps its Kafka and Redis
    "FOREWARN_KAFKA_HEAP",      # forewarn/devinfra/kafka.py: the dev broker's JVM heap
    "FOREWARN_SETUP_BROWSER",   # deploy/setup.sh (set by .ci/run): install headless Chromium
    "FOREWARN_TESTCONTAINERS",  # tests/conftest.py: Kafka and Redis from testcontainers
    "FOREWARN_TEST_ARTIFACTS",  # tests/conftest.py (set by .ci/run): where tests leave their artifacts
)

#: Marks the placeholder values of the shipped Secret template (deploy/k8s/secret.yaml).
_PLACEHOLDER = "REPLACE-ME"


def _placeholder_error() -> PydanticCustomError:
    # The message never repeats the value: settings errors are printed, and a real secret could contain the mark.
    return PydanticCustomError("placeholder_secret", "is still the template's placeholder; set a real secret "
                                                     "(e.g. openssl rand -hex 32)")


def _is_placeholder(secret: SecretStr | None) -> bool:
    """Whether ``secret`` still holds a placeholder of the template (any case).

    >>> _is_placeholder(SecretStr("REPLACE-ME-WITH-32-RANDOM-BYTES-HEX")), _is_placeholder(SecretStr("9f2c" * 8))
    (True, False)
    """
    return secret is not None and _PLACEHOLDER.lower() in secret.get_secret_value().lower()


class Topics(BaseModel):
    """Topic names, partition counts and replication; every topic is keyed by account_id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usage_events: str = "usage-events"
    usage_events_dlq: str = "usage-events.dlq"
    trigger_firings: str = "trigger-firings"
    trigger_firings_dlq: str = "trigger-firings.dlq"
    intervention_decisions: str = "intervention-decisions"
    intervention_commands: str = "intervention-commands"
    intervention_commands_dlq: str = "intervention-commands.dlq"
    intervention_receipts: str = "intervention-receipts"
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)

    @classmethod
    def suffixed(cls, suffix: str, **fields: int) -> "Topics":
        """The default topic names, each followed by ``.<suffix>`` (a run's own topics: a test, a bench, a demo);
        ``fields`` sets ``partitions`` or ``replication_factor``.

        >>> Topics.suffixed("t1", partitions=2).intervention_commands_dlq
        'intervention-commands.dlq.t1'
        """
        defaults = cls()
        return cls(**{f: f"{getattr(defaults, f)}.{suffix}" for f in cls.model_fields
                      if f not in ("partitions", "replication_factor")}, **fields)

    def all_names(self) -> list[str]:
        return [
            self.usage_events,
            self.usage_events_dlq,
            self.trigger_firings,
            self.trigger_firings_dlq,
            self.intervention_decisions,
            self.intervention_commands,
            self.intervention_commands_dlq,
            self.intervention_receipts,
        ]


class KafkaSecurity(BaseModel):
    """Kafka connection security, passed to both Faust (aiokafka) and confluent-kafka."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None


class Settings(BaseSettings):
    """Every knob of a Forewarn process. Environment prefix ``FOREWARN_``, nested with ``__``, any case.

    A ``FOREWARN_*`` variable that names no setting (nor one of :data:`NOT_SETTINGS`) is refused with
    :class:`streams.envcheck.UnknownSettingError`: a misspelt name would otherwise be silently ignored.
    """

    model_config = SettingsConfigDict(
        env_prefix="FOREWARN_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("FOREWARN_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    kafka_security: KafkaSecurity = KafkaSecurity()
    redis_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        validation_alias=AliasChoices("FOREWARN_REDIS_URL", "REDIS_URL", "redis_url"),
        description="redis:// or rediss:// (TLS); may carry ACL user and password, hence secret.",
    )
    redis_ssl_cafile: Path | None = None
    redis_ssl_certfile: Path | None = None
    redis_ssl_keyfile: Path | None = None
    topics: Topics = Topics()
    config_path: Path = Field(default=_DEFAULT_CONFIG, description="The triggers/interventions YAML file.")
    app_id: str = "forewarn"
    worker_web_host: str = Field(default="127.0.0.1", description="Bind address of /metrics and health; 0.0.0.0 in containers so probes reach it.")
    worker_web_port: int = Field(default=6066, ge=0, le=65535)
    metrics_port: int = Field(default=0, ge=0, le=65535, description="Standalone /metrics port for non-Faust processes; 0 = off.")
    allowed_lateness_s: float | None = Field(
        default=None, ge=0, le=3650 * 86_400, allow_inf_nan=False,  # le: schemas.config_yaml.MAX_DURATION_US
        description="Overrides the config file's engine.allowed_lateness (seconds, at most ten years); unset, the "
                    "file decides (default 5m). Every runtime reads it through streams.config.effective_config, "
                    "which applies the file's checks to it (state_ttl must outlive each horizon plus it).")
    max_event_lead_s: float = Field(
        default=3_600.0, ge=0,
        description="How far an event's occurred_at may be ahead of the worker's clock; later ones are "
                    "dead-lettered with reason future. One event from a producer with a wrong clock or year "
                    "would otherwise move the watermark past every deadline at once, and release firings held "
                    "for quiet hours early (local time sent as UTC is hours ahead). 0 = no limit.")
    idle_advance: bool = Field(default=True, description="Advance idle partitions' watermarks by wall-clock time; off for replays and tests.")
    idle_advance_after_s: float = Field(default=30.0, gt=0, description="How long a partition must be idle before its watermark advances.")
    consumer_max_fetch_size: int = Field(default=16 * 1024 * 1024, ge=64 * 1024)
    max_poll_records: int = Field(default=20_000, ge=1)
    gc_gen0_threshold: int = Field(
        default=50_000, ge=0,
        description="Allocations between the worker's young-generation garbage collections (Python's default "
                    "is 700; 0 keeps Python's settings). Start-up objects are frozen out of collection too.")
    max_inflight_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    model_checkpoint_key: SecretStr | None = Field(
        default=None, min_length=16,
        description="HMAC key signing the usage_drop models' checkpoints (detectors.online.checkpoint); "
                    "unset: no checkpoints are written or read, models start cold.")
    dispatcher: DispatcherSettings = DispatcherSettings()

    # -- environment names --------------------------------------------------------

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # The usual sources, after a check that refuses FOREWARN_* names no setting reads.
        return (UnknownNameCheck(settings_cls, NOT_SETTINGS),
                init_settings, env_settings, dotenv_settings, file_secret_settings)

    @field_validator("config_path", mode="before")
    @classmethod
    def _config_path_given(cls, path: object) -> object:
        # FOREWARN_CONFIG_PATH= (empty) was Path("") == "." and failed later as ".:1:1: cannot read the file".
        if isinstance(path, str) and not path.strip():
            raise PydanticCustomError("empty_path", "is empty; unset it to use deploy/config/forewarn.yaml, "
                                                    "or give the path of a config file")
        return path

    # -- placeholders ------------------------------------------------------------
    # A Secret applied from the template unedited must stop the process, not run it with a
    # public HMAC key (the checkpoint key guards what is unpickled) or a public signing key.

    @field_validator("model_checkpoint_key")
    @classmethod
    def _no_placeholder_key(cls, key: SecretStr | None) -> SecretStr | None:
        if _is_placeholder(key):
            raise _placeholder_error()
        return key

    @field_validator("dispatcher")
    @classmethod
    def _no_placeholder_channel_secret(cls, dispatcher: DispatcherSettings) -> DispatcherSettings:
        bad = sorted(name for name, secret in dispatcher.channel_secrets.items() if _is_placeholder(secret))
        if bad:
            # A nested ValidationError keeps each channel's location (under ``dispatcher``), so the
            # one-line settings error names FOREWARN_DISPATCHER__CHANNEL_SECRETS__<NAME>.
            raise ValidationError.from_exception_data(DispatcherSettings.__name__, [
                {"type": _placeholder_error(), "loc": ("channel_secrets", name), "input": "**********"}
                for name in bad])
        return dispatcher

    # -- client configuration -------------------------------------------------

    def confluent_config(self, **extra: object) -> dict[str, object]:
        """A confluent-kafka (librdkafka) configuration with the security options applied.

        librdkafka's own log lines go to Python logging (``forewarn.rdkafka``, through the process's
        handlers and their repeat filter, :mod:`streams.logfilter`) instead of straight to stderr: an
        unreachable broker wrote ~20 ``Connection refused`` lines a second per client. They are handed
        over in the client's ``poll()``/``consume()``/``flush()``; a client that never polls passes its
        own ``logger`` (as :class:`streams.health.KafkaProbe` does).
        """
        from streams.logfilter import RdkafkaLogger

        sec = self.kafka_security
        secrets = [s.get_secret_value() for s in (sec.sasl_password, sec.ssl_key_password) if s is not None]
        conf: dict[str, object] = {"bootstrap.servers": self.kafka_bootstrap_servers,
                                   "logger": RdkafkaLogger(secrets)}
        if sec.protocol != "PLAINTEXT":
            conf["security.protocol"] = sec.protocol
        if sec.sasl_mechanism:
            conf["sasl.mechanism"] = sec.sasl_mechanism
        if sec.sasl_username is not None:
            conf["sasl.username"] = sec.sasl_username
        if sec.sasl_password is not None:
            conf["sasl.password"] = sec.sasl_password.get_secret_value()
        if sec.ssl_cafile:
            conf["ssl.ca.location"] = str(sec.ssl_cafile)
        if sec.ssl_certfile:
            conf["ssl.certificate.location"] = str(sec.ssl_certfile)
        if sec.ssl_keyfile:
            conf["ssl.key.location"] = str(sec.ssl_keyfile)
        if sec.ssl_key_password is not None:
            conf["ssl.key.password"] = sec.ssl_key_password.get_secret_value()
        conf.update(extra)
        return conf

    def faust_broker_credentials(self):
        """Faust's credentials object for the same security options (None for plaintext)."""
        import ssl

        import faust

        sec = self.kafka_security
        context = None
        if sec.protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=str(sec.ssl_cafile) if sec.ssl_cafile else None)
            if sec.ssl_certfile:
                context.load_cert_chain(
                    str(sec.ssl_certfile),
                    str(sec.ssl_keyfile) if sec.ssl_keyfile else None,
                    sec.ssl_key_password.get_secret_value() if sec.ssl_key_password else None,
                )
        if sec.protocol.startswith("SASL"):
            password = sec.sasl_password.get_secret_value() if sec.sasl_password else ""
            if (sec.sasl_mechanism or "PLAIN").startswith("SCRAM"):
                return faust.SASLCredentials(
                    username=sec.sasl_username, password=password,
                    mechanism=sec.sasl_mechanism, ssl_context=context,
                )
            return faust.SASLCredentials(username=sec.sasl_username, password=password, ssl_context=context)
        if context is not None:
            return faust.SSLCredentials(context)
        return None

    def latest_event_us(self) -> int | None:
        """The latest ``occurred_at`` (epoch µs) a worker accepts now (``max_event_lead_s`` ahead of its
        clock), or None when there is no limit; later events are refused as ``future``."""
        lead = self.max_event_lead_s
        return int((time.time() + lead) * 1_000_000) if lead else None

    def redis_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``redis.from_url`` (TLS files when ``rediss://``)."""
        kwargs: dict[str, object] = {}
        if self.redis_ssl_cafile:
            kwargs["ssl_ca_certs"] = str(self.redis_ssl_cafile)
        if self.redis_ssl_certfile:
            kwargs["ssl_certfile"] = str(self.redis_ssl_certfile)
        if self.redis_ssl_keyfile:
            kwargs["ssl_keyfile"] = str(self.redis_ssl_keyfile)
        return kwargs
