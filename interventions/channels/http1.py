"""A small HTTP/1.1 client for the webhook channels: one write per request, connections kept alive.

Why not httpx: on this project's machine a POST through httpx's transport
(httpcore and h11, all Python) cost ~260 µs of CPU, the same exchange over
a plain socket ~16 µs, and the dispatcher is CPU-bound (see
``docs/benchmarks.md``, Dispatcher). A webhook needs little of HTTP: POST a
small signed body, read the status, drop the answer's body. This client
does that and no more:

- it connects to the address it is given — the one the SSRF guard vetted —
  and never resolves names; over TLS it sends ``server_hostname`` as SNI and
  checks the certificate against it (the host name, not the pinned IP);
- head and body go out in one write (a system call is dear in a sandbox,
  and a split request can leave the peer waiting for the second segment);
- the answer is read per RFC 9112: interim 1xx answers are skipped, the body
  is framed by ``Transfer-Encoding: chunked``, ``Content-Length`` or the end of
  the connection, and at most ``max_body`` bytes of it are kept;
- connections are kept alive (``Connection: close`` or an HTTP/1.0 answer
  ends one) and reused newest first; one idle for ``keepalive_expiry`` is
  closed. A request on a *reused* connection that the peer had already
  closed (the send fails, or the connection ends before any byte of an
  answer) is sent once more on a new connection — what Go's net/http does
  for a request carrying an ``Idempotency-Key``, as every webhook here does;
- no redirects, cookies, proxies or compression (no ``Accept-Encoding`` is
  sent, so the answer comes as is).

Errors: :class:`HttpTimeout` (no connection, write or answer within the
timeout, each step timed on its own as httpx does) and :class:`HttpError`
(refused, reset, TLS failure, an answer that is not HTTP/1.x).

>>> from interventions.channels.receiver import WebhookReceiver
>>> with WebhookReceiver() as rx:
...     client = HttpClient()
...     answers = [client.request("POST", "http", "127.0.0.1", rx.port, "/hook", [("Host", "example.com")],
...                               b'{"n": %d}' % n, timeout=5).status for n in range(2)]
...     client.close()
>>> answers, [a.body for a in rx.arrivals], rx.arrivals[0].headers["host"], client.connections_opened
([200, 200], [b'{"n": 0}', b'{"n": 1}'], 'example.com', 1)
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["HttpClient", "HttpError", "HttpResponse", "HttpTimeout", "check_header", "default_ssl_context"]

_MAX_HEAD = 64 * 1024
_MAX_LINE = 8 * 1024
_READ = 65536
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n]*))?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
_PATH = re.compile(r"/[!-~]*")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_DIGITS = re.compile(r"[0-9]{1,18}")
_NO_BODY = frozenset({204, 304})
#: Headers the client writes itself: a caller's would break the framing.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


class HttpError(OSError):
    """The exchange failed: refused, reset, TLS, or an answer that is not HTTP/1.x."""


class HttpTimeout(HttpError):
    """No connection, write or answer within the timeout."""


class _PeerClosed(HttpError):
    """The connection ended before the first byte of an answer (on a reused one: the peer's idle close)."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated ones joined with ", "
    body: bytes  # at most the client's max_body first bytes


class _Connection:
    """One socket, its read buffer, and bookkeeping for reuse."""

    __slots__ = ("sock", "key", "buf", "idle_since", "requests", "received", "writes", "timeout", "deadline")

    def __init__(self, sock: socket.socket, key: tuple):
        self.sock = sock
        self.key = key
        self.buf = bytearray()
        self.idle_since = 0.0
        self.requests = 0  # answered on this connection
        self.received = 0  # bytes read during the current exchange
        self.writes = 0  # system-level writes (for the test that guards the one-write property)
        self.timeout: float | None = None
        self.deadline: float | None = None  # monotonic end of the current exchange's answer

    def set_timeout(self, timeout: float) -> None:
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def fill(self) -> None:
        if self.deadline is not None:
            # the timeout bounds the whole answer, not each read: a peer dripping a byte every few
            # seconds must not hold a delivery thread (and the dispatcher's batch) for ever
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the answer took longer than the timeout")
            if left < (self.timeout or left):
                self.set_timeout(left)
        chunk = self.sock.recv(_READ)
        if not chunk:
            raise _PeerClosed("the server closed the connection")
        self.received += len(chunk)
        self.buf += chunk

    def read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end + 1])
                del self.buf[:end + 1]
                return line
            if len(self.buf) > _MAX_LINE:
                raise HttpError("a chunked-body line longer than 8 KiB")
            self.fill()

    def read_exact(self, n: int, keep: bytearray, limit: int) -> None:
        while n:
            if not self.buf:
                self.fill()
            take = min(n, len(self.buf))
            if len(keep) < limit:
                keep += self.buf[:min(take, limit - len(keep))]
            del self.buf[:take]
            n -= take

    def read_to_close(self, keep: bytearray, limit: int) -> None:
        while True:
            if len(keep) < limit:
                keep += self.buf[:limit - len(keep)]
            self.buf.clear()
            try:
                self.fill()
            except _PeerClosed:
                return

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class HttpClient:
    """Keeps connections per (scheme, address, port, server name); safe to use from many threads."""

    def __init__(self, *, max_connections: int = 32, keepalive_expiry: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None, max_body: int = 64 * 1024):
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.max_body = max_body
        self._ssl_context = ssl_context
        self._idle: dict[tuple, list[_Connection]] = {}
        self._open = 0
        self._slots = threading.Condition(threading.Lock())
        self._closed = False
        self.connections_opened = 0
        self.recent: list[_Connection] = []  # the last few connections opened, for tests

    # -- the exchange ------------------------------------------------------------------------------------------

    def request(self, method: str, scheme: str, ip: str, port: int, path: str, headers: Sequence[tuple[str, str]],
                body: bytes, *, timeout: float, server_hostname: str | None = None) -> HttpResponse:
        """Send one request to ``ip:port`` and read its answer; ``headers`` should include ``Host``."""
        data = _encode(method, path, headers, body)
        key = (scheme, ip, port, server_hostname)
        conn: _Connection | None = self._checkout(key, timeout)  # holds one of the pool's slots from here
        try:
            if conn is None:
                conn = self._connect(key, timeout)
            try:
                response, reusable = self._exchange(conn, data, timeout)
            except (_PeerClosed, BrokenPipeError, ConnectionResetError):
                if not conn.requests or conn.received:
                    raise
                # The peer had closed this idle connection; the request never reached it. Once more on a new one.
                conn.close()
                conn = None
                conn = self._connect(key, timeout)
                response, reusable = self._exchange(conn, data, timeout)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            self._release_slot()
            if isinstance(exc, HttpError):
                raise
            if isinstance(exc, TimeoutError):
                raise HttpTimeout(f"no answer within {timeout:g}s ({exc})") from None
            if isinstance(exc, OSError):  # refused, reset, TLS
                raise HttpError(f"{type(exc).__name__}: {exc}") from None
            raise
        conn.requests += 1
        if reusable:
            self._checkin(conn)
        else:
            conn.close()
            self._release_slot()
        return response

    def _exchange(self, conn: _Connection, data: bytes, timeout: float) -> tuple[HttpResponse, bool]:
        conn.set_timeout(timeout)
        conn.received = 0
        conn.deadline = None
        conn.sock.sendall(data)
        conn.writes += 1
        conn.deadline = time.monotonic() + timeout
        while True:
            version, status, reason, headers = self._read_head(conn)
            if status >= 200:
                break
            if status == 101:
                raise HttpError("the server switched protocols (101) unasked")
        keep_alive = version == 1 and "close" not in headers.get("connection", "").lower()
        body = bytearray()
        if status in _NO_BODY:
            pass
        elif "transfer-encoding" in headers:
            codings = [c.strip().lower() for c in headers["transfer-encoding"].split(",")]
            if codings[-1] == "chunked":
                self._read_chunked(conn, body)
                keep_alive = keep_alive and "content-length" not in headers  # both framings: suspicious, do not reuse
            else:
                conn.read_to_close(body, self.max_body)
                keep_alive = False
        elif "content-length" in headers:
            values = {v.strip() for v in headers["content-length"].split(",")}
            if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
                raise HttpError(f"invalid Content-Length {headers['content-length'][:40]!r}")
            conn.read_exact(int(values.pop()), body, self.max_body)
        else:
            conn.read_to_close(body, self.max_body)
            keep_alive = False
        if conn.buf:  # bytes beyond the answer: nothing we asked for
            keep_alive = False
        conn.deadline = None
        return HttpResponse(status, reason, headers, bytes(body)), keep_alive

    def _read_head(self, conn: _Connection) -> tuple[int, int, str, dict[str, str]]:
        buf = conn.buf
        start = 0
        while True:
            end = buf.find(b"\r\n\r\n", start)
            if end >= 0:
                head, cut = bytes(buf[:end]), end + 4
                break
            end = buf.find(b"\n\n", start)  # bare LF line ends, as lenient parsers accept
            if end >= 0:
                head, cut = bytes(buf[:end]), end + 2
                break
            if len(buf) > _MAX_HEAD:
                raise HttpError("answer head larger than 64 KiB")
            start = max(0, len(buf) - 3)
            conn.fill()
        del buf[:cut]
        lines = head.split(b"\n")
        match = _STATUS_LINE.fullmatch(lines[0].rstrip(b"\r"))
        if match is None:
            raise HttpError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        name = ""
        for raw in lines[1:]:
            line = raw.rstrip(b"\r").decode("latin-1")
            if line[:1] in (" ", "\t") and name:  # obsolete line folding
                headers[name] += " " + line.strip()
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(f"malformed header line {line[:80]!r}")
            name = name.lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return int(match.group(1)), int(match.group(2)), (match.group(3) or b"").decode("latin-1"), headers

    def _read_chunked(self, conn: _Connection, body: bytearray) -> None:
        while True:
            size_text = conn.read_line().split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                raise HttpError(f"invalid chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                while conn.read_line().strip():  # trailer fields, then the empty line
                    pass
                return
            conn.read_exact(size, body, self.max_body)
            if conn.read_line().strip():
                raise HttpError("a chunk not followed by CRLF")

    # -- the pool ----------------------------------------------------------------------------------------------

    def _checkout(self, key: tuple, timeout: float) -> _Connection | None:
        """An idle connection to ``key``, or None with a slot reserved for a new one."""
        deadline = None
        with self._slots:
            while True:
                if self._closed:
                    raise HttpError("the client is closed")
                idle = self._idle.get(key)
                while idle:
                    conn = idle.pop()
                    if self._usable(conn):
                        return conn
                    conn.close()
                    self._open -= 1
                if self._open < self.max_connections:
                    self._open += 1
                    return None
                if self._evict_one_idle():
                    continue
                deadline = deadline or time.monotonic() + timeout
                left = deadline - time.monotonic()
                if left <= 0 or not self._slots.wait(left):
                    raise HttpTimeout(f"no free connection within {timeout:g}s ({self.max_connections} in use)")

    def _usable(self, conn: _Connection) -> bool:
        idle_for = time.monotonic() - conn.idle_since
        if idle_for >= self.keepalive_expiry:
            return False
        if idle_for > 1.0:
            # Idle a while: the peer may have closed it (then it reads as readable, at EOF).
            try:
                readable, _, _ = select.select([conn.sock], [], [], 0)
            except (OSError, ValueError):
                return False
            return not readable
        return True

    def _evict_one_idle(self) -> bool:
        for conns in self._idle.values():
            if conns:
                conns.pop(0).close()
                self._open -= 1
                self._slots.notify()
                return True
        return False

    def _connect(self, key: tuple, timeout: float) -> _Connection:
        scheme, ip, port, server_hostname = key
        try:
            sock = socket.create_connection((ip, port), timeout=timeout)
        except TimeoutError as exc:
            raise HttpTimeout(f"no connection to {ip}:{port} within {timeout:g}s ({exc})") from None
        except OSError as exc:
            raise HttpError(f"cannot connect to {ip}:{port}: {exc}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=server_hostname or ip)
        except TimeoutError as exc:
            sock.close()
            raise HttpTimeout(f"no TLS handshake with {ip}:{port} within {timeout:g}s ({exc})") from None
        except OSError as exc:
            sock.close()
            raise HttpError(f"TLS with {server_hostname or ip} failed: {exc}") from None
        conn = _Connection(sock, key)
        conn.timeout = timeout
        with self._slots:
            self.connections_opened += 1
            self.recent.append(conn)
            del self.recent[:-64]
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = default_ssl_context()
        return self._ssl_context

    def _checkin(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        with self._slots:
            if not self._closed:
                self._idle.setdefault(conn.key, []).append(conn)
                self._slots.notify()
                return
        conn.close()
        self._release_slot()

    def _release_slot(self) -> None:
        with self._slots:
            self._open -= 1
            self._slots.notify()

    def close(self) -> None:
        with self._slots:
            self._closed = True
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
            self._open -= len(idle)
            self._slots.notify_all()
        for conn in idle:
            conn.close()


def default_ssl_context(cafile: str | None = None) -> ssl.SSLContext:
    """Certificates checked against the host name; ``cafile`` or certifi's bundle (what httpx trusted)."""
    if cafile is None:
        import certifi

        cafile = certifi.where()
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["http/1.1"])
    return context


def check_header(name: str, value: str) -> None:
    """Refuse a header that would break the request (CR/LF, non-ASCII, a framing header): ValueError."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid header name")
    if name.lower() in _FRAMING:
        raise ValueError(f"header {name!r} is set by the client itself")
    if not _FIELD_VALUE.fullmatch(value):
        raise ValueError(f"the value of header {name!r} has characters a header cannot carry (control or non-ASCII)")


def _encode(method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    if not _PATH.fullmatch(path):
        path = quote(path, safe="!#$%&'()*+,/:;=?@[]~")  # spaces, non-ASCII... percent-encoded, as httpx does
    parts = [f"{method} {path} HTTP/1.1\r\n"]
    for name, value in headers:
        check_header(name, value)
        parts.append(f"{name}: {value}\r\n")
    parts.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "".join(parts).encode("ascii") + body
