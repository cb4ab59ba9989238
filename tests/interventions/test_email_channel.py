"""The email channel against a real SMTP server (aiosmtpd): plain, STARTTLS with login, refusals."""

from __future__ import annotations

import pytest

from interventions.channels.base import ChannelSpec
from interventions.channels.email import EmailChannel
from interventions.channels.ssrf import TargetGuard
from interventions.errors import DeliveryError
from schemas.command import InterventionCommand
from schemas.config_yaml import load_yaml_text
from smtp_peer import SmtpPeer, free_port, self_signed_cert


def _command(content: dict | None = None) -> InterventionCommand:
    return InterventionCommand(
        command_id="cmd-42", firing_id="f-42", account_id="acct-1", trigger="onboarding_stalled",
        intervention="onboarding_checkin", channel="email",
        payload={"content": content if content is not None else {"subject": "Getting started", "body": "Here is how.",
                                                                   "to": "owner@customer.example"},
                 "evidence": {}},
        decided_at="2026-01-05T10:00:00Z", expires_at="2099-01-01T00:00:00Z")


def _channel(yaml: str, secret: str | None = None) -> EmailChannel:
    options = EmailChannel.parse_options(load_yaml_text(yaml).as_map())
    return EmailChannel.build(ChannelSpec("email", "email", options, timeout_s=5), secret, TargetGuard())


def test_plain_smtp_delivers_the_rendered_message_with_its_command_id():
    with SmtpPeer() as peer:
        channel = _channel(f"{{host: 127.0.0.1, port: {peer.port}, starttls: false, from: 'Success <success@ours.example>'}}")
        assert channel.deliver(_command(), b"") == "SMTP 250"
    (msg,) = peer.messages
    assert msg["Subject"] == "Getting started" and msg["To"] == "owner@customer.example"
    assert msg["Message-ID"] == "<cmd-42@ours.example>" and msg["X-Forewarn-Command-Id"] == "cmd-42"
    assert msg.get_payload().strip() == "Here is how."


def test_starttls_with_login_and_a_private_ca(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    with SmtpPeer(tls_files=(cert, key), login=("forewarn", "pw-123")) as peer:
        channel = _channel(f"{{host: localhost, port: {peer.port}, starttls: true, username: forewarn, "
                           f"from: success@ours.example, to: team@ours.example, ca_file: '{cert}'}}", secret="pw-123")
        channel.deliver(_command({"subject": "Hi", "body": "b"}), b"")  # no "to" in content: the channel's default
        bad = _channel(f"{{host: localhost, port: {peer.port}, username: forewarn, from: s@ours.example, "
                       f"to: t@ours.example, ca_file: '{cert}'}}", secret="wrong")
        with pytest.raises(DeliveryError) as err:
            bad.deliver(_command(), b"")
    assert [m["To"] for m in peer.messages] == ["team@ours.example"]
    assert err.value.reason == "rejected" and not err.value.retryable  # 535 authentication failed
    assert "wrong" not in str(err.value) and "wrong" not in repr(vars(bad))


def test_starttls_refuses_an_untrusted_certificate(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    with SmtpPeer(tls_files=(cert, key)) as peer:
        channel = _channel(f"{{host: localhost, port: {peer.port}, from: s@ours.example}}")  # system CAs only
        with pytest.raises(DeliveryError) as err:
            channel.deliver(_command(), b"")
    assert err.value.retryable and peer.messages == []


@pytest.mark.parametrize("reply,reason,retryable", [("550 mailbox unavailable", "rejected", False),
                                                    ("451 try later", "smtp_4xx", True)])
def test_smtp_refusals_are_classified(reply, reason, retryable):
    with SmtpPeer(reply=reply) as peer:
        channel = _channel(f"{{host: 127.0.0.1, port: {peer.port}, starttls: false, from: s@ours.example}}")
        with pytest.raises(DeliveryError) as err:
            channel.deliver(_command(), b"")
    assert (err.value.reason, err.value.retryable) == (reason, retryable)


def test_no_server_is_retryable_and_no_recipient_is_not():
    channel = _channel(f"{{host: 127.0.0.1, port: {free_port()}, starttls: false, from: s@ours.example}}")
    with pytest.raises(DeliveryError) as err:
        channel.deliver(_command(), b"")
    assert (err.value.reason, err.value.retryable) == ("connection", True)
    with pytest.raises(DeliveryError) as err:
        channel.deliver(_command({"subject": "x", "body": "y"}), b"")
    assert (err.value.reason, err.value.retryable) == ("no_recipient", False)


def test_a_header_injection_attempt_is_refused_not_sent():
    with SmtpPeer() as peer:
        channel = _channel(f"{{host: 127.0.0.1, port: {peer.port}, starttls: false, from: s@ours.example}}")
        with pytest.raises(DeliveryError) as err:
            channel.deliver(_command({"subject": "Hi\r\nBcc: everyone@x.example", "body": "b", "to": "o@c.example"}), b"")
    assert not err.value.retryable and peer.messages == []


def test_a_command_id_with_a_line_break_is_refused_as_a_delivery_error_not_a_crash():
    """The command schema does not forbid it; a ValueError escaping the channel would stop the dispatcher
    on this record after every restart."""
    with SmtpPeer() as peer:
        channel = _channel(f"{{host: 127.0.0.1, port: {peer.port}, starttls: false, from: s@ours.example}}")
        bad = _command().model_copy(update={"command_id": "cmd-1\r\nBcc: everyone@x.example"})
        with pytest.raises(DeliveryError) as err:
            channel.deliver(bad, b"")
    assert err.value.reason == "invalid_message" and not err.value.retryable and peer.messages == []
