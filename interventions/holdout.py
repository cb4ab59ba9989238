"""The deterministic holdout: which (account, trigger) pairs form the control group.

Membership is a pure function of the experiment salt, the trigger and the
account: the same on every worker, after every restart and in every replay,
and independent of everything else the policy looks at (priority, cooldown,
caps), which is what keeps the control arm comparable to the treated arm.
Changing the salt starts a new experiment with a fresh split.

>>> in_holdout("acct-1", "payment_failing", "exp-2026-01", 0.10) == in_holdout("acct-1", "payment_failing", "exp-2026-01", 0.10)
True
>>> in_holdout("acct-1", "payment_failing", "exp-2026-01", 0.0), in_holdout("acct-1", "payment_failing", "exp-2026-01", 1.0)
(False, True)
>>> 0.0 <= holdout_point("acct-1", "payment_failing", "exp-2026-01") < 1.0
True
"""

from __future__ import annotations

import hashlib

__all__ = ["holdout_point", "in_holdout"]

_SCALE = float(1 << 64)


def holdout_point(account_id: str, trigger: str, salt: str) -> float:
    """A uniform point in [0, 1) for the pair: the first 64 bits of SHA-256 over salt, trigger and account.

    A cryptographic hash, not Python's ``hash``, which is salted per process.
    """
    digest = hashlib.sha256(f"{salt}\x1f{trigger}\x1f{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(account_id: str, trigger: str, salt: str, share: float) -> bool:
    """True when the pair belongs to the control group of an experiment holding out ``share``."""
    return holdout_point(account_id, trigger, salt) < share
