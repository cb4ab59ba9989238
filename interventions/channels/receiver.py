"""A reference webhook receiver: verifies Forewarn's signature and records every request.

Integrators can read it as the smallest correct receiver; Forewarn uses it
as the local peer of its tests, drills and demo. It runs the standard
library's threading HTTP server (HTTP/1.1, keep-alive) on a thread of its
own, keeps every request it gets (``arrivals``), answers 401 to a bad
signature, and can be told to fail: the first ``fail_first`` requests of
each idempotency key, or all of them (``always_fail``), are answered with
``fail_status``. It deliberately does *not* dedupe by idempotency key, so
a test can see every duplicate that reaches it.

>>> import httpx, time
>>> from interventions.channels.signing import sign
>>> with WebhookReceiver(secret=b"k", fail_first=1) as rx:
...     stamp = str(int(time.time()))
...     headers = {"Idempotency-Key": "c1", "X-Forewarn-Timestamp": stamp,
...                "X-Forewarn-Signature": sign(b"k", stamp, b"{}")}
...     codes = [httpx.post(rx.url(), content=b"{}", headers=headers).status_code for _ in range(2)]
>>> codes, [a.signature_ok for a in rx.arrivals], len(rx.accepted())
([503, 200], [True, True], 1)
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from interventions.channels.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

__all__ = ["Arrival", "WebhookReceiver"]


@dataclass(frozen=True)
class Arrival:
    """One request as it arrived, and what the receiver answered."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    signature_ok: bool | None  # None when the receiver has no secret to check with
    status: int
    at: float

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get(IDEMPOTENCY_HEADER.lower())


class WebhookReceiver:
    """An HTTP receiver on ``host:port`` (port 0: a free one) for signed Forewarn webhooks."""

    def __init__(self, secret: bytes | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 fail_first: int = 0, always_fail: bool = False, fail_status: int = 503, delay_s: float = 0.0,
                 tls_files: tuple[str, str] | None = None):
        self.secret = secret
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.fail_status = fail_status
        self.delay_s = delay_s
        self.arrivals: list[Arrival] = []
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = b"{}" if status < 300 else b'{"error":"try again"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (a timeout): it already knows it has no answer

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls_files is not None:  # HTTPS with the given (cert, key)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls_files)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-receiver", daemon=True)

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        if self.delay_s:
            time.sleep(self.delay_s)
        signature_ok = None
        if self.secret is not None:
            signature_ok = verify(self.secret, headers.get(TIMESTAMP_HEADER.lower(), ""), body,
                                  headers.get(SIGNATURE_HEADER.lower(), ""), now=time.time())
        key = headers.get(IDEMPOTENCY_HEADER.lower(), "")
        with self._lock:
            self._seen[key] += 1
            if signature_ok is False:
                status = 401
            elif self.always_fail or self._seen[key] <= self.fail_first:
                status = self.fail_status
            else:
                status = 200
            self.arrivals.append(Arrival(path, headers, body, signature_ok, status, time.time()))
        return status

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def accepted(self) -> list[Arrival]:
        """The requests answered 2xx: the deliveries."""
        with self._lock:
            return [a for a in self.arrivals if 200 <= a.status < 300]

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
