"""``forewarn report --from-kafka``: the same report from the topics as from the files they were written from."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from measurement_synth import World, generate, write_files

from forewarn.report.build import load_report_config, report_from_files, report_from_topics
from streams.producer import RecordProducer, account_key
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


def test_topics_and_files_give_the_same_report(settings, tmp_path):
    world = World(accounts=200, seed=8)
    decisions, events = generate(world)
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

    config = load_report_config(HERE / "testdata" / "forewarn.yaml")
    from_files = report_from_files(ev_path, dec_path, config, tmp_path / "receipts.jsonl").to_json()
    from_topics = report_from_topics(settings, config).to_json()
    assert from_topics["triggers"] == from_files["triggers"]
    assert from_topics["retention"] == from_files["retention"]
    assert from_topics["roi"] == from_files["roi"]
    assert from_topics["inputs"]["events"] == len(events)
    assert from_topics["triggers"][0]["delivery"]["delivered"] == 50
