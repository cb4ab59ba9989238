"""An httpx transport that sends each request in one write instead of two.

httpcore writes a request's head and its body separately. On a kernel where
every system call is dear (a gVisor sandbox here, measured at ~200 µs per
``send``) that second write is a third of a webhook's cost, and it can leave
the peer waiting for the second segment. This transport's streams hold
writes until the next read — a request is always fully written before its
response is read — and then send them together, also over TLS.

Built on httpx's own transport, with its connection pool rebuilt on a
coalescing network backend (``_pool`` is private to httpx; the version is
pinned below 1.0 in pyproject.toml, and
``tests/interventions/test_webhook_channel.py`` checks one write per request).

>>> transport = CoalescingTransport(max_connections=4)
>>> type(transport._pool._network_backend).__name__
'CoalescingBackend'
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["CoalescingStream", "CoalescingBackend", "CoalescingTransport"]


class CoalescingStream(httpcore.NetworkStream):
    """Buffers writes; the first read (or TLS upgrade, or close) sends them as one."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner
        self._pending: list[bytes] = []
        self.writes = 0  # system-level writes made (for the test that guards this optimisation)

    def _flush(self, timeout: float | None) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self.writes += 1
            self._inner.write(data, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._pending.append(buffer)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush(timeout)
        return self._inner.read(max_bytes, timeout)

    def close(self) -> None:
        self._pending.clear()
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> "CoalescingStream":
        self._flush(timeout)
        return CoalescingStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class CoalescingBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, with coalescing streams."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self.streams: list[CoalescingStream] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> CoalescingStream:
        stream = CoalescingStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))
        self.streams.append(stream)
        del self.streams[:-64]  # keep a few for inspection, never an unbounded list
        return stream

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> CoalescingStream:
        return CoalescingStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class CoalescingTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` (HTTP/1.1, no proxy) over a :class:`CoalescingBackend`."""

    def __init__(self, *, max_connections: int = 32, keepalive_expiry: float = 30.0,
                 verify: ssl.SSLContext | bool = True):
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                              keepalive_expiry=keepalive_expiry)
        super().__init__(verify=verify, limits=limits, trust_env=False)
        pool = self._pool
        self.backend = CoalescingBackend()
        self._pool = httpcore.ConnectionPool(
            ssl_context=pool._ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=keepalive_expiry,
            http1=True, http2=False, network_backend=self.backend,
        )
