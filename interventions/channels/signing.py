"""How a webhook receiver knows a request came from Forewarn: an HMAC-SHA256 over timestamp and body.

The signed text is ``<timestamp>.<body>`` (the timestamp in Unix seconds, as
sent in ``X-Forewarn-Timestamp``), so a captured request cannot be replayed
with a new timestamp, and a receiver rejects timestamps older than its
tolerance. ``Idempotency-Key`` carries the command id: a receiver that
remembers it never acts twice on one command, even when the dispatcher
resends after a crash.

>>> sig = sign(b"s3cret", "1767225600", b'{"command_id":"c1"}')
>>> sig.startswith("v1=") and len(sig) == 3 + 64
True
>>> verify(b"s3cret", "1767225600", b'{"command_id":"c1"}', sig, now=1767225700)
True
>>> verify(b"s3cret", "1767225600", b'{"command_id":"c2"}', sig, now=1767225700)
False
>>> verify(b"s3cret", "1767225600", b'{"command_id":"c1"}', sig, now=1767229999)  # too old
False
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "IDEMPOTENCY_HEADER", "COMMAND_ID_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Forewarn-Signature"
TIMESTAMP_HEADER = "X-Forewarn-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
COMMAND_ID_HEADER = "X-Forewarn-Command-Id"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *, now: float,
           tolerance_s: float = 300.0) -> bool:
    """True when ``signature`` is ours for this body and timestamp, and the timestamp is recent enough."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")
