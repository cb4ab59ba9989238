"""An event dated far ahead of the worker's clock (a producer with a wrong clock or year) is dead-lettered
with reason ``future``: it must not move the watermark past every deadline at once."""

from __future__ import annotations

import time
from collections import namedtuple

import pytest
from prometheus_client import CollectorRegistry

from schemas.event import Event, event_to_json
from schemas.timefmt import US_PER_DAY, US_PER_SECOND
from streams.app import Runtimes
from streams.readback import read_topic
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

Rec = namedtuple("Rec", "key value offset")


def _records(events: list[Event]) -> list[Rec]:
    return [Rec(e.account_id.encode(), event_to_json(e), i) for i, e in enumerate(events)]


@pytest.mark.parametrize("lead_s,refused", [(86_400.0, True), (0.0, False)])
def test_an_event_years_ahead_is_dead_lettered_and_moves_nothing(settings, lead_s, refused):
    s = settings.model_copy(update={"idle_advance": False, "max_event_lead_s": lead_s})
    ensure_topics(s)
    now = int(time.time() * US_PER_SECOND)
    day0 = now - 30 * US_PER_DAY
    events = [Event("on-1", "acct-1", "account.onboarded", day0),
              Event("s-1", "acct-1", "session.started", day0 + US_PER_DAY),
              Event("typo-year", "acct-2", "session.started", now + 3 * 365 * US_PER_DAY),
              Event("s-2", "acct-1", "session.started", day0 + 2 * US_PER_DAY)]
    registry = CollectorRegistry()
    runtimes = Runtimes(s, registry)
    result = runtimes.detect.handle_chunk(0, _records(events))
    lateness = runtimes.detect.engine.allowed_lateness_us
    future = registry.get_sample_value("forewarn_events_invalid_total", {"reason": "future"})
    fired = [f.trigger for f in result.firings]
    if refused:
        assert future == 1
        assert result.watermark == day0 + 2 * US_PER_DAY - lateness, "the future event moved the watermark"
        assert fired == [], "a deadline fired because of the future event"
        dlq = read_topic(s, s.topics.usage_events_dlq, timeout=30)
        assert [(r.headers["reason"], r.headers["source-offset"]) for r in dlq] == [(b"future", b"2")]
        assert dlq[0].value == event_to_json(events[2])
    else:  # no limit: the one event jumps the watermark years ahead and the onboarding deadline fires
        assert future == 0
        assert result.watermark == events[2].ts - lateness
        assert "onboarding_stalled" in fired
