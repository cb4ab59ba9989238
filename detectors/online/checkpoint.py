"""Checkpoints of a partition's drop-off model: signed, versioned, refused when anything is off.

A checkpoint holds everything the partition's detector knows (profiles,
scorer memory, episodes, the River model and the learned threshold) with the
partition's applied offset, so a worker that takes the partition over — after
a restart or a rebalance — carries on exactly where the last one stopped.

River models are Python objects, and unpickling bytes runs whatever they say,
so bytes are never unpickled before they are proven to be ours: the whole
blob is signed with HMAC-SHA256 under a key from the settings, and the
signature is checked (in constant time) first. Then the header must match:
format, River version (River ≥ 0.25 pickles do not load across versions),
and the fingerprint of the model's configuration (a changed config means a
new model). Anything else raises :class:`CheckpointRefused` with a reason;
:func:`restore_or_cold` turns that into a cold start and counts it, so the
live runtime can export the count as a metric.

Layout: ``MAGIC | u32 header length | header (JSON) | payload (pickle) | HMAC-SHA256``.

>>> codec = CheckpointCodec(b"0123456789abcdef-test-key")
>>> blob = codec.dumps({"weights": [1, 2]}, partition=3, offset=41, fingerprint="f1")
>>> codec.loads(blob, fingerprint="f1").payload
{'weights': [1, 2]}
>>> tampered = blob[:-40] + bytes([blob[-40] ^ 1]) + blob[-39:]
>>> codec.loads(tampered, fingerprint="f1")
Traceback (most recent call last):
...
detectors.online.errors.CheckpointRefused: checkpoint of partition 3 at offset 41 failed its integrity check (HMAC-SHA256 mismatch): refusing to load it; the model restarts cold
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import struct
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import river

from detectors.online.errors import CheckpointRefused, OnlineModelError

if TYPE_CHECKING:
    from detectors.online.detector import DropOffDetector

__all__ = ["CheckpointCodec", "Checkpoint", "ColdRestarts", "restore_or_cold", "save_detector", "restore_detector",
           "fingerprint", "MIN_KEY_BYTES"]

MAGIC = b"FWDROP1\n"
FORMAT = 1
MIN_KEY_BYTES = 16
_MAC = 32
_LEN = struct.Struct(">I")


def fingerprint(config: Any) -> str:
    """A short stable digest of a JSON-ready configuration."""
    return hashlib.sha256(orjson.dumps(config, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A verified checkpoint: where it was taken and what it holds."""

    partition: int
    offset: int
    river_version: str
    fingerprint: str
    payload: Any


class CheckpointCodec:
    """Signs and verifies checkpoints with one HMAC key (at least 16 bytes; keep it secret)."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise OnlineModelError(
                f"model checkpoint key must be at least {MIN_KEY_BYTES} bytes; "
                "set FOREWARN_MODEL_CHECKPOINT_KEY to a long random secret")
        self._key = key

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def dumps(self, payload: Any, *, partition: int, offset: int, fingerprint: str) -> bytes:
        header = orjson.dumps({"format": FORMAT, "partition": partition, "offset": offset,
                               "river": river.__version__, "fingerprint": fingerprint})
        body = MAGIC + _LEN.pack(len(header)) + header + pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        return body + self._mac(body)

    def loads(self, blob: bytes, *, fingerprint: str) -> Checkpoint:
        """Verify ``blob`` and only then unpickle it; raise :class:`CheckpointRefused` otherwise."""
        blob = bytes(blob)
        where = _describe(blob)
        if len(blob) < len(MAGIC) + _LEN.size + _MAC or not blob.startswith(MAGIC):
            raise CheckpointRefused(f"checkpoint {where} is not a Forewarn model checkpoint "
                                    "(bad magic or truncated); the model restarts cold", "format")
        body, mac = blob[:-_MAC], blob[-_MAC:]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise CheckpointRefused(f"checkpoint {where} failed its integrity check (HMAC-SHA256 mismatch): "
                                    "refusing to load it; the model restarts cold", "integrity")
        (n,) = _LEN.unpack_from(body, len(MAGIC))
        start = len(MAGIC) + _LEN.size
        header = orjson.loads(body[start:start + n])
        if header.get("format") != FORMAT:
            raise CheckpointRefused(f"checkpoint {where} has format {header.get('format')!r}; this version "
                                    f"reads {FORMAT}; the model restarts cold", "format")
        if header.get("river") != river.__version__:
            raise CheckpointRefused(f"checkpoint {where} was written with River {header.get('river')}, this "
                                    f"worker runs River {river.__version__} (pickles do not carry over); "
                                    "the model restarts cold", "version")
        if header.get("fingerprint") != fingerprint:
            raise CheckpointRefused(f"checkpoint {where} belongs to another model configuration "
                                    f"({header.get('fingerprint')} != {fingerprint}); the model restarts cold",
                                    "config_changed")
        payload = pickle.loads(body[start + n:])  # authenticated above: these are our own bytes
        return Checkpoint(int(header["partition"]), int(header["offset"]), header["river"],
                          header["fingerprint"], payload)


def _describe(blob: bytes) -> str:
    """'of partition P at offset O' from the header, read without trusting it (for messages only)."""
    try:
        (n,) = _LEN.unpack_from(blob, len(MAGIC))
        header = orjson.loads(blob[len(MAGIC) + _LEN.size:len(MAGIC) + _LEN.size + n])
        return f"of partition {int(header['partition'])} at offset {int(header['offset'])}"
    except Exception:  # noqa: BLE001 - a message helper: any garbage just gets a vaguer message
        return "(unreadable header)"


class ColdRestarts:
    """How often a model started cold instead of from its checkpoint, by reason (metric source).

    >>> c = ColdRestarts(); c.count("integrity"); c.total, c.by_reason["integrity"]
    (1, 1)
    """

    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()

    def count(self, reason: str) -> None:
        self.by_reason[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())


def restore_or_cold(blob: bytes | None, codec: CheckpointCodec, fingerprint: str,
                    cold_restarts: ColdRestarts) -> tuple[Checkpoint | None, CheckpointRefused | None]:
    """The verified checkpoint, or (None, why) after counting a cold restart; (None, None) when there is none."""
    if blob is None:
        return None, None
    try:
        return codec.loads(blob, fingerprint=fingerprint), None
    except CheckpointRefused as refused:
        cold_restarts.count(refused.reason)
        return None, refused


def save_detector(detector: "DropOffDetector", codec: CheckpointCodec, *, partition: int, fingerprint: str) -> bytes:
    """A signed checkpoint of ``detector`` at its applied offset."""
    return codec.dumps(detector.snapshot(), partition=partition, offset=detector.applied_offset,
                       fingerprint=fingerprint)


def restore_detector(detector: "DropOffDetector", blob: bytes | None, codec: CheckpointCodec, *, partition: int,
                     fingerprint: str, cold_restarts: ColdRestarts) -> CheckpointRefused | None:
    """Load ``blob`` into ``detector`` (a cold one); on refusal leave it cold, count it and return why."""
    checkpoint, refused = restore_or_cold(blob, codec, fingerprint, cold_restarts)
    if checkpoint is None:
        return refused
    if checkpoint.partition != partition:
        refused = CheckpointRefused(f"checkpoint of partition {checkpoint.partition} offered to partition "
                                    f"{partition}; the model restarts cold", "partition")
        cold_restarts.count(refused.reason)
        return refused
    detector.restore(checkpoint.payload)
    return None
