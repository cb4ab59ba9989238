"""Errors of the interventions package, under Forewarn's one root."""

from __future__ import annotations

from schemas.errors import ForewarnError

__all__ = ["InterventionError", "DeliveryError", "UnsafeTarget"]


class InterventionError(ForewarnError):
    """Something in policy or delivery failed in a way Forewarn can explain."""


class DeliveryError(InterventionError):
    """A channel did not deliver a command.

    ``reason`` is a short code for the DLQ ``reason`` header and metrics (bounded:
    ``timeout``, ``connection``, ``http_5xx``, ``rejected``, ``unsafe_target``, ...);
    ``retryable`` says whether another attempt could succeed. The message is
    for people and never carries secrets.
    """

    def __init__(self, reason: str, detail: str, *, retryable: bool):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retryable = retryable


class UnsafeTarget(DeliveryError):
    """The SSRF guard refused a delivery target: it is, or resolves to, a private address."""

    def __init__(self, detail: str):
        super().__init__("unsafe_target", detail, retryable=False)
