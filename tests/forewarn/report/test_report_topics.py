"""``forewarn report --from-kafka``: the same report from the topics as from the files they were written from."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from measurement_synth import World, generate, write_files

from forewarn.report.build import load_report_config, report_for_config, report_from_files, report_from_topics
from streams.producer import RecordProducer, account_key
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


def _to_topics(settings, tmp_path, accounts: int) -> tuple[Path, Path, Path, int]:
    """A seeded world's events, decisions and 50 receipts, written to files and produced to the topics."""
    decisions, events = generate(World(accounts=accounts, seed=8))
    ev_path, dec_path = write_files(decisions, events, tmp_path)
    receipts = [orjson.dumps({"command_id": d.command_id, "outcome": "delivered"})
                for d in decisions if d.command_id][:50]
    (tmp_path / "receipts.jsonl").write_bytes(b"".join(r + b"\n" for r in receipts))

    ensure_topics(settings)
    producer = RecordProducer(settings)
    topics = settings.topics
    producer.produce_many(topics.usage_events, ((account_key(line), line) for line in ev_path.read_bytes().splitlines()))
    producer.produce_many(topics.intervention_decisions,
                          ((orjson.loads(line)["account_id"].encode(), line) for line in dec_path.read_bytes().splitlines()))
    producer.produce_many(topics.intervention_receipts, ((None, r) for r in receipts))
    producer.flush()
    return ev_path, dec_path, tmp_path / "receipts.jsonl", len(events)


def test_topics_and_files_give_the_same_report(settings, tmp_path):
    ev_path, dec_path, receipts, events = _to_topics(settings, tmp_path, 200)
    config = load_report_config(HERE / "testdata" / "forewarn.yaml")
    from_files = report_from_files(ev_path, dec_path, config, receipts).to_json()
    from_topics = report_from_topics(settings, config).to_json()
    assert from_topics["triggers"] == from_files["triggers"]
    assert from_topics["retention"] == from_files["retention"]
    assert from_topics["roi"] == from_files["roi"]
    assert from_topics["inputs"]["events"] == events
    assert from_topics["triggers"][0]["delivery"]["delivered"] == 50


def _listed_report(settings, config, **options):
    """The report as it was built before the topics were streamed: every topic read into a list first."""
    from interventions.measurement.decisions import decision_from_json
    from interventions.measurement.history import EventFileStats, parse_events
    from interventions.measurement.receipts import read_receipts
    from streams.readback import read_topic

    topics = settings.topics
    decisions = [decision_from_json(orjson.loads(r.value)) for r in read_topic(settings, topics.intervention_decisions)]
    book = read_receipts([r.value for r in read_topic(settings, topics.intervention_receipts)],
                         topics.intervention_receipts)
    stats = EventFileStats()
    events = list(parse_events([r.value for r in read_topic(settings, topics.usage_events)], stats))
    return report_for_config(config, decisions, events, stats, book, **options)


def test_the_streamed_report_is_the_listed_one(settings, tmp_path):
    from schemas.timefmt import parse_rfc3339

    _to_topics(settings, tmp_path, 200)
    config = load_report_config(HERE / "testdata" / "forewarn.yaml")
    seen: dict[str, int] = {}
    streamed = report_from_topics(settings, config, progress=seen.__setitem__).to_json()
    assert streamed == _listed_report(settings, config).to_json()
    topics = settings.topics
    assert seen == {topics.intervention_decisions: 200, topics.intervention_receipts: 50,
                    topics.usage_events: streamed["inputs"]["events"]}

    window = dict(since=parse_rfc3339("2026-01-20T00:00:00Z"), until=parse_rfc3339("2026-04-01T00:00:00Z"))
    assert (report_from_topics(settings, config, **window).to_json()
            == _listed_report(settings, config, **window).to_json())


@pytest.fixture
def spy(readback_spy):
    return readback_spy


def test_the_events_are_measured_while_the_topic_is_still_read(settings, tmp_path, spy, monkeypatch):
    """Not a list of the whole topic first (about 700 bytes an event: gigabytes for a long history)."""
    from forewarn.report import build

    _, _, _, events = _to_topics(settings, tmp_path, 1500)
    at_first_event: list[int] = []

    def measuring(config, decisions, events, *args, **kwargs):
        def watched():
            for event in events:
                if not at_first_event:
                    at_first_event.append(spy.instances[-1].delivered)
                yield event
        return report_for_config(config, decisions, watched(), *args, **kwargs)

    monkeypatch.setattr(build, "report_for_config", measuring)
    report = report_from_topics(settings, load_report_config(HERE / "testdata" / "forewarn.yaml")).to_json()
    assert report["inputs"]["events"] == events
    assert at_first_event[0] < events, "every usage event was read before the report saw the first one"
    assert all(c.closed for c in spy.instances)


def test_a_bad_decision_stops_the_read_and_closes_its_consumer(settings, spy):
    from interventions.measurement.errors import HistoryError

    ensure_topics(settings)
    producer = RecordProducer(settings)
    producer.produce_many(settings.topics.intervention_decisions, [(b"a", b"not json")])
    producer.flush()
    with pytest.raises(HistoryError, match="offset 0: not JSON"):
        report_from_topics(settings, load_report_config(HERE / "testdata" / "forewarn.yaml"))
    assert spy.instances and all(c.closed for c in spy.instances)
