"""Checkpoint → kill → restore gives the same scores as an uninterrupted run; tampered bytes are refused."""

from __future__ import annotations

import hashlib
import hmac
import pickle

import orjson
import pytest
import river

from detectors.online.checkpoint import (
    MAGIC,
    CheckpointCodec,
    ColdRestarts,
    restore_detector,
    save_detector,
)
from detectors.online.errors import CheckpointRefused, OnlineModelError
from online_streams import DAY, T0_DAY, noisy_arrival, population, small_detector

KEY = b"test-key-0123456789abcdef"
FP = "fingerprint-1"
SILENT = "acct-013"


@pytest.fixture(scope="module")
def arrivals():
    events = population(21, accounts=40, days=100, silent={SILENT: 70})
    return noisy_arrival(events, 21)


def _recorder(log):
    return lambda aid, day, x, score, fired: log.append((aid, day, score, fired))


@pytest.mark.parametrize("scorer", ["drop_z", "rate_drop"])
def test_restore_continues_exactly_like_an_uninterrupted_run(arrivals, scorer):
    until = (T0_DAY + 100) * DAY
    offsets = list(range(len(arrivals)))
    cut = len(arrivals) * 3 // 5

    straight_log: list = []
    straight = small_detector(on_day=_recorder(straight_log), scorer=scorer)
    straight_fired = straight.process(arrivals, offsets) + straight.advance_to(until)

    first_log: list = []
    first = small_detector(on_day=_recorder(first_log), scorer=scorer)
    fired = first.process(arrivals[:cut], offsets[:cut])
    blob = save_detector(first, CheckpointCodec(KEY), partition=2, fingerprint=FP)
    del first  # the worker dies here

    second_log: list = []
    second = small_detector(on_day=_recorder(second_log), scorer=scorer)
    refused = restore_detector(second, blob, CheckpointCodec(KEY), partition=2, fingerprint=FP,
                               cold_restarts=ColdRestarts())
    assert refused is None and second.applied_offset == cut - 1
    # the new owner is handed the partition from a little before the checkpoint: a redelivery
    redelivered = cut - 50
    fired += second.process(arrivals[redelivered:], offsets[redelivered:]) + second.advance_to(until)

    assert second.counts.replayed == 50
    assert first_log + second_log == straight_log
    assert [f.to_json() for f in fired] == [f.to_json() for f in straight_fired]
    assert any(f.account_id == SILENT for f in fired), "the silent account should fire after the restore"
    assert second.snapshot()["accounts"] == straight.snapshot()["accounts"]


def _good_blob(arrivals):
    det = small_detector()
    det.process(arrivals[:5000], list(range(5000)))
    return save_detector(det, CheckpointCodec(KEY), partition=1, fingerprint=FP)


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1:]


@pytest.mark.parametrize("where", ["header", "payload", "mac"])
def test_tampered_bytes_are_refused_with_a_clear_error_and_the_model_restarts_cold(arrivals, where):
    blob = _good_blob(arrivals)
    at = {"header": len(MAGIC) + 8, "payload": len(blob) // 2, "mac": len(blob) - 1}[where]
    bad = _flip(blob, at)
    with pytest.raises(CheckpointRefused, match="integrity check") as info:
        CheckpointCodec(KEY).loads(bad, fingerprint=FP)
    assert info.value.reason == "integrity"

    cold = small_detector()
    counter = ColdRestarts()
    refused = restore_detector(cold, bad, CheckpointCodec(KEY), partition=1, fingerprint=FP, cold_restarts=counter)
    assert isinstance(refused, CheckpointRefused) and "restarts cold" in str(refused)
    assert counter.by_reason == {"integrity": 1}
    assert cold.accounts == {} and cold.applied_offset == -1 and cold.closed_through is None


class _Exploit:
    """A payload that would run code if it were ever unpickled."""

    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Exploit.ran = True
    return "owned"


def test_a_forged_checkpoint_is_never_executed(arrivals):
    header = orjson.dumps({"format": 1, "partition": 1, "offset": 9, "river": river.__version__, "fingerprint": FP})
    body = MAGIC + len(header).to_bytes(4, "big") + header + pickle.dumps(_Exploit())
    forged = body + hmac.new(b"attacker-key-0123456789", body, hashlib.sha256).digest()
    counter = ColdRestarts()
    cold = small_detector()
    refused = restore_detector(cold, forged, CheckpointCodec(KEY), partition=1, fingerprint=FP, cold_restarts=counter)
    assert refused is not None and refused.reason == "integrity"
    assert _Exploit.ran is False
    assert counter.total == 1
    # the same bytes signed with the right key would run: the check above is what stops them
    signed = body + hmac.new(KEY, body, hashlib.sha256).digest()
    assert CheckpointCodec(KEY).loads(signed, fingerprint=FP).payload == "owned" and _Exploit.ran
    _Exploit.ran = False


def test_other_keys_versions_configurations_and_partitions_start_cold(arrivals):
    blob = _good_blob(arrivals)
    counter = ColdRestarts()

    def attempt(codec, data, partition=1, fp=FP):
        return restore_detector(small_detector(), data, codec, partition=partition, fingerprint=fp,
                                cold_restarts=counter)

    assert attempt(CheckpointCodec(b"another-key-0123456789"), blob).reason == "integrity"
    assert attempt(CheckpointCodec(KEY), blob, fp="changed-config").reason == "config_changed"
    assert attempt(CheckpointCodec(KEY), blob, partition=2).reason == "partition"
    assert attempt(CheckpointCodec(KEY), blob[:20]).reason == "format"
    # a checkpoint written by another River version, correctly signed, is still refused
    start = len(MAGIC) + 4
    n = int.from_bytes(blob[len(MAGIC):start], "big")
    header = orjson.loads(blob[start:start + n])
    header["river"] = "0.21.0"
    new_header = orjson.dumps(header)
    body = MAGIC + len(new_header).to_bytes(4, "big") + new_header + blob[start + n:-32]
    old = body + hmac.new(KEY, body, hashlib.sha256).digest()
    refused = attempt(CheckpointCodec(KEY), old)
    assert refused.reason == "version" and "0.21.0" in str(refused)
    assert attempt(CheckpointCodec(KEY), None) is None  # no checkpoint yet: a cold start, not a refusal
    assert counter.by_reason == {"integrity": 1, "config_changed": 1, "partition": 1, "format": 1, "version": 1}


def test_a_short_key_is_a_configuration_error():
    with pytest.raises(OnlineModelError, match="at least 16 bytes"):
        CheckpointCodec(b"short")
