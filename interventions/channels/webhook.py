"""The ``webhook`` channel: an HTTPS POST of the command, signed, with the command id as idempotency key.

::

    channels:
      success_hook:
        kind: webhook
        url: https://hooks.example.com/forewarn
        timeout: 10s
        rate_limit: 50/s
        headers: {X-Team: success}      # optional extra headers
        ca_file: /etc/ssl/private-ca.pem  # optional: trust this CA (an internal tool) instead of the system's

The body is the command's JSON exactly as consumed. Headers:
``Idempotency-Key`` and ``X-Forewarn-Command-Id`` (the command id),
``X-Forewarn-Timestamp`` (Unix seconds) and ``X-Forewarn-Signature``
(``v1=`` + hex HMAC-SHA256 over ``<timestamp>.<body>`` with the channel's
secret, see :mod:`interventions.channels.signing`). The target passes the
SSRF guard on every send and the connection goes to the vetted address;
redirects are not followed.

A 2xx answer is a delivery. 408, 425, 429 and 5xx, timeouts and connection
errors may pass on another attempt; other answers will not (``rejected``).

>>> from schemas.config_yaml import load_yaml_text
>>> WebhookChannel.parse_options(load_yaml_text("{url: 'https://hooks.example.com/x'}").as_map())["url"]
'https://hooks.example.com/x'
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import SecretBytes

from interventions.channels.base import Channel, ChannelSpec
from interventions.channels.http1 import HttpClient, HttpError, HttpTimeout, check_header, default_ssl_context
from interventions.channels.signing import (
    COMMAND_ID_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from interventions.channels.ssrf import TargetGuard
from interventions.errors import DeliveryError
from schemas.command import InterventionCommand
from schemas.config_yaml import MapNode

__all__ = ["WebhookChannel", "RETRYABLE_STATUS"]

RETRYABLE_STATUS = frozenset({408, 425, 429})
_URL_EXAMPLE = "https://hooks.example.com/forewarn"
#: Set by the channel on every request; a configured header of the same name would be overridden or break framing.
_OWN_HEADERS = frozenset(h.lower() for h in ("Host", "Content-Type", "Content-Length", "Transfer-Encoding", "Connection",
                                             IDEMPOTENCY_HEADER, COMMAND_ID_HEADER, TIMESTAMP_HEADER,
                                             SIGNATURE_HEADER))


def read_url(node: MapNode) -> str:
    url_node = node.require("url", _URL_EXAMPLE)
    url = url_node.as_str(what="URL", example=_URL_EXAMPLE)
    if not url.lower().startswith(("https://", "http://")):
        raise url_node.error(f"{url!r} is not an http(s) URL; write e.g. {_URL_EXAMPLE}")
    return url


def read_headers(node: MapNode) -> dict[str, str]:
    headers_node = node.get("headers")
    if headers_node is None:
        return {}
    out = {}
    for name, value in headers_node.as_map("{X-Team: success}").items():
        text = value.as_str(what="header value", example="success")
        if name.lower() in _OWN_HEADERS:
            raise value.error(f"header {name!r} is set by the channel itself; remove it")
        try:
            check_header(name, text)
        except ValueError as exc:
            raise value.error(f"{exc}; use a token name and printable ASCII, e.g. X-Team: success") from None
        out[name] = text
    return out


class WebhookChannel(Channel):
    """Signed JSON POSTs over one pool of kept-alive connections (thread-safe)."""

    kind: ClassVar[str] = "webhook"
    keys: ClassVar[tuple[str, ...]] = ("url", "headers", "ca_file")
    required: ClassVar[Mapping[str, str]] = {"url": _URL_EXAMPLE}
    needs_secret: ClassVar[bool] = True

    def __init__(self, spec: ChannelSpec, secret: str, guard: TargetGuard, max_connections: int = 32):
        super().__init__(spec)
        self._secret = SecretBytes(secret.encode())  # masked in every repr and log line
        self._guard = guard
        self._url: str = spec.options["url"]
        extra = dict(spec.options.get("headers") or {})
        for name, value in extra.items():  # parse_options checked a config's; a spec built in code is checked here
            check_header(name, value)
        self._extra_headers = [(n, v) for n, v in extra.items() if n.lower() not in _OWN_HEADERS]
        # The SSL context is built on the first https send (loading a CA bundle takes a while).
        ca_file = spec.options.get("ca_file")
        self._client = HttpClient(max_connections=max_connections,
                                  ssl_context=default_ssl_context(ca_file) if ca_file else None)

    @classmethod
    def parse_options(cls, node: MapNode) -> dict[str, Any]:
        ca = node.get("ca_file")
        return {"url": read_url(node), "headers": read_headers(node),
                "ca_file": ca.as_str(what="CA file path", example="/etc/ssl/ca.pem") if ca is not None else None}

    @classmethod
    def build(cls, spec: ChannelSpec, secret: str | None, guard: TargetGuard) -> "WebhookChannel":
        if not secret:
            raise DeliveryError("no_secret", f"channel {spec.name!r} needs a signing secret", retryable=False)
        return cls(spec, secret, guard)

    def body(self, command: InterventionCommand, raw: bytes) -> bytes:
        """What is POSTed: the command as consumed (the task channel reshapes it)."""
        return raw

    def deliver(self, command: InterventionCommand, body: bytes) -> str:
        target = self._guard.check(self._url)
        payload = self.body(command, body)
        stamp = str(int(time.time()))
        command_id = command.command_id
        headers = [
            ("Host", target.host_header),
            ("Content-Type", "application/json"),
            (IDEMPOTENCY_HEADER, command_id),
            (COMMAND_ID_HEADER, command_id),
            (TIMESTAMP_HEADER, stamp),
            (SIGNATURE_HEADER, sign(self._secret.get_secret_value(), stamp, payload)),
            *self._extra_headers,
        ]
        try:
            response = self._client.request(
                "POST", target.scheme, target.ip, target.port, target.path, headers, payload,
                timeout=self.spec.timeout_s,
                # verify the certificate against the name, not the pinned IP
                server_hostname=target.host if target.scheme == "https" else None)
        except ValueError as exc:  # a command id no header can carry: no attempt can send it
            raise DeliveryError("invalid_header", f"{self.name}: {exc}", retryable=False) from None
        except HttpTimeout as exc:
            raise DeliveryError("timeout", f"{self.name}: no answer within {self.spec.timeout_s:g}s "
                                f"({str(exc)[:200]})", retryable=True) from None
        except HttpError as exc:
            raise DeliveryError("connection", f"{self.name}: {str(exc)[:200]}", retryable=True) from None
        status = response.status
        if 200 <= status < 300:
            return f"HTTP {status}"
        detail = f"{self.name}: HTTP {status} {response.reason}"
        if status >= 500 or status in RETRYABLE_STATUS:
            raise DeliveryError("http_5xx" if status >= 500 else f"http_{status}", detail, retryable=True)
        if 300 <= status < 400:
            raise DeliveryError("redirect", detail + " (redirects are not followed)", retryable=False)
        raise DeliveryError("rejected", detail, retryable=False)

    def close(self) -> None:
        self._client.close()
