"""The contract of a delivery channel, and the channel section entry it is built from.

A channel takes one command and either delivers it or raises
:class:`~interventions.errors.DeliveryError` saying why and whether another
attempt could help. It never retries on its own, never sleeps for rate
limits and never records outcomes — the dispatcher does that the same way
for every channel — and it passes the command id to its peer as the
idempotency key, which is what makes a resend after a crash safe.

Each kind declares the config keys it reads (``keys``, ``required``) and
parses them in ``parse_options``; ``build`` makes a ready channel from the
parsed entry and its secret. ``tests/interventions/test_channel_contract.py``
checks every registered kind against this contract.

>>> spec = ChannelSpec(name="success_hook", kind="webhook", options={"url": "https://hooks.example.com/x"})
>>> spec.timeout_s, spec.rate_per_s
(10.0, None)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from interventions.channels.ssrf import TargetGuard
from schemas.command import InterventionCommand
from schemas.config_yaml import MapNode, Mark

__all__ = ["ChannelSpec", "Channel"]


@dataclass(frozen=True)
class ChannelSpec:
    """One entry of the ``channels:`` section: a named instance of a channel kind."""

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 10.0
    rate_per_s: float | None = None
    mark: Mark | None = None


class Channel(ABC):
    """A configured channel; ``deliver`` may be called from several threads at once."""

    kind: ClassVar[str]
    #: Config keys this kind reads besides the common ones (kind, timeout, rate_limit).
    keys: ClassVar[tuple[str, ...]] = ()
    #: Keys that must be present, with an example value for the error message.
    required: ClassVar[Mapping[str, str]] = {}
    #: Whether ``build`` needs a secret from the settings (signing key, password).
    needs_secret: ClassVar[bool] = False

    def __init__(self, spec: ChannelSpec):
        self.spec = spec
        self.name = spec.name

    @classmethod
    @abstractmethod
    def parse_options(cls, node: MapNode) -> dict[str, Any]:
        """The kind's options from its mapping (unknown keys were already refused)."""

    @classmethod
    @abstractmethod
    def build(cls, spec: ChannelSpec, secret: str | None, guard: TargetGuard) -> "Channel":
        """A ready channel; ``secret`` is the one named after the channel in the settings."""

    @abstractmethod
    def deliver(self, command: InterventionCommand, body: bytes) -> str:
        """Deliver one command (``body``: its JSON as consumed); return a short detail, or raise DeliveryError."""

    def close(self) -> None:
        """Release connections; the channel is not used afterwards."""

    def __repr__(self) -> str:  # never shows secrets
        return f"{type(self).__name__}({self.name!r})"
