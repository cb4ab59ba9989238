"""The live outcome worker's state in Redis: one partition record + one blob per account, one script.

Keys come from :class:`streams.keys.PartitionKeys` in the namespace ``out:<usage-events topic>``,
hash-tagged by partition (events and decisions of partition ``p`` are keyed by account, so an account's
outcome state lives with partition ``p``):

* ``record`` (string, JSON, no TTL): the applied offset of each topic (``ev``, ``dec``), the largest
  event time seen (``max_ts``), the watermark (``wm``), a write counter (``n``) and the cumulative
  ``counts`` of closed windows per trigger and arm (``[closed, successes]``). It is the partition's
  progress and what a write compares (compare-and-set by value; ``n`` makes every write distinct).
* ``account(id)`` (string, JSON): the open windows of the account's decisions, the successes held
  until their window closes, the recent success events remembered for decisions that arrive after
  them, and the firing ids already claimed. Its lifetime is a matter of *event* time: the worker
  deletes it once the watermark has passed everything in it (:meth:`AccountOutcome.wake`). The
  wall-clock TTL ``ttl_ms`` is only a safety net for keys no worker will load again (a partition that
  never moves again, a namespace nobody runs any more); the worker sets it long enough that an outage
  of weeks loses nothing (``streams.outcome_worker.OUTAGE_MARGIN_US``).
* ``wakes`` (sorted set, no TTL): account → the watermark at which the worker must load it again
  (:meth:`AccountOutcome.wake`: a window that closes, a held success that may be counted, or the
  point where everything it remembers is forgotten and the account is deleted); members leave with
  their account.

Everything one chunk changes is written by ``outcome_apply.lua`` in one step, offsets included, so a
redelivered record (offset at or below the stored one) is skipped and a crash never counts twice.

>>> st = AccountOutcome()
>>> st.held.append(("payment_failing", "treated", 50)); st.claims["f1"] = 90
>>> decode_account("acct-1", encode_account(st)) == st, st.wake(lookback_us=10)
(True, 50)
>>> st.held.clear(); st.remembered.append((70, frozenset({"payment_failing"}))); st.wake(lookback_us=10)
101
>>> rec = PartitionOutcome(ev=3, dec=1, max_ts=100, wm=40, n=2)
>>> rec.count("payment_failing", "control", success=False); rec.count("payment_failing", "control", success=True)
>>> decode_record(encode_record(rec)) == rec, rec.counts
(True, {'payment_failing': {'control': [2, 1]}})
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files

import orjson

from interventions.measurement.decisions import DecisionRecord
from interventions.measurement.state import PendingOutcome
from streams.keys import PartitionKeys
from streams.stores.detector_redis import StaleOwner

__all__ = [
    "AccountOutcome",
    "BatchOutcomeState",
    "PartitionOutcome",
    "RedisOutcomeStore",
    "decode_account",
    "decode_record",
    "encode_account",
    "encode_record",
    "outcome_namespace",
]

_MGET_BATCH = 1000

_APPLY = files("streams.stores").joinpath("outcome_apply.lua").read_text()


def outcome_namespace(usage_events_topic: str) -> str:
    """The key namespace of the outcome worker on one usage-events topic.

    >>> PartitionKeys(outcome_namespace("usage-events"), 2).record
    'fw:{out:usage-events:2}:rec'
    """
    return f"out:{usage_events_topic}"


# -- one account ---------------------------------------------------------------------------------


@dataclass
class AccountOutcome:
    """What the outcome worker remembers of one account (all times event time, µs)."""

    pending: dict[str, PendingOutcome] = field(default_factory=dict)  # firing id -> open window
    held: list[tuple[str, str, int]] = field(default_factory=list)  # (trigger, arm, window_end): early successes
    remembered: list[tuple[int, frozenset[str]]] = field(default_factory=list)  # (ts, triggers met)
    claims: dict[str, int] = field(default_factory=dict)  # firing id -> claim expiry

    def is_blank(self) -> bool:
        return not (self.pending or self.held or self.remembered or self.claims)

    def wake(self, lookback_us: int) -> int | None:
        """The watermark at which the worker must load this account again; None when it is blank.

        The earliest open window's deadline or held success's window end if any; else the first
        watermark at which ``prune(watermark - lookback_us)`` forgets every remembered event and claim
        left, so the account is then deleted: its state lives as long as event time needs it, not
        as long as a wall-clock TTL.
        """
        due = [p.deadline for p in self.pending.values()] + [end for _, _, end in self.held]
        if due:
            return min(due)
        # prune(before) keeps ts >= before: the last one goes once watermark - lookback_us > it.
        kept = [ts for ts, _ in self.remembered] + list(self.claims.values())
        return max(kept) + lookback_us + 1 if kept else None

    def prune(self, before: int) -> None:
        """Forget what ``OutcomeState.expire(before)`` forgets: older remembered events, expired claims."""
        self.remembered = [r for r in self.remembered if r[0] >= before]
        self.claims = {f: e for f, e in self.claims.items() if e >= before}


def encode_account(st: AccountOutcome) -> bytes:
    return orjson.dumps({
        "p": [[p.decision.firing_id, p.decision.trigger, p.decision.intervention, p.decision.arm,
               p.decision.decided_at, p.deadline] for p in st.pending.values()],
        "h": [list(h) for h in st.held],
        "r": [[ts, sorted(t)] for ts, t in st.remembered],
        "c": st.claims,
    })


def decode_account(account_id: str, blob: bytes) -> AccountOutcome:
    d = orjson.loads(blob)
    pending = {fid: PendingOutcome(DecisionRecord(fid, account_id, trigger, intervention, arm, decided), deadline)
               for fid, trigger, intervention, arm, decided, deadline in d["p"]}
    return AccountOutcome(pending, [tuple(h) for h in d["h"]], [(ts, frozenset(t)) for ts, t in d["r"]],
                          dict(d["c"]))


# -- one partition -------------------------------------------------------------------------------


@dataclass
class PartitionOutcome:
    """The partition record: applied offsets, event time, write counter, cumulative counts."""

    ev: int = -1
    dec: int = -1
    max_ts: int | None = None
    wm: int | None = None
    n: int = 0
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # trigger -> arm -> [closed, successes]

    def count(self, trigger: str, arm: str, success: bool) -> None:
        c = self.counts.setdefault(trigger, {}).setdefault(arm, [0, 0])
        c[0] += 1
        c[1] += bool(success)


def encode_record(rec: PartitionOutcome) -> bytes:
    return orjson.dumps({"ev": rec.ev, "dec": rec.dec, "max_ts": rec.max_ts, "wm": rec.wm, "n": rec.n,
                         "counts": rec.counts}, option=orjson.OPT_SORT_KEYS)


def decode_record(blob: bytes) -> PartitionOutcome:
    d = orjson.loads(blob)
    return PartitionOutcome(d["ev"], d["dec"], d["max_ts"], d["wm"], d["n"], d["counts"])


# -- the tracker's state over the accounts one chunk loaded ----------------------------------------


class BatchOutcomeState:
    """:class:`~interventions.measurement.state.OutcomeState` over the accounts one chunk loaded from Redis.

    The worker loads every account the chunk can touch (those of its decisions and of its success
    events, and those with something due by the new watermark), so ``due`` only needs to look at
    them. ``claim`` is keyed by firing id alone: ``owners`` maps the chunk's firing ids to their
    accounts, whose state holds the claim.
    """

    def __init__(self, accounts: dict[str, AccountOutcome], owners: Mapping[str, str]):
        self.accounts = accounts
        self.owners = owners

    def account(self, account_id: str) -> AccountOutcome:
        """The loaded state of ``account_id`` (a blank one is added if none)."""
        st = self.accounts.get(account_id)
        if st is None:
            st = self.accounts[account_id] = AccountOutcome()
        return st

    def claim(self, firing_id: str, expires_at: int) -> bool:
        st = self.account(self.owners[firing_id])
        if firing_id in st.claims:
            return False
        st.claims[firing_id] = expires_at
        return True

    def add(self, pending: PendingOutcome) -> None:
        self.account(pending.decision.account_id).pending[pending.decision.firing_id] = pending

    def pending(self, account_id: str) -> list[PendingOutcome]:
        st = self.accounts.get(account_id)
        return list(st.pending.values()) if st else []

    def resolve(self, pending: PendingOutcome) -> None:
        st = self.accounts.get(pending.decision.account_id)
        if st is not None:
            st.pending.pop(pending.decision.firing_id, None)

    def due(self, watermark: int) -> list[PendingOutcome]:
        out = [p for st in self.accounts.values() for p in st.pending.values() if p.deadline <= watermark]
        out.sort(key=lambda p: (p.deadline, p.decision.account_id, p.decision.firing_id))
        for p in out:
            self.resolve(p)
        return out

    def drain(self) -> list[PendingOutcome]:
        out = [p for st in self.accounts.values() for p in st.pending.values()]
        for st in self.accounts.values():
            st.pending.clear()
        return out

    def remember(self, account_id: str, ts: int, triggers: frozenset[str]) -> None:
        st = self.account(account_id)
        if (ts, triggers) not in st.remembered:  # the same event twice is remembered once
            st.remembered.append((ts, triggers))

    def remembered(self, account_id: str) -> list[tuple[int, frozenset[str]]]:
        st = self.accounts.get(account_id)
        return list(st.remembered) if st else []

    def expire(self, before: int) -> None:
        for st in self.accounts.values():
            st.prune(before)


# -- Redis -----------------------------------------------------------------------------------------


class RedisOutcomeStore:
    """Outcome state of one namespace (``out:<usage-events topic>``) in Redis.

    ``read_record`` remembers the record's bytes per partition (the value the write compares);
    ``commit`` writes the new record, the changed accounts and their wake-up times in one script
    and raises :class:`StaleOwner` if another worker wrote the partition since it was read.
    """

    def __init__(self, client, namespace: str, ttl_ms: int):
        self.client = client
        self.namespace = namespace
        self.ttl_ms = ttl_ms
        self._apply = client.register_script(_APPLY)

    def keys(self, partition: int) -> PartitionKeys:
        return PartitionKeys(self.namespace, partition)

    def read_record(self, partition: int) -> tuple[bytes, PartitionOutcome]:
        """The partition record as stored (b'' when none) and decoded."""
        blob = self.client.get(self.keys(partition).record)
        return (blob, decode_record(blob)) if blob else (b"", PartitionOutcome())

    def read_records(self, partitions: Iterable[int]) -> dict[int, PartitionOutcome]:
        """Several partitions' records, one GET each in one pipeline (their keys live in different slots)."""
        parts = list(partitions)
        pipe = self.client.pipeline(transaction=False)
        for p in parts:
            pipe.get(self.keys(p).record)
        return {p: decode_record(b) for p, b in zip(parts, pipe.execute()) if b}

    def due_accounts(self, partition: int, watermark: int) -> list[str]:
        """Accounts with a window or a held success due at or before ``watermark``."""
        return [a.decode() for a in self.client.zrangebyscore(self.keys(partition).wakes, "-inf", watermark)]

    def read_accounts(self, partition: int, accounts: Collection[str]) -> dict[str, bytes]:
        """The stored blobs of ``accounts`` (missing ones left out)."""
        ids = list(accounts)
        keys = self.keys(partition)
        out: dict[str, bytes] = {}
        for start in range(0, len(ids), _MGET_BATCH):  # a watermark jump may make many accounts due
            part = ids[start:start + _MGET_BATCH]
            out.update((a, b) for a, b in zip(part, self.client.mget([keys.account(a) for a in part]))
                       if b is not None)
        return out

    def commit(self, partition: int, expected: bytes, record: bytes, puts: Mapping[str, bytes],
               deletes: Sequence[str], wakes: Mapping[str, int], unwakes: Sequence[str]) -> None:
        """Write the new record, ``puts`` (account → blob, each with the safety-net TTL ``ttl_ms``),
        ``deletes``, ``wakes`` (account → wake-up watermark) and ``unwakes`` in one step, or raise StaleOwner."""
        keys = self.keys(partition)
        args: list[object] = [expected, record, 0, keys.account_prefix, len(puts), len(deletes),
                              len(wakes), len(unwakes)]
        for a, blob in puts.items():
            args += (a, blob, self.ttl_ms)
        args += deletes
        for a, when in wakes.items():
            args += (a, when)
        args += unwakes
        if not self._apply(keys=[keys.record, keys.wakes], args=args):
            raise StaleOwner(f"outcome partition {partition} of {self.namespace} changed since it was read; "
                             f"another worker owns it now")
