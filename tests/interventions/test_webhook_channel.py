"""The webhook and CSM-task channels against a real local HTTP receiver."""

from __future__ import annotations

import time

import orjson
import pytest

from interventions.channels.base import ChannelSpec
from interventions.channels.csm_task import CsmTaskChannel
from interventions.channels.receiver import WebhookReceiver
from interventions.channels.signing import verify
from interventions.channels.ssrf import TargetGuard
from interventions.channels.webhook import WebhookChannel
from interventions.errors import DeliveryError, UnsafeTarget
from schemas.command import InterventionCommand

SECRET = "whsec-test-0123456789"
LOCAL = TargetGuard(allowed_networks=["127.0.0.0/8"])


def _command(n: int = 1) -> InterventionCommand:
    return InterventionCommand(
        command_id=f"cmd-{n}", firing_id=f"f-{n}", account_id="acct-1", trigger="payment_failing",
        intervention="payment_outreach", channel="hook",
        payload={"content": {"title": "Call about payment", "body": "3 failures"}, "evidence": {"count": 3}},
        decided_at="2026-01-05T10:00:00Z", expires_at="2099-01-01T00:00:00Z")


def _channel(cls, url: str, guard: TargetGuard = LOCAL, timeout_s: float = 5.0, ca_file: str | None = None):
    options = {"url": url, "headers": {"X-Team": "success"}, "ca_file": ca_file}
    return cls.build(ChannelSpec("hook", cls.kind, options, timeout_s=timeout_s), SECRET, guard)


def test_webhook_posts_the_command_signed_with_idempotency_key():
    cmd = _command()
    body = cmd.model_dump_json().encode()
    with WebhookReceiver(secret=SECRET.encode()) as rx:
        channel = _channel(WebhookChannel, rx.url("/in"))
        assert channel.deliver(cmd, body) == "HTTP 200"
        channel.close()
    (arrival,) = rx.arrivals
    assert arrival.body == body and arrival.path == "/in"
    assert arrival.signature_ok is True
    assert arrival.idempotency_key == "cmd-1" and arrival.headers["x-forewarn-command-id"] == "cmd-1"
    assert arrival.headers["x-team"] == "success"
    assert arrival.headers["host"] == f"127.0.0.1:{rx.port}"
    # the signature really covers the body: another body does not verify with it
    assert not verify(SECRET.encode(), arrival.headers["x-forewarn-timestamp"], body + b" ",
                      arrival.headers["x-forewarn-signature"], now=time.time())


def test_webhook_signature_with_the_wrong_secret_is_refused_by_the_receiver():
    with WebhookReceiver(secret=b"another-secret") as rx:
        channel = _channel(WebhookChannel, rx.url())
        with pytest.raises(DeliveryError) as err:
            channel.deliver(_command(), b"{}")
        channel.close()
    assert err.value.reason == "rejected" and not err.value.retryable
    assert rx.arrivals[0].signature_ok is False


@pytest.mark.parametrize("status,reason,retryable", [(503, "http_5xx", True), (500, "http_5xx", True),
                                                     (429, "http_429", True), (400, "rejected", False),
                                                     (404, "rejected", False)])
def test_webhook_classifies_failures_for_the_dispatcher(status, reason, retryable):
    with WebhookReceiver(always_fail=True, fail_status=status) as rx:
        channel = _channel(WebhookChannel, rx.url())
        with pytest.raises(DeliveryError) as err:
            channel.deliver(_command(), b"{}")
        channel.close()
    assert (err.value.reason, err.value.retryable) == (reason, retryable)
    assert str(status) in str(err.value)


def test_webhook_timeout_and_refused_connection_are_retryable():
    with WebhookReceiver(delay_s=1.5) as rx:
        channel = _channel(WebhookChannel, rx.url(), timeout_s=1.0)
        with pytest.raises(DeliveryError) as err:
            channel.deliver(_command(), b"{}")
        channel.close()
    assert (err.value.reason, err.value.retryable) == ("timeout", True)
    port = rx.port  # stopped: nothing listens there any more
    channel = _channel(WebhookChannel, f"http://127.0.0.1:{port}/hook")
    with pytest.raises(DeliveryError) as err:
        channel.deliver(_command(), b"{}")
    assert (err.value.reason, err.value.retryable) == ("connection", True)


