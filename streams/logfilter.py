"""Collapse repeated log lines, and bring librdkafka's own lines into Python logging.

While Kafka is down, aiokafka logs ~70 errors a second and every librdkafka client ~20
(``Connect to ... failed: Connection refused``): a ten-minute outage wrote ~45k lines per
process and buried the one that mattered. :class:`RepeatFilter` lets the first line of a
kind through, counts its repeats for :data:`REPEAT_WINDOW_S` and lets the next one through
with how many it held back. :func:`install_repeat_filter` puts one on every handler of the
root logger; :class:`RdkafkaLogger` is the ``logger`` every confluent-kafka client gets from
:meth:`streams.settings.Settings.confluent_config`, so librdkafka's lines meet the same filter.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

__all__ = ["REPEAT_WINDOW_S", "RdkafkaLogger", "RepeatFilter", "install_repeat_filter", "unpolled"]

#: How long repeats of one line are held back. Long enough that an outage logs a few lines a
#: minute per kind of failure, short enough that the count says the failure is still going on.
REPEAT_WINDOW_S = 30.0

#: At most this many kinds of line are remembered, the oldest window forgotten first (a message with an
#: id in it is a new kind each time; memory and the cost of a line must stay bounded).
_MAX_KINDS = 2048

#: Numbers (ids, offsets, ports, durations, counts) and long hex tokens (command ids) do not make a new kind.
_VARIABLE = re.compile(r"\b[0-9a-fA-F]{8,}\b|\d+")

#: Lines never held back: mode writes whatever reaches stderr in ``forewarn worker`` (a traceback printed
#: by a thread, say) to this logger one line at a time, and two tracebacks share most of their lines.
_NEVER_HELD = frozenset({"mode.redirect"})

#: Forewarn's own loggers are never held back either: each of their lines is a diagnosis (a cold start
#: of partition 3 after partition 2's, a channel's bug), and the floods come from the Kafka clients
#: (aiokafka, Faust, librdkafka through ``forewarn.rdkafka``).
_OURS, _THEIRS_UNDER_OURS = ("forewarn.", "streams."), ("forewarn.rdkafka",)


def _may_hold(name: str) -> bool:
    if name in _NEVER_HELD:
        return False
    return not name.startswith(_OURS) or name.startswith(_THEIRS_UNDER_OURS)

_DECIDED = "_forewarn_repeat_pass"  # the verdict, kept on the record: one record, one verdict per process


class RepeatFilter(logging.Filter):
    """Pass the first line of a kind, hold back its repeats for ``window_s``, then pass the next with
    `` (N similar lines suppressed in the last 30s)``.

    A kind is the logger, the level and the message as printed with its numbers and long hex ids
    left out (and the exception's type, with a traceback): ``Unable connect to node with id 1:
    refused`` and ``... id 2: refused`` are one kind, a channel raising ``KeyError`` and another
    raising ``TypeError`` two. A record may carry its own ``repeat_key`` instead of the message.
    ``clock`` is for tests.

    >>> now = [0.0]
    >>> f = RepeatFilter(window_s=30, clock=lambda: now[0])
    >>> def line(msg, *args):
    ...     record = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, msg, args, None)
    ...     return record.getMessage() if f.filter(record) else None
    >>> line("Unable connect to node with id %s", 1), line("Unable connect to node with id %s", 1)
    ('Unable connect to node with id 1', None)
    >>> now[0] = 31.0
    >>> line("Unable connect to node with id %s", 1)
    'Unable connect to node with id 1 (1 similar lines suppressed in the last 30s)'
    """

    def __init__(self, window_s: float = REPEAT_WINDOW_S, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        # kind -> [window start, lines held back]; in the order the windows started, oldest first
        self._kinds: OrderedDict[tuple, list] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, _DECIDED, None)
        if decided is not None:  # the same record at a second handler
            return decided
        if not _may_hold(record.name):
            return True
        key = _kind(record)
        now = self.clock()
        with self._lock:
            state = self._kinds.get(key)
            if state is not None and now - state[0] < self.window_s:
                state[1] += 1
                verdict = False
            else:
                held = state[1] if state is not None else 0
                self._kinds[key] = [now, 0]
                self._kinds.move_to_end(key)
                while len(self._kinds) > _MAX_KINDS:
                    self._kinds.popitem(last=False)
                if held:
                    record.msg = (f"{_template(record.msg)} "
                                  f"({held} similar lines suppressed in the last {self.window_s:g}s)")
                verdict = True
        setattr(record, _DECIDED, verdict)
        return verdict


def _kind(record: logging.LogRecord) -> tuple:
    text = getattr(record, "repeat_key", None)
    if text is None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - bad arguments: logging reports those itself when it formats
            text = _template(record.msg)
        text = _VARIABLE.sub("#", text)
    exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
    return record.name, record.levelno, text, exc


def _template(msg: object) -> str:
    # The % escaping of a message that is not a string: str() of it is what logging prints.
    return msg if isinstance(msg, str) else str(msg)


def install_repeat_filter(handlers: Iterable[logging.Handler] | None = None,
                          repeat: RepeatFilter | None = None) -> RepeatFilter:
    """Put one :class:`RepeatFilter` on ``handlers`` (default: every handler of the root logger) and return
    it; a handler that has one already keeps it, so calling this twice changes nothing.

    >>> handler = logging.StreamHandler()
    >>> install_repeat_filter([handler]) is install_repeat_filter([handler])
    True
    """
    handlers = list(logging.getLogger().handlers if handlers is None else handlers)
    for handler in handlers:
        present = next((f for f in handler.filters if isinstance(f, RepeatFilter)), None)
        if present is not None:
            repeat = repeat or present
            continue
        repeat = repeat or RepeatFilter()
        handler.addFilter(repeat)
    return repeat or RepeatFilter()


class RdkafkaLogger(logging.Logger):
    """The ``logger`` of a confluent-kafka client: librdkafka's lines go to the ``forewarn.rdkafka`` logger
    (so through the process's handlers and their :class:`RepeatFilter`), each with a ``repeat_key`` that
    makes ``Connect to ... failed (after 3ms ...)`` and ``(after 0ms ...)`` the same kind of line, and with
    ``secrets`` (passwords of the settings) replaced by ``***``.

    librdkafka hands its lines to Python only inside ``poll()``, ``consume()`` or ``flush()`` of the client.

    >>> records = []
    >>> target = logging.getLogger("forewarn.rdkafka.doctest")
    >>> target.addFilter(lambda r: records.append(r) and False)
    >>> sink = RdkafkaLogger(["s3cret"], target=target)
    >>> sink.log(40, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "b:9092/bootstrap: failed (after 3ms) s3cret")
    >>> sink.log(40, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "b:9092/bootstrap: failed (after 0ms) s3cret")
    >>> [r.getMessage() for r in records]
    ['FAIL [rdkafka#consumer-1] b:9092/bootstrap: failed (after 3ms) ***', 'FAIL [rdkafka#consumer-1] b:9092/bootstrap: failed (after 0ms) ***']
    >>> records[0].repeat_key == records[1].repeat_key
    True
    """

    def __init__(self, secrets: Iterable[str] = (), target: logging.Logger | None = None):
        super().__init__("forewarn.rdkafka")
        self._secrets = [s for s in secrets if s]
        self._target = target or logging.getLogger("forewarn.rdkafka")

    def log(self, level, msg, *args, **kwargs):  # librdkafka calls logger.log(level, "%s [%s] %s", fac, name, buf)
        try:
            text = msg % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(map(str, (msg, *args)))
        for secret in self._secrets:
            text = text.replace(secret, "***")
        self._target.log(level, "%s", text, extra={"repeat_key": _VARIABLE.sub("#", text)})


def unpolled(conf: dict[str, object]) -> dict[str, object]:
    """``conf`` for a client that never polls (an admin client, a metadata probe), without the routed
    ``logger``: its lines would wait for a poll that never comes and be dropped with the client, the
    reason a request failed among them (``SASL ... handshake failed``); librdkafka then writes them to
    stderr itself, as it did before. Such clients live for one request or one read.

    >>> sorted(unpolled({"bootstrap.servers": "k:9092", "logger": RdkafkaLogger()}))
    ['bootstrap.servers']
    """
    return {k: v for k, v in conf.items() if k != "logger"}
