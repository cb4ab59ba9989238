"""The webhook's HTTP/1.1 client against a scripted peer: framing, keep-alive, a stale connection, bad input."""

from __future__ import annotations

import socket
import threading

import pytest

from interventions.channels.http1 import HttpClient, HttpError, HttpTimeout


class ScriptedPeer:
    """A TCP server whose every connection answers the requests it reads with the next scripted answers.

    ``script`` is a list per connection, in the order they are accepted, of the raw answers to send, one per
    request read; ``None`` closes the connection without answering that request.
    """

    def __init__(self, script: list[list[bytes | None]]):
        self.script = script
        self.requests: list[bytes] = []  # every request read, raw, across connections
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._answer_all()
        finally:
            self._listener.close()

    def _answer_all(self) -> None:
        for answers in self.script:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buf = b""
                for answer in answers:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length:")))
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + rest[:length])
                    buf = rest[length:]
                    if answer is None:
                        break
                    conn.sendall(answer)



def _post(client: HttpClient, peer: ScriptedPeer, body: bytes = b"{}", headers=(("Host", "hooks.example.com"),),
          timeout: float = 5.0):
    return client.request("POST", "http", "127.0.0.1", peer.port, "/hook", list(headers), body, timeout=timeout)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


def test_request_is_one_write_with_host_and_length_and_the_connection_is_reused():
    peer = ScriptedPeer([[OK, OK]])
    client = HttpClient()
    answers = [_post(client, peer, b'{"n":%d}' % n) for n in range(2)]
    client.close()
    assert [a.status for a in answers] == [200, 200] and answers[0].body == b"{}"
    assert peer.connections == 1 and client.recent[0].writes == 2
    first = peer.requests[0]
    assert first.startswith(b"POST /hook HTTP/1.1\r\nHost: hooks.example.com\r\n")
    assert first.endswith(b"Content-Length: 7\r\n\r\n{\"n\":0}")


def test_chunked_answer_with_extension_and_trailer_then_reuse():
    chunked = (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n")
    peer = ScriptedPeer([[chunked, OK]])
    client = HttpClient()
    first, second = _post(client, peer), _post(client, peer)
    client.close()
    assert (first.status, first.reason, first.body) == (201, "Created", b"Wikipedia")
    assert second.status == 200 and peer.connections == 1


def test_interim_100_is_skipped_and_headers_are_read_case_insensitively():
    answer = (b"HTTP/1.1 100 Continue\r\n\r\n"
              b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nX-Multi: a\r\nx-multi: b\r\nContent-Length: 0\r\n\r\n")
    peer = ScriptedPeer([[answer]])
    client = HttpClient()
    response = _post(client, peer)
    client.close()
    assert response.status == 503 and response.headers["retry-after"] == "3"
    assert response.headers["x-multi"] == "a, b" and response.body == b""


def test_connection_close_and_http10_answers_are_not_reused():
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    http10 = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    peer = ScriptedPeer([[close], [http10], [OK]])
    client = HttpClient()
    statuses = [_post(client, peer).status for _ in range(3)]
    client.close()
    assert statuses == [200, 200, 200] and peer.connections == 3


def test_body_without_length_is_read_to_the_close_and_capped():
    peer = ScriptedPeer([[b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 5000]])
    client = HttpClient(max_body=100)
    response = _post(client, peer)
    client.close()
    assert response.status == 200 and response.body == b"x" * 100


def test_a_reused_connection_closed_by_the_peer_is_retried_once_on_a_new_connection():
    # First connection: answers one request, then closes on the second without answering (an idle timeout).
    peer = ScriptedPeer([[OK, None], [OK]])
    client = HttpClient()
    assert _post(client, peer, b"1").status == 200
    assert _post(client, peer, b"2").status == 200
    client.close()
    assert peer.connections == 2 and client.connections_opened == 2
    # This peer read the second request before closing, so it saw it twice (why webhooks carry an idempotency key);
    # a peer closing an idle connection never reads it. No third copy either way.
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in peer.requests] == [b"1", b"2", b"2"]


def test_a_fresh_connection_closed_without_an_answer_is_an_error_not_a_retry():
    peer = ScriptedPeer([[None], [OK]])
    client = HttpClient()
    with pytest.raises(HttpError, match="closed"):
        _post(client, peer)
    client.close()
    assert peer.connections == 1 and len(peer.requests) == 1


@pytest.mark.parametrize("answer,match", [
    (b"SMTP 220 hello\r\n\r\n", "not an HTTP/1.x answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}", "invalid Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "invalid chunk size"),
    (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "malformed header line"),
])
def test_answers_that_are_not_http_are_errors(answer, match):
    peer = ScriptedPeer([[answer]])
    client = HttpClient()
    with pytest.raises(HttpError, match=match):
        _post(client, peer)
    client.close()


@pytest.mark.parametrize("name,value", [("X-Evil", "a\r\nX-Injected: 1"), ("X-Evil", "caf\u00e9"),
                                        ("Bad Name", "v"), ("Content-Length", "0")])
def test_headers_that_would_break_the_request_are_refused_before_sending(name, value):
    peer = ScriptedPeer([[OK]])
    client = HttpClient()
    with pytest.raises(ValueError):
        _post(client, peer, headers=[("Host", "h"), (name, value)])
    assert _post(client, peer).status == 200  # nothing was sent; the pool is intact
    client.close()
    assert len(peer.requests) == 1 and b"X-Injected" not in peer.requests[0]


def test_a_path_with_spaces_is_percent_encoded():
    peer = ScriptedPeer([[OK]])
    client = HttpClient()
    client.request("POST", "http", "127.0.0.1", peer.port, "/a b/\u00e9?q=1", [("Host", "h")], b"", timeout=5)
    client.close()
    assert peer.requests[0].startswith(b"POST /a%20b/%C3%A9?q=1 HTTP/1.1\r\n")


def test_no_answer_in_time_is_a_timeout_and_frees_the_connection_slot():
    silent = socket.create_server(("127.0.0.1", 0))  # connections wait in its backlog: never answered
    port = silent.getsockname()[1]
    client = HttpClient(max_connections=1)
    for _ in range(2):  # the second one gets the slot the first timed-out connection gave back
        with pytest.raises(HttpTimeout):
            client.request("POST", "http", "127.0.0.1", port, "/hook", [("Host", "h")], b"{}", timeout=0.3)
    client.close()
    silent.close()
    assert client._open == 0 and client.connections_opened == 2


def test_a_peer_that_drips_its_answer_times_out_on_the_whole_answer_not_per_read():
    """One byte every 0.2 s never trips a per-read timeout of 0.5 s: the timeout must bound the answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    client = HttpClient(max_connections=1)
    with pytest.raises(HttpTimeout):  # per read, the 8.6 s answer would arrive whole and be a 200
        client.request("POST", "http", "127.0.0.1", port, "/hook", [("Host", "h")], b"{}", timeout=0.5)
    stop.set()
    client.close()
    listener.close()
