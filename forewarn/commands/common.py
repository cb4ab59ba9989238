"""What several commands share: building Settings the way every command does, running a service."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.errors import ForewarnError
from streams.settings import Settings

__all__ = ["ServeError", "load_settings", "service_settings", "serve", "settings_problem", "literal", "error_line",
           "input_problem", "refuse_overwriting"]


class ServeError(ForewarnError):
    """A service could not open what it serves (e.g. its /metrics port)."""


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; without KAFKA_BOOTSTRAP_SERVERS / REDIS_URL, a running
    ``forewarn dev up`` stack supplies them, so commands work right after ``dev up``."""
    if not (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("FOREWARN_KAFKA_BOOTSTRAP_SERVERS")):
        from forewarn.devinfra import DevInfraError, DevStack

        try:
            ends = DevStack().endpoints()
        except DevInfraError:
            ends = None
        if ends is not None:
            overrides.setdefault("kafka_bootstrap_servers", ends.kafka_bootstrap_servers)
            if not (os.environ.get("REDIS_URL") or os.environ.get("FOREWARN_REDIS_URL")):
                overrides.setdefault("redis_url", ends.redis_url)
    return Settings(**overrides)


def service_settings(config: Path | None, loglevel: str) -> Settings:
    """Logging at ``loglevel`` and the settings of a long-running command (``--config`` overriding the path)."""
    from streams.logfilter import install_repeat_filter

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # An outage repeats the same lines many times a second (librdkafka's among them, see
    # Settings.confluent_config): the first of a kind passes, then one line with a count per 30 s.
    install_repeat_filter()
    return load_settings(**({"config_path": config} if config is not None else {}))