def test_webhook_to_a_local_receiver_is_refused_without_the_allow_setting():
    with WebhookReceiver() as rx:
        channel = _channel(WebhookChannel, rx.url(), guard=TargetGuard())
        with pytest.raises(UnsafeTarget):
            channel.deliver(_command(), b"{}")
        channel = _channel(WebhookChannel, f"http://localhost:{rx.port}/hook", guard=TargetGuard())
        with pytest.raises(UnsafeTarget):
            channel.deliver(_command(), b"{}")
    assert rx.arrivals == []  # refused before any connection


def test_csm_task_channel_posts_a_signed_task():
    with WebhookReceiver(secret=SECRET.encode()) as rx:
        channel = _channel(CsmTaskChannel, rx.url("/tasks"))
        channel.deliver(_command(7), b"ignored")
        channel.close()
    (arrival,) = rx.arrivals
    task = orjson.loads(arrival.body)
    assert arrival.signature_ok is True and arrival.idempotency_key == "cmd-7"
    assert task["external_id"] == "cmd-7" and task["title"] == "Call about payment"
    assert task["description"] == "3 failures" and task["account_id"] == "acct-1" and task["source"] == "forewarn"


def test_webhook_without_secret_does_not_build_and_repr_hides_the_secret():
    with pytest.raises(DeliveryError, match="signing secret"):
        WebhookChannel.build(ChannelSpec("hook", "webhook", {"url": "https://h.example.com"}), None, LOCAL)
    channel = _channel(WebhookChannel, "https://h.example.com")
    assert SECRET not in repr(channel) and SECRET not in repr(vars(channel))
    channel.close()


def test_each_request_is_one_write_on_a_reused_connection():
    with WebhookReceiver(secret=SECRET.encode()) as rx:
        channel = _channel(WebhookChannel, rx.url())
        for n in range(3):
            channel.deliver(_command(n), _command(n).model_dump_json().encode())
        client = channel._client
        channel.close()
    assert len(rx.accepted()) == 3 and all(a.signature_ok for a in rx.arrivals)
    assert client.connections_opened == 1 and client.recent[0].writes == 3


def test_https_target_is_pinned_to_the_vetted_address_and_verified_against_the_host_name(tmp_path):
    from smtp_peer import self_signed_cert  # the same throwaway certificate for localhost / 127.0.0.1

    cert, key = self_signed_cert(tmp_path)
    with WebhookReceiver(secret=SECRET.encode(), tls_files=(str(cert), str(key))) as rx:
        good = _channel(WebhookChannel, rx.url(host="localhost"), ca_file=str(cert))
        assert good.deliver(_command(), b"{}") == "HTTP 200"
        untrusted = _channel(WebhookChannel, rx.url(host="localhost"))  # system CAs only
        with pytest.raises(DeliveryError) as err:
            untrusted.deliver(_command(2), b"{}")
        good.close(), untrusted.close()
    assert err.value.retryable and err.value.reason == "connection"
    (arrival,) = rx.arrivals
    assert arrival.signature_ok and arrival.headers["host"] == f"localhost:{rx.port}"


def test_a_command_id_no_header_can_carry_fails_for_good_without_sending():
    with WebhookReceiver(secret=SECRET.encode()) as rx:
        channel = _channel(WebhookChannel, rx.url())
        bad = _command().model_copy(update={"command_id": "cmd-1\r\nX-Injected: 1"})
        with pytest.raises(DeliveryError) as err:
            channel.deliver(bad, b"{}")
        channel.close()
    assert (err.value.reason, err.value.retryable) == ("invalid_header", False)
    assert rx.arrivals == []


@pytest.mark.parametrize("headers,match", [("{Content-Length: '5'}", "set by the channel itself"),
                                           ("{X-Forewarn-Signature: v1=x}", "set by the channel itself"),
                                           ("{'X Team': a}", "not a valid header name"),
                                           ("{X-Team: \"a\\r\\nX-Injected: 1\"}", "cannot carry")])
def test_configured_headers_that_would_break_or_spoof_a_request_are_config_errors(headers, match):
    from schemas.config_yaml import ConfigError, load_yaml_text

    node = load_yaml_text(f"{{url: 'https://h.example.com/x', headers: {headers}}}", "channels.yaml").as_map()
    with pytest.raises(ConfigError, match=match) as err:
        WebhookChannel.parse_options(node)
    assert str(err.value).startswith("channels.yaml:1:")
