"""Building the impact report from files or from the Kafka topics, with the config's metrics and costs.

This is what ``forewarn report`` and ``forewarn demo`` call: it reads the
config (success metric per trigger, channel per intervention, ``costs:``),
then the decisions, receipts and usage events, and hands them to
:func:`interventions.measurement.report.build_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path

import orjson

from detectors.config import ForewarnConfig
from streams.config import SECTIONS as CONFIG_SECTIONS
from streams.config import load_config as _load_all
from interventions.measurement.decisions import DecisionRecord, decision_from_json, read_decisions
from interventions.measurement.errors import HistoryError
from interventions.measurement.history import EventFileStats, parse_events, read_events
from interventions.measurement.receipts import ReceiptBook, read_receipts, read_receipts_file
from interventions.measurement.report import ImpactReport, build_report
from schemas.event import Event

__all__ = ["CONFIG_SECTIONS", "load_report_config", "report_from_files", "report_from_topics", "report_for_config"]

#: The sections beyond ``detectors.config``'s own that a full Forewarn config may hold.


def load_report_config(path: str | Path) -> ForewarnConfig:
    """The config with every section the report reads (``costs:`` included)."""
    return _load_all(path)


def report_for_config(config: ForewarnConfig, decisions: Iterable[DecisionRecord], events: Iterable[Event],
                      stats: EventFileStats, receipts: ReceiptBook | None = None, **options) -> ImpactReport:
    """``build_report`` with the success metrics, channels and costs of ``config``.

    ``options``: ``since``, ``until`` (epoch µs), ``minimum_per_arm``, ``horizon_days``, ``minimum_at_risk``.
    """
    metrics = {name: config.success_metric(name) for name in config.triggers}
    channels = {name: spec.channel for name, spec in config.interventions.items()}
    interventions = {name: t.intervention for name, t in config.triggers.items()}
    return build_report(decisions, events, metrics, channels, interventions=interventions,
                        costs=config.extra.get("costs"), receipts=receipts, event_stats=stats, **options)


def report_from_files(events: Path, decisions: Path, config: ForewarnConfig, receipts: Path | None = None,
                      **options) -> ImpactReport:
    """The report over JSON Lines files: usage events, the decision log and (optionally) receipts."""
    stats = EventFileStats()
    book = read_receipts_file(receipts) if receipts is not None else None
    return report_for_config(config, list(read_decisions(decisions)), read_events(events, stats), stats, book,
                             **options)


def report_from_topics(settings, config: ForewarnConfig, with_receipts: bool = True, timeout: float = 60.0,
                       progress: Callable[[str, int], None] | None = None, **options) -> ImpactReport:
    """The report over the topics of ``settings`` (usage events, decisions, receipts), each read to its end.

    The records are streamed (:func:`streams.readback.iter_topic`), never held as a list: the
    decisions and receipts are kept parsed, the usage events only as the report's per-ticket
    and per-account tallies (as from files). ``timeout``
    is the longest a topic may make no progress (not a bound on the whole read).
    ``progress(topic, records read so far)`` is called as each topic is read.
    """
    from streams.readback import iter_topic

    def records(topic: str):
        return iter_topic(settings, topic, timeout, None if progress is None else lambda n: progress(topic, n))

    # closing(): each read's consumer is closed at once, also when a bad record stops it early
    topics = settings.topics
    decisions = []
    with closing(records(topics.intervention_decisions)) as stream:
        for record in stream:
            try:
                decisions.append(decision_from_json(orjson.loads(record.value)))
            except orjson.JSONDecodeError:
                raise HistoryError(f"{topics.intervention_decisions} partition {record.partition} "
                                   f"offset {record.offset}: not JSON") from None
    book = None
    if with_receipts:
        with closing(records(topics.intervention_receipts)) as stream:
            book = read_receipts((r.value for r in stream), topics.intervention_receipts)
    stats = EventFileStats()
    with closing(records(topics.usage_events)) as stream:
        return report_for_config(config, decisions, parse_events((r.value for r in stream), stats), stats, book,
                                 **options)