def serve(settings: Settings, metrics_port: int | None, registry: Any,
          run: Callable[[threading.Event, Callable[[], None]], None], stale_after_s: float = 60.0) -> None:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` (:class:`streams.health.HealthServer`; any other path
    is 404) on ``metrics_port`` (default ``FOREWARN_METRICS_PORT``; 0 = off), then ``run(stop, beat)`` until
    SIGTERM or SIGINT sets ``stop`` (a clean stop).

    ``run`` calls ``beat()`` once per turn of its loop: ``/healthz`` fails (503) once the loop has not beaten
    for ``stale_after_s`` (a hung process, restarted by its liveness probe). ``/readyz`` also needs Kafka to
    answer a metadata request and Redis a PING (each probed on demand, the answer cached for 5 s).
    """
    from streams.health import HealthServer, HealthState, KafkaProbe, RedisProbe

    port = metrics_port if metrics_port is not None else settings.metrics_port
    state = HealthState(stale_after_s=stale_after_s, required=("kafka", "redis"))
    state.add_probe("kafka", KafkaProbe(settings))
    state.add_probe("redis", RedisProbe(settings))
    server = None
    if port:
        if not 0 < port <= 65535:
            raise ServeError(f"metrics port {port} is out of range: pick one from 1 to 65535 (0 = off)")
        try:
            server = HealthServer(state, registry, host=settings.worker_web_host, port=port).start()
        except OSError as exc:
            raise ServeError(f"cannot serve /metrics on {settings.worker_web_host}:{port}: {exc.strerror or exc}; "
                             "pick another --metrics-port (or FOREWARN_METRICS_PORT)") from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run(stop, state.beat)
    finally:
        if server is not None:
            server.stop()


def _field(model: Any, name: object) -> Any:
    """The field ``name`` (or the field with that alias) of a pydantic model; ``None`` if there is none."""
    fields = getattr(model, "model_fields", None)
    if not fields or not isinstance(name, str):
        return None
    return fields.get(name) or next(
        (f for f in fields.values() if name in getattr(f.validation_alias, "choices", ())), None)


def _setting_name(field: str, rest: tuple = ()) -> str:
    """The environment variable(s) behind a settings field (``loc`` of a validation error)."""
    info = _field(Settings, field)
    choices = getattr(info.validation_alias, "choices", ()) if info is not None else ()
    names = [c for c in choices if isinstance(c, str) and c.isupper()]
    path = []
    for part in rest:
        if not isinstance(part, str):  # an item of a list
            break
        path.append(part.upper())
    if names and not path:
        return " / ".join(names)
    return "__".join([f"FOREWARN_{field.upper()}", *path])


def _is_secret(loc: tuple) -> bool:
    """Whether the setting at ``loc`` holds a secret (a ``SecretStr`` somewhere in its type)."""
    model: Any = Settings
    for part in loc:
        info = _field(model, part)
        if info is None:
            return False
        if "SecretStr" in repr(info.annotation):
            return True
        model = info.annotation
    return False


_FIELD_IN_SETTINGS_ERROR = re.compile(r'error parsing value for field "([^"]+)"')


def settings_problem(exc: Exception) -> str | None:
    """One line naming the setting(s) and what is wrong, never the value (it may be a secret);
    ``None`` when ``exc`` is not about ``Settings``.

    >>> try:
    ...     Settings(metrics_port="abc", redis_url=5)
    ... except Exception as exc:
    ...     print(settings_problem(exc))
    FOREWARN_REDIS_URL / REDIS_URL: Input should be a valid string; FOREWARN_METRICS_PORT: Input should be a valid integer, unable to parse string as an integer

    A misspelt name is refused too (:mod:`streams.envcheck`), with the closest real one.
    """
    import json

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from streams.envcheck import UnknownSettingError

    if isinstance(exc, ValidationError):
        if exc.title != Settings.__name__:
            return None
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            loc = tuple(error["loc"]) or ("?",)
            msg = error["msg"]
            # A validator's own message may quote the value; for a secret, say less.
            if error["type"] in ("value_error", "assertion_error") and _is_secret(loc):
                msg = "not a valid value"
            problems.append(f"{_setting_name(str(loc[0]), loc[1:])}: {msg}")
        return "; ".join(problems)
    if isinstance(exc, UnknownSettingError):  # already one line of names, never values
        return str(exc)
    if isinstance(exc, SettingsError):
        found = _FIELD_IN_SETTINGS_ERROR.search(str(exc))
        name = _setting_name(found.group(1)) if found else "a FOREWARN_* setting"
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, json.JSONDecodeError):
            return f"{name} is not valid JSON ({cause.msg} at character {cause.pos})"
        return f"{name} could not be parsed"
    return None


def literal(value: object) -> str:
    """``str(value)`` escaped for rich markup: a path, a topic or a message put into a markup string prints
    as it is (``[/x]`` in a config value raised a MarkupError, ``[v2]`` in a path vanished as a style).

    >>> from rich.console import Console
    >>> console = Console(width=100, color_system=None)
    >>> with console.capture() as out:
    ...     console.print(f"[green]ok[/]: {literal('cases/configs[v2]/forewarn.yaml')} within: {literal('[/x]')}")
    >>> out.get()
    'ok: cases/configs[v2]/forewarn.yaml within: [/x]\\n'
    """
    from rich.markup import escape

    return escape(str(value))


def error_line(message: object) -> Any:
    """``error: <message>`` as rich text, the message never read as markup (the CLI's one line on a failure)."""
    from rich.text import Text

    return Text.assemble(("error:", "bold red"), " ", str(message))


def input_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an input file (``"no such file"``, ``"is a directory"``, ...); None if it can.

    >>> input_problem(Path("/")), input_problem(Path("/nonexistent/events.jsonl"))
    ('is a directory', 'no such file')
    """
    try:
        if path.is_dir():
            return "is a directory"
        if not path.exists():
            return "no such file"
    except OSError as exc:  # e.g. a name too long, a loop of symlinks
        return f"cannot be read ({exc.strerror or exc})"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def refuse_overwriting(out: Path, option: str, inputs: dict[str, Path | None]) -> None:
    """Refuse, in one line, an output path that is one of the inputs (also through a symlink or a hard link):
    ``backtest x.jsonl --out x.jsonl`` replaced the events with the firings and said nothing.

    ``inputs`` maps what each input is (``"events file"``, ``"config file"``) to its path (None: not given).

    >>> here = Path(__file__)
    >>> refuse_overwriting(here, "--out", {"events file": here.parent / ".." / "commands" / here.name})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    schemas.errors.ForewarnError: --out .../common.py would overwrite the events file it reads; give --out another path
    """
    for name, path in inputs.items():
        if path is None:
            continue
        try:
            same = os.path.samefile(out, path)
        except OSError:  # one of them does not exist (yet): not the same file
            same = False
        if same:
            raise ForewarnError(f"{option} {out} would overwrite the {name} it reads; give {option} another path")
