"""The dispatcher's settings, nested in :class:`streams.settings.Settings` as ``dispatcher``.

Environment: ``FOREWARN_DISPATCHER__<FIELD>``, e.g.
``FOREWARN_DISPATCHER__MAX_ATTEMPTS=5`` or, for secrets by channel name,
``FOREWARN_DISPATCHER__CHANNEL_SECRETS__SUCCESS_HOOK=whsec_…``
(or ``FOREWARN_DISPATCHER__CHANNEL_SECRETS='{"success_hook": "whsec_…"}'``).

>>> d = DispatcherSettings(channel_secrets={"hook": "s3cret"})
>>> d.channel_secrets["hook"]
SecretStr('**********')
>>> d.max_attempts, d.group_id
(5, 'forewarn-dispatcher')
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["DispatcherSettings"]


class DispatcherSettings(BaseModel):
    """Knobs of ``forewarn dispatcher``: consumer group, retries, concurrency, claims, SSRF allow-list, secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: str = Field(default="forewarn-dispatcher", description="Its own consumer group on intervention-commands.")
    batch_size: int = Field(default=500, ge=1, le=100_000, description="Commands consumed, delivered and committed together.")
    poll_timeout_s: float = Field(default=0.5, gt=0)
    concurrency: int = Field(default=8, ge=1, le=512, description="Delivery threads (sends in flight).")
    max_attempts: int = Field(default=5, ge=1, le=100, description="Send attempts per command before the DLQ.")
    backoff_initial_s: float = Field(default=0.5, ge=0, description="Ceiling of the first retry's pause (full jitter).")
    backoff_max_s: float = Field(default=30.0, ge=0)
    owner_lease_s: float = Field(default=10.0, gt=0,
                                 description="A dispatcher that stops renewing its lease this long is taken for dead: "
                                             "its claims are in doubt and are resent by the next owner.")
    delivered_ttl_s: int = Field(default=30 * 86_400, ge=60,
                                 description="How long a delivered command id is remembered (longer than the commands "
                                             "topic's retention, so a replay skips it).")
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    max_poll_interval_s: float = Field(
        default=300.0, ge=10, le=86_400,
        description="Kafka's max.poll.interval: a dispatcher that does not come back to poll within it is taken "
                    "out of the group. A batch therefore starts no new send after batch_budget_s; the commands "
                    "it did not get to are consumed again by the next batch (slow or rate-limited channels).")
    batch_budget_s: float = Field(
        default=120.0, gt=0,
        description="Time after which a batch starts no new send (nor waits for another owner's claims); must "
                    "stay well under max_poll_interval_s, since sends in flight still finish.")
    allow_private_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs the SSRF guard lets through, e.g. ['10.0.0.0/8'] for an internal CSM tool. Empty: public only.")
    channel_secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description="Signing keys and passwords by channel name; never logged.")

    @model_validator(mode="after")
    def _budget_under_poll_interval(self) -> "DispatcherSettings":
        if self.batch_budget_s > self.max_poll_interval_s / 2:
            raise ValueError(f"batch_budget_s ({self.batch_budget_s:g}) must be at most half of max_poll_interval_s "
                             f"({self.max_poll_interval_s:g}): sends in flight at the budget still have to finish")
        return self

    @field_validator("allow_private_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)  # raises with the bad value in the message
        return value
