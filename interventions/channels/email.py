"""The ``email`` channel: the rendered message over SMTP, with STARTTLS or implicit TLS.

::

    channels:
      email:
        kind: email
        host: smtp.example.com
        port: 587                 # default: 465 with tls, else 587 with starttls, else 25
        starttls: true            # upgrade the connection before authenticating (default true)
        tls: false                # implicit TLS from the first byte (SMTPS)
        username: forewarn        # the password is the channel's secret in the settings
        from: "Success Team <success@example.com>"
        to: success-team@example.com   # used when the template renders no "to"
        ca_file: /etc/ssl/private-ca.pem  # optional: trust this CA instead of the system's

The intervention's template supplies ``subject`` and ``body`` (without a
``body``, its other fields become ``name: value`` lines, so a template that
only names a how-to ``resource`` still reads sensibly) and may supply ``to``,
e.g. ``"{{evidence.owner_email}}"``. The ``Message-ID`` is
derived from the command id and the command id is also sent as
``X-Forewarn-Command-Id`` and ``Idempotency-Key``, so a mail system can
recognise a resend. SMTP 4xx replies, timeouts and dropped connections may
pass on another attempt; 5xx replies will not (``rejected``).

>>> from schemas.config_yaml import load_yaml_text
>>> opts = EmailChannel.parse_options(load_yaml_text("{host: smtp.example.com, from: a@example.com}").as_map())
>>> opts["port"], opts["starttls"], opts["tls"]
(587, True, False)
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, ClassVar

from pydantic import SecretStr

from interventions.channels.base import Channel, ChannelSpec
from interventions.channels.signing import COMMAND_ID_HEADER, IDEMPOTENCY_HEADER
from interventions.channels.ssrf import TargetGuard
from interventions.errors import DeliveryError
from schemas.command import InterventionCommand
from schemas.config_yaml import MapNode

__all__ = ["EmailChannel", "build_message", "plain_body"]


def plain_body(content: dict[str, Any]) -> str:
    """The template's ``body``, or else its other fields as ``name: value`` lines (e.g. a how-to link)."""
    if content.get("body"):
        return str(content["body"])
    skip = {"subject", "to", "html"}
    return "\n".join(f"{k}: {v}" for k, v in content.items() if k not in skip and isinstance(v, (str, int, float)))


def build_message(command: InterventionCommand, sender: str, default_to: str | None) -> EmailMessage:
    """The email for a command; DeliveryError (not retryable) when it has no recipient or subject."""
    content = command.payload.content
    recipient = str(content.get("to") or default_to or "")
    if "@" not in parseaddr(recipient)[1]:
        raise DeliveryError("no_recipient", f"command {command.command_id}: no recipient address (template 'to' "
                            "or the channel's 'to')", retryable=False)
    msg = EmailMessage()
    domain = parseaddr(sender)[1].rpartition("@")[2] or "forewarn.invalid"
    try:  # every header, the command id's too: a line break must be refused, never injected or crash the worker
        msg["From"] = sender
        msg["To"] = recipient
        msg["Subject"] = str(content.get("subject") or command.intervention.replace("_", " "))
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = f"<{command.command_id}@{domain}>"
        msg[COMMAND_ID_HEADER] = command.command_id
        msg[IDEMPOTENCY_HEADER] = command.command_id
    except ValueError as exc:
        raise DeliveryError("invalid_message", f"command {command.command_id!r}: {exc}", retryable=False) from None
    msg.set_content(plain_body(content))
    if content.get("html"):
        msg.add_alternative(str(content["html"]), subtype="html")
    return msg


class EmailChannel(Channel):
    """One SMTP session per message (a mail volume, not a firehose)."""

    kind: ClassVar[str] = "email"
    keys: ClassVar[tuple[str, ...]] = ("host", "port", "starttls", "tls", "username", "from", "to", "ca_file")
    required: ClassVar[Mapping[str, str]] = {"host": "smtp.example.com", "from": "success@example.com"}

    def __init__(self, spec: ChannelSpec, password: str | None):
        super().__init__(spec)
        o = spec.options
        self._host, self._port = o["host"], o["port"]
        self._starttls, self._tls = o["starttls"], o["tls"]
        self._username = o.get("username")
        self._password = SecretStr(password or "")  # masked in every repr and log line
        self._sender, self._default_to = o["from"], o.get("to")
        self._context = ssl.create_default_context(cafile=o.get("ca_file"))

    @classmethod
    def parse_options(cls, node: MapNode) -> dict[str, Any]:
        tls = node.get("tls").as_bool() if node.get("tls") is not None else False
        starttls = node.get("starttls").as_bool() if node.get("starttls") is not None else not tls
        if tls and starttls:
            raise node.require("starttls").error("choose one of tls (implicit TLS) and starttls, not both")
        default_port = 465 if tls else 587 if starttls else 25
        opt = {k: node.get(k) for k in ("port", "username", "to", "ca_file")}
        sender_node = node.require("from", "success@example.com")
        sender = sender_node.as_str(what="sender address", example="success@example.com")
        if "@" not in parseaddr(sender)[1]:
            raise sender_node.error(f"{sender!r} is not an email address; write e.g. success@example.com")
        return {
            "host": node.require("host").as_str(what="SMTP host", example="smtp.example.com"),
            "port": opt["port"].as_int(minimum=1, maximum=65535, example="587") if opt["port"] else default_port,
            "starttls": starttls,
            "tls": tls,
            "username": opt["username"].as_str(what="SMTP user name", example="forewarn") if opt["username"] else None,
            "from": sender,
            "to": opt["to"].as_str(what="recipient address", example="success@example.com") if opt["to"] else None,
            "ca_file": opt["ca_file"].as_str(what="CA file path", example="/etc/ssl/ca.pem") if opt["ca_file"] else None,
        }

    @classmethod
    def build(cls, spec: ChannelSpec, secret: str | None, guard: TargetGuard) -> "EmailChannel":
        if spec.options.get("username") and not secret:
            raise DeliveryError("no_secret", f"channel {spec.name!r} logs in as {spec.options['username']!r} "
                                "but has no password secret", retryable=False)
        return cls(spec, secret)

    def deliver(self, command: InterventionCommand, body: bytes) -> str:
        msg = build_message(command, self._sender, self._default_to)
        try:
            if self._tls:
                smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=self.spec.timeout_s, context=self._context)
            else:
                smtp = smtplib.SMTP(self._host, self._port, timeout=self.spec.timeout_s)
            with smtp:
                if self._starttls:
                    smtp.starttls(context=self._context)
                if self._username:
                    smtp.login(self._username, self._password.get_secret_value())
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError("rejected" if all(c >= 500 for c in codes) else "smtp_4xx",
                                f"{self.name}: recipient refused (SMTP {codes})",
                                retryable=any(c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            raise DeliveryError("rejected" if code >= 500 else "smtp_4xx", f"{self.name}: SMTP {code}",
                                retryable=code < 500) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise DeliveryError("connection", f"{self.name}: {type(exc).__name__}: {str(exc)[:200]}",
                                retryable=True) from None
        if refused:
            raise DeliveryError("rejected", f"{self.name}: recipient refused", retryable=False)
        return "SMTP 250"
