"""A real SMTP server (aiosmtpd) that records every message, optionally with STARTTLS, AUTH and refusals."""

from __future__ import annotations

import email
import socket
import ssl
import subprocess
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost made by the openssl CLI: (cert, key)."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class RecordingHandler:
    def __init__(self, reply: str | None = None):
        self.messages: list[email.message.Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reply = reply
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        if self.reply:
            return self.reply
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class SmtpPeer:
    """``with SmtpPeer(...) as peer:`` — a running server on 127.0.0.1:``peer.port``."""

    def __init__(self, *, reply: str | None = None, tls_files: tuple[Path, Path] | None = None,
                 login: tuple[str, str] | None = None):
        self.handler = RecordingHandler(reply)
        self.port = free_port()
        kwargs: dict = {}
        if tls_files is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(tls_files[0]), str(tls_files[1]))
            kwargs.update(tls_context=ctx, require_starttls=True)
        if login is not None:
            def authenticate(server, session, envelope, mechanism, auth_data):
                ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == login
                return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself
            kwargs.update(authenticator=authenticate, auth_require_tls=tls_files is not None)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def messages(self):
        return self.handler.messages

    def __enter__(self) -> "SmtpPeer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
