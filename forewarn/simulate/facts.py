"""Compact per-account memory of the events the seed triggers and success metrics read.

A simulated quarter holds millions of events; keeping each as a Python object
would cost a gigabyte. An account keeps two flat arrays instead — timestamps and
one-byte codes for the trigger-relevant event types and feature names — and the
truth decodes them back into reference facts ``(ts, type, feature)`` at the end.
"""

from __future__ import annotations

from collections.abc import Iterable

from forewarn.simulate.reference import Fact

__all__ = ["FactCodes", "NON_CORE_FEATURES"]

#: Features every product has that are not core unless the configuration says so.
NON_CORE_FEATURES = ("search", "exports", "comments", "notifications", "settings", "imports")


class FactCodes:
    """One-byte codes: five event types, then one code per feature (core features first).

    >>> codes = FactCodes(("reports", "dashboards", "integrations"))
    >>> code = codes.feature_code("dashboards")
    >>> codes.is_core(code), codes.is_activity(code), codes.fact(7, code)
    (True, True, (7, 'feature.used', 'dashboards'))
    >>> codes.decode([1, 2], [codes.SESSION, codes.PAYMENT_FAILED])
    [(1, 'session.started', None), (2, 'payment.failed', None)]
    """

    ONBOARDED = 0
    SESSION = 1
    PAYMENT_FAILED = 2
    PAYMENT_SUCCEEDED = 3
    CANCELED = 4
    _TYPES = ("account.onboarded", "session.started", "payment.failed", "payment.succeeded",
              "subscription.canceled")
    _FIRST_FEATURE = 5

    def __init__(self, core_features: Iterable[str]):
        self.core_features = tuple(core_features)
        self.non_core_features = tuple(f for f in NON_CORE_FEATURES if f not in self.core_features)
        self.features = self.core_features + self.non_core_features
        if self._FIRST_FEATURE + len(self.features) > 256:
            raise ValueError("too many features for one-byte codes")
        self._feature_code = {name: self._FIRST_FEATURE + i for i, name in enumerate(self.features)}
        self._core_end = self._FIRST_FEATURE + len(self.core_features)
        self._table = [(kind, None) for kind in self._TYPES] + [("feature.used", f) for f in self.features]

    def feature_code(self, feature: str) -> int:
        return self._feature_code[feature]

    def is_core(self, code: int) -> bool:
        return self._FIRST_FEATURE <= code < self._core_end

    def is_activity(self, code: int) -> bool:
        return code == self.SESSION or code >= self._FIRST_FEATURE

    def decode(self, ts: Iterable[int], codes: Iterable[int]) -> list[Fact]:
        """Reference facts of parallel timestamp and code sequences."""
        table = self._table
        return [(t, *table[c]) for t, c in zip(ts, codes)]

    def fact(self, ts: int, code: int) -> Fact:
        if code >= self._FIRST_FEATURE:
            return (ts, "feature.used", self.features[code - self._FIRST_FEATURE])
        return (ts, self._TYPES[code], None)
