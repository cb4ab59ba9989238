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
from collections.abc import Callable, Iterable

__all__ = ["REPEAT_WINDOW_S", "RdkafkaLogger", "RepeatFilter", "install_repeat_filter"]

#: How long repeats of one line are held back. Long enough that an outage logs a few lines a
#: minute per kind of failure, short enough that the count says the failure is still going on.
REPEAT_WINDOW_S = 30.0

#: Past this many kinds of line remembered, the ones whose window has ended are forgotten
#: (a message built with an f-string is a new kind each time; memory must stay bounded).
_MAX_KINDS = 2048

_DECIDED = "_forewarn_repeat_pass"  # the verdict, kept on the record: one record, one verdict per process


class RepeatFilter(logging.Filter):
    """Pass the first line of a kind, hold back its repeats for ``window_s``, then pass the next with
    `` (N similar lines suppressed in the last 30s)``.

    A kind is the logger and the message template (``record.msg`` before its ``%`` arguments),
    or ``record.repeat_key`` when the record carries one (:class:`RdkafkaLogger` sets it: every
    librdkafka line has the same template). ``clock`` is for tests.

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
        self._kinds: dict[tuple[str, object], list] = {}  # kind -> [window start, lines held back]

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, _DECIDED, None)
        if decided is not None:  # the same record at a second handler
            return decided
        key = (record.name, getattr(record, "repeat_key", None) or _template(record.msg))
        now = self.clock()
        with self._lock:
            state = self._kinds.get(key)
            if state is not None and now - state[0] < self.window_s:
                state[1] += 1
                verdict = False
            else:
                held = state[1] if state is not None else 0
                if state is None and len(self._kinds) >= _MAX_KINDS:
                    self._forget(now)
                self._kinds[key] = [now, 0]
                if held:
                    record.msg = (f"{_template(record.msg)} "
                                  f"({held} similar lines suppressed in the last {self.window_s:g}s)")
                verdict = True
        setattr(record, _DECIDED, verdict)
        return verdict

    def _forget(self, now: float) -> None:
        for key in [k for k, (start, _) in self._kinds.items() if now - start >= self.window_s]:
            del self._kinds[key]


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


#: librdkafka's line varies in a duration and in its own count of repeats; the kind of line does not.
_VARYING = re.compile(r"\d+(?=ms\b| identical)")


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
        self._target.log(level, "%s", text, extra={"repeat_key": _VARYING.sub("N", text)})
