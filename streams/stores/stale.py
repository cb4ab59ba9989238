"""Working a chunk out again when another owner's write beat it (a refused compare-and-set).

During a rebalance two workers may briefly both hold a partition. Every store's
write compares the partition record it read with the one in Redis and refuses
the whole write (:class:`~streams.stores.detector_redis.StaleOwner`) if another
owner wrote in between, so state is never corrupted; the chunk is then worked
out again on the state that owner left, which skips what it applied (by offset)
and applies the rest once. Only if that keeps happening does the chunk fail.

>>> from prometheus_client import CollectorRegistry, Counter
>>> refused = Counter("refused", "", registry=CollectorRegistry())
>>> tries = []
>>> def chunk():
...     tries.append(1)
...     if len(tries) < 3:
...         raise StaleOwner("partition 0 changed since it was read")
...     return "applied"
>>> redo_when_stale(chunk, refused=refused, where="partition 0"), len(tries), refused._value.get()
('applied', 3, 2.0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import Counter

from streams.stores.detector_redis import StaleOwner

__all__ = ["STALE_ATTEMPTS", "redo_when_stale"]

log = logging.getLogger("forewarn.stale")

#: How many times a chunk is worked out when another worker's write keeps beating it.
STALE_ATTEMPTS = 3

T = TypeVar("T")


def redo_when_stale(work: Callable[[], T], *, refused: Counter, where: str, attempts: int = STALE_ATTEMPTS) -> T:
    """``work()``, run again (up to ``attempts`` times in all) while its write is refused as stale.

    ``work`` must read the state afresh each time; ``refused`` counts every refused write; ``where``
    names the partition for the log (never an account).
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except StaleOwner as exc:
            refused.inc()
            if attempt == attempts:
                raise
            log.warning("%s: %s; working the chunk out again on that state (attempt %d of %d)",
                        where, exc, attempt + 1, attempts)
    raise AssertionError("unreachable: the last attempt returns or raises")
