"""``forewarn backtest`` and ``forewarn check-config`` end to end, and the parser fast path against the contract."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from forewarn.cli import build_app
from schemas import event as event_module
from schemas.event import Event, parse_event
from schemas.firing import Firing, firing_sort_key

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "detectors"))
from event_factory import DEFAULT_CONFIG, arrival_order, population  # noqa: E402
from seed_oracle import seed_firings  # noqa: E402

from schemas.event import event_to_json  # noqa: E402
from schemas.timefmt import format_rfc3339  # noqa: E402

BAD_CONFIG = Path(__file__).resolve().parents[2] / "detectors" / "testdata" / "config" / "bad" / "unknown_kind.yaml"


def _write_events(path: Path, events, extra_lines=()):
    with path.open("wb") as fh:
        for e in events:
            fh.write(event_to_json(e) + b"\n")
        for line in extra_lines:
            fh.write(line + b"\n")


def _invoke(*args):
    return CliRunner(env={"COLUMNS": "240"}).invoke(build_app(), list(args), catch_exceptions=False)


def test_backtest_writes_the_oracle_firings_sorted_and_counts_what_it_skipped(tmp_path):
    events = arrival_order(population(5, accounts=6), 5, duplicates=0.05)
    junk = [b"not json", b"[1, 2]", b'{"event_id": "x"}',
            b'{"event_id":"e","account_id":"a","type":"x","occurred_at":"2026-01-05T10:00:00"}', b""]
    src = tmp_path / "events.jsonl"
    _write_events(src, events, junk)
    out = tmp_path / "firings.jsonl"
    result = _invoke("backtest", str(src), "--out", str(out), "--config", str(DEFAULT_CONFIG), "--no-progress")
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    firings = [Firing.from_json(o) for o in lines]
    until = max(e.ts for e in events)
    assert {(f.account_id, f.trigger, f.fired_at) for f in firings} == seed_firings(events, until)
    assert firings == sorted(firings, key=firing_sort_key)
    assert all(set(o) == {"firing_id", "trigger", "account_id", "fired_at", "evidence"} for o in lines)
    assert all(o["firing_id"] == f.firing_id for o, f in zip(lines, firings))
    for reason in ("invalid_json", "not_an_object", "missing_field", "naive_timestamp", "blank_line"):
        assert f"skipped: {reason}" in result.output
    assert "duplicates dropped" in result.output
    assert "power_user_gone_quiet" in result.output


def test_until_cuts_the_replay(tmp_path):
    events = population(9, accounts=6)
    cut = events[len(events) // 2].ts
    src, out = tmp_path / "events.jsonl", tmp_path / "f.jsonl"
    _write_events(src, events)
    result = _invoke("backtest", str(src), "--out", str(out), "--until", format_rfc3339(cut),
                     "--config", str(DEFAULT_CONFIG), "--no-progress")
    assert result.exit_code == 0, result.output
    firings = [Firing.from_json(orjson.loads(line)) for line in out.read_bytes().splitlines()]
    head = [e for e in events if e.ts <= cut]
    assert {(f.account_id, f.trigger, f.fired_at) for f in firings} == seed_firings(head, cut)
    assert all(f.fired_at <= cut for f in firings)
    assert "skipped: after_until" in result.output


def test_backtest_refuses_what_it_cannot_run(tmp_path):
    with pytest.raises(Exception) as err:
        _invoke("backtest", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o"),
                "--config", str(DEFAULT_CONFIG), "--no-progress")
    assert "no such file" in str(err.value)
    src = tmp_path / "e.jsonl"
    src.write_text("")
    with pytest.raises(Exception) as err:
        _invoke("backtest", str(src), "--out", str(tmp_path / "o"), "--until", "yesterday",
                "--config", str(DEFAULT_CONFIG))
    assert "--until 'yesterday'" in str(err.value)


def test_check_config_prints_the_tables_and_fails_with_the_position():
    good = _invoke("check-config", str(DEFAULT_CONFIG))
    assert good.exit_code == 0
    assert "payment_outreach" in good.output and "ok:" in good.output
    with pytest.raises(Exception) as err:
        _invoke("check-config", str(BAD_CONFIG))
    assert str(err.value).startswith(f"{BAD_CONFIG}:10:11: triggers.stalled.kind: unknown trigger kind")


def test_the_cli_exits_1_with_one_line_on_a_bad_config(tmp_path):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "forewarn.cli", "check-config", str(BAD_CONFIG)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {BAD_CONFIG}:10:11: triggers.stalled.kind: unknown trigger kind 'absense'; did you mean "
        "'absence'? (known kinds: absence, count, habit_silence, usage_drop)"]


# -- the parser fast path ---------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_values = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), _text, st.just({}), st.just([]))
_valid_stamps = st.builds(
    lambda y, mo, d, h, mi, s, frac: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}Z",
    st.integers(1970, 2100), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
    st.integers(0, 59), st.sampled_from(["", ".5", ".25", ".123", ".1234", ".12345", ".123456"]))
def _replace_field(stamp: str, field: int, value: str) -> str:
    # field: 0 year, 1 month, 2 day, 3 hour, 4 minute, 5 second
    spans = [(0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19)]
    a, b = spans[field]
    return stamp[:a] + value + stamp[b:]


_near_stamps = st.one_of(
    # one field out of range (or a leap day that is not one)
    st.builds(_replace_field, _valid_stamps, st.integers(1, 5),
              st.sampled_from(["00", "13", "24", "29", "30", "31", "32", "59", "60", "61", "99"])),
    # one character swapped for a look-alike: non-ASCII digits, wrong separators
    st.builds(lambda base, i, ch: base[:i % (len(base) - 1)] + ch + base[i % (len(base) - 1) + 1:],
              _valid_stamps, st.integers(0, 30),
              st.sampled_from(["٣", "２", "t", " ", "x", "-", ":", "+", "_", "."])),
    # a different ending
    st.builds(lambda base, tail: base[:-1] + tail, _valid_stamps,
              st.sampled_from(["z", "+01:00", "-00:00", "", "ZZ", " Z", ".Z", "1234567Z", ".1234567Z", "aZ", "0Z"])),
    _text,
)


@st.composite
def _lines(draw):
    """A valid event, then 0-2 targeted breakages: many lines valid, the rest invalid in one small way."""
    obj = {
        "event_id": draw(st.text("abc.-_0123456789", min_size=1, max_size=30)),
        "account_id": draw(st.text("acct-0123456789", min_size=1, max_size=20)),
        "type": draw(st.sampled_from(["feature.used", "session.started", "a", "a.b_c.d2"])),
        "occurred_at": draw(_valid_stamps),
    }
    if draw(st.booleans()):
        obj["user_id"] = draw(st.one_of(st.none(), st.text(max_size=5)))
    if draw(st.booleans()):
        obj["properties"] = draw(st.sampled_from([{}, {"feature": "reports"}, {"n": 1}]))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["value", "drop", "extra", "stamp", "stamp", "stamp", "id", "type"]))
        if kind == "value":
            obj[draw(st.sampled_from(sorted(obj)))] = draw(_values)
        elif kind == "drop":
            obj.pop(draw(st.sampled_from(sorted(obj))), None)
        elif kind == "extra":
            obj[draw(st.sampled_from(["colour", "specversion", "data", "time", "id"]))] = draw(_values)
        elif kind == "stamp":
            obj["occurred_at"] = draw(_near_stamps)
        elif kind == "id":
            obj[draw(st.sampled_from(["event_id", "account_id"]))] = draw(st.sampled_from(["", "x" * 128, "x" * 129]))
        else:
            obj["type"] = draw(st.sampled_from(["Feature.used", "a.", "a\n", "a..b", "1a", "a b", "é.x", ""]))
    return orjson.dumps(obj)


def _reference(line):
    return event_module._parse_reference(line)


@settings(max_examples=3000, deadline=None)
@given(line=_lines())
def test_the_fast_path_agrees_with_the_reference_parser(line):
    assert parse_event(line) == _reference(line)


def test_the_fast_path_takes_the_common_shapes(monkeypatch):
    common = [
        b'{"event_id":"a.1","account_id":"a","type":"session.started","occurred_at":"2026-01-01T00:00:13Z",'
        b'"user_id":"u"}',
        b'{"event_id":"a.2","account_id":"a","type":"feature.used","occurred_at":"2026-01-01T00:00:13.25Z",'
        b'"properties":{"feature":"reports"},"user_id":null}',
    ]
    expected = [_reference(line) for line in common]
    monkeypatch.setattr(event_module, "_parse_reference", lambda raw: pytest.fail(f"slow path for {raw!r}"))
    assert [parse_event(line) for line in common] == expected


_VALID_STAMPS = ["2026-01-05T10:00:00Z", "2026-01-05T10:00:00.5Z", "2026-01-05T10:00:00.123456Z",
                 "2024-02-29T23:59:59.999999Z", "1970-01-01T00:00:00Z", "2100-12-31T23:59:59Z", "1000-01-01T00:00:00Z"]
_TRICKY_STAMPS = [
    "2026-01-05T10:00:60Z", "2026-01-05T10:00:61Z", "2026-01-05T10:60:00Z", "2026-01-05T24:00:00Z",
    "2026-13-05T10:00:00Z", "2026-00-05T10:00:00Z", "2026-01-32T10:00:00Z", "2026-01-00T10:00:00Z",
    "2026-02-29T10:00:00Z", "2026-01-05T10:00:0٣Z", "2026-01-05T10:0٣:00Z", "2026-01-05T1٣:00:00Z",
    "2026-01-0٣T10:00:00Z", "２026-01-05T10:00:00Z", "2026-01-05T10:00:00.1٣Z", "2026-01-05T10:00:00.٣Z",
    "2026-01-05T10x00:00Z", "2026-01-05T10:00x00Z", "2026-01-05T10:00:00x5Z", "2026-01-05x10:00:00Z",
    "2026x01-05T10:00:00Z", "2026-01-05t10:00:00Z", "2026-01-05T10:00:00z", "2026-01-05 10:00:00Z",
    "2026-01-05T10:00:00.Z", "2026-01-05T10:00:00.1234567Z", "2026-01-05T10:00:00.123456789Z",
    "2026-01-05T10:00:00+00:00", "2026-01-05T10:00:00", "2026-01-05T10:00Z", "2026-01-05T10:00:+0Z",
    "2026-01-05T10:00: 1Z", "2026-01-05T10:00:1_Z", "+026-01-05T10:00:00Z", "2026-01-05T10:00:00.+1Z",
    # outside the UTC years 1000-8999 (a deadline computed from them would not be a date)
    "0001-01-01T00:00:00Z", "0999-12-31T23:59:59Z", "9000-01-01T00:00:00Z", "0001-01-01T00:10:00+01:00",
    "9999-12-31T23:30:00-01:00",
]


@pytest.mark.parametrize("stamp", _VALID_STAMPS + _TRICKY_STAMPS)
def test_tricky_timestamps_agree_with_the_reference_parser(stamp, monkeypatch):
    line = orjson.dumps({"event_id": "e", "account_id": "a", "type": "x", "occurred_at": stamp})
    expected = _reference(line)
    assert parse_event(line) == expected
    if stamp in _VALID_STAMPS:
        assert isinstance(expected, Event)
        monkeypatch.setattr(event_module, "_parse_reference", lambda raw: pytest.fail("the common shape must take the fast path"))
        assert parse_event(line) == expected


# -- sharded replay ----------------------------------------------------------------------

from detectors.online.runner import partition_of  # noqa: E402
from forewarn.commands.backtest import BacktestError, run_backtest  # noqa: E402
from streams.config import load_config  # noqa: E402


def _sharded_input(path: Path, seed: int) -> list[bytes]:
    """Many accounts, duplicates, out-of-order and too-late events, junk, and lines whose account
    is not written plainly (escaped, spaced, nested, CloudEvents), in one file."""
    events = arrival_order(population(seed, accounts=24, days=40), seed, duplicates=0.05)
    lines = [event_to_json(e) for e in events]
    # too late: early events of several accounts re-sent (new ids) after the watermark has passed them
    late = [event_to_json(Event(f"late-{i}", e.account_id, e.type, e.ts, None, e.properties))
            for i, e in enumerate(events[:40:3])]
    odd = [
        b'{"event_id":"sp-1", "account_id" : "acct-sp", "type":"session.started","occurred_at":"2026-01-06T10:00:00Z"}',
        b'{"event_id":"esc-1","account_id":"acct-\\u0065sc","type":"session.started","occurred_at":"2026-01-06T10:00:00Z"}',
        b'{"event_id":"n-1","account_id":"acct-n","type":"feature.used","occurred_at":"2026-01-06T10:00:00Z",'
        b'"properties":{"account_id":"someone-else"}}',
        b'{"specversion":"1.0","id":"ce-1","source":"/x","type":"session.started","time":"2026-01-06T10:00:00Z",'
        b'"subject":"acct-ce","data":{}}',
        b"", b"   ", b"not json", b'{"account_id":"acct-x"}',
    ]
    body = lines[: len(lines) // 2] + odd + lines[len(lines) // 2:] + late + odd[4:]
    path.write_bytes(b"\n".join(body) + b"\n")
    return body


def _outcome(report):
    return (b"".join(orjson.dumps(f.to_json()) + b"\n" for f in report.firings), report.lines, report.events,
            report.duplicates, dict(report.skipped), report.until_us)


@pytest.mark.parametrize("workers", [2, 3])
def test_sharded_replay_gives_the_single_process_result_byte_for_byte(tmp_path, workers):
    src = tmp_path / "events.jsonl"
    _sharded_input(src, seed=11)
    config = load_config(DEFAULT_CONFIG)
    one = run_backtest(src, config, chunk_bytes=16 << 10, workers=1)
    many = run_backtest(src, config, chunk_bytes=16 << 10, workers=workers)
    assert many.workers == workers, "the sharded run fell back to one process"
    assert one.skipped["late"] > 0 and one.duplicates > 0 and one.firings
    assert {"invalid_json", "blank_line", "missing_field"} <= set(one.skipped)
    assert _outcome(many) == _outcome(one)
    cut = sorted(f.fired_at for f in one.firings)[len(one.firings) // 2]
    assert _outcome(run_backtest(src, config, chunk_bytes=16 << 10, workers=workers, until_us=cut)) == \
        _outcome(run_backtest(src, config, chunk_bytes=16 << 10, workers=1, until_us=cut))


def test_the_partition_count_reaches_the_models_and_sharding_still_gives_the_same_bytes(tmp_path):
    """The k8s topics have 12 partitions: usage_drop models are per partition, so the backtest must use
    the live count; shards own whole partitions of that count."""
    from detectors.online.runner import UsageDropRunner

    src = tmp_path / "events.jsonl"
    _sharded_input(src, seed=13)
    config = load_config(DEFAULT_CONFIG)
    one = run_backtest(src, config, chunk_bytes=16 << 10, workers=1, partitions=12)
    many = run_backtest(src, config, chunk_bytes=16 << 10, workers=3, partitions=12)
    assert many.workers == 3, "the sharded run fell back to one process"
    assert _outcome(many) == _outcome(one)
    seen: list = []
    original = UsageDropRunner.from_config.__func__

    def spy(cls, cfg, partitions=4):
        seen.append(partitions)
        return original(cls, cfg, partitions=partitions)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(UsageDropRunner, "from_config", classmethod(spy))
        run_backtest(src, config, chunk_bytes=16 << 10, workers=1, partitions=12)
    assert seen == [12]
    with pytest.raises(BacktestError, match="--partitions 0"):
        run_backtest(src, config, partitions=0)


def test_a_line_whose_bytes_name_another_shards_account_replays_in_one_process(tmp_path):
    src = tmp_path / "events.jsonl"
    body = _sharded_input(src, seed=12)
    real, other = "acct-real", next(f"acct-{i}" for i in range(100)
                                     if partition_of(f"acct-{i}", 4) % 2 != partition_of("acct-real", 4) % 2)
    trap = (b'{"event_id":"trap","account\\u005fid":"' + real.encode() + b'","type":"account.onboarded",'
            b'"occurred_at":"2026-01-06T10:00:00Z","properties":{"account_id":"' + other.encode() + b'"}}')
    src.write_bytes(b"\n".join([trap] + body) + b"\n")
    config = load_config(DEFAULT_CONFIG)
    one = run_backtest(src, config, chunk_bytes=16 << 10, workers=1)
    fallback = run_backtest(src, config, chunk_bytes=16 << 10, workers=2)
    assert fallback.workers == 1
    assert _outcome(fallback) == _outcome(one)
    assert any(f.account_id == real and f.trigger == "onboarding_stalled" for f in one.firings)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [2, 3])
def test_a_shard_that_fails_mid_run_fails_the_backtest_with_its_traceback_and_nothing_hangs(tmp_path, monkeypatch,
                                                                                           workers):
    """Shards parse a chunk ahead and send from a thread: a shard dying half-way must still end every
    other shard (its peers see the closed pipe) and the run must say which worker failed and why."""
    from forewarn.commands import backtest

    src = tmp_path / "events.jsonl"
    _sharded_input(src, seed=11)
    real_apply = backtest._Shard.apply
    applied: list[int] = []

    def apply_then_fail(self, own, others):
        if self.shard == workers - 1:
            applied.append(1)
            if len(applied) == 3:
                raise ValueError("shard broke on its third chunk")
        return real_apply(self, own, others)

    monkeypatch.setattr(backtest._Shard, "apply", apply_then_fail)  # the children are forked: they have it too
    with pytest.raises(RuntimeError, match="shard broke on its third chunk"):
        run_backtest(src, load_config(DEFAULT_CONFIG), chunk_bytes=16 << 10, workers=workers)
