"""The SSRF guard refuses private targets, by address and by DNS name, unless a network is allowed."""

from __future__ import annotations

import pytest

from interventions.channels.ssrf import TargetGuard
from interventions.errors import UnsafeTarget

REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",       # IPv4-mapped loopback
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://172.16.5.4/hook",
    "https://100.64.0.1/hook",              # shared address space (carrier-grade NAT)
    "http://0.0.0.0/hook",
    "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/hook",          # the IPv6 metadata address
    "http://localhost/hook",                # a DNS name resolving to loopback (real resolver)
    "http://localhost:9999/hook",
    "http://2130706433/hook",               # 127.0.0.1 written as one number
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_loopback_link_local_and_metadata_targets_are_refused(url):
    with pytest.raises(UnsafeTarget) as err:
        TargetGuard().check(url)
    assert err.value.reason == "unsafe_target" and not err.value.retryable
    assert "allow_private_networks" in str(err.value) or "refused" in str(err.value)


def test_dns_names_resolving_to_metadata_or_private_addresses_are_refused():
    answers = {"metadata.internal.example": ["169.254.169.254"], "mixed.example": ["93.184.215.14", "10.0.0.7"],
               "v6.example": ["::1"]}
    guard = TargetGuard(resolver=lambda host, port: answers[host])
    for host in answers:
        with pytest.raises(UnsafeTarget, match=host.replace(".", r"\.")):
            guard.check(f"https://{host}/hook")


def test_public_targets_pass_and_are_pinned_to_the_vetted_address():
    guard = TargetGuard(resolver=lambda host, port: ["93.184.215.14"])
    target = guard.check("https://hooks.example.com:8443/in?x=1")
    assert target.pinned_url == "https://93.184.215.14:8443/in?x=1"
    assert target.host_header == "hooks.example.com:8443" and target.host == "hooks.example.com"


def test_allowed_networks_open_exactly_those_networks():
    guard = TargetGuard(allowed_networks=["127.0.0.1/32", "::1/128"])
    assert guard.check("http://localhost:8080/x").ip == "127.0.0.1"
    assert guard.check("http://[::1]:8080/x").pinned_url == "http://[::1]:8080/x"
    with pytest.raises(UnsafeTarget):
        guard.check("http://169.254.169.254/")
    with pytest.raises(UnsafeTarget):
        guard.check("http://127.0.0.2/")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x", "http://user:pw@example.com/",
                                 "http:///nohost"])
def test_other_schemes_credentials_and_missing_hosts_are_refused(url):
    with pytest.raises(UnsafeTarget):
        TargetGuard(resolver=lambda host, port: ["93.184.215.14"]).check(url)


def test_dns_answers_are_cached_so_a_rebinding_answer_is_not_seen_within_the_cache():
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    guard = TargetGuard(resolver=lambda host, port: next(answers), cache_s=60)
    assert guard.check("https://rebind.example/a").ip == "93.184.215.14"
    assert guard.check("https://rebind.example/b").pinned_url == "https://93.184.215.14:443/b"
    with pytest.raises(UnsafeTarget):  # once the cache expires, the new answer is vetted again
        TargetGuard(resolver=lambda host, port: ["127.0.0.1"], cache_s=0).check("https://rebind.example/a")


def test_a_refusal_names_the_origin_never_the_path_or_query_that_may_carry_a_token():
    """Refusals end up in receipts, DLQ headers and logs; hook URLs often carry a secret in the path."""
    from interventions.errors import UnsafeTarget

    for url in ("http://127.0.0.1:8080/hooks/T0K3N-SECRET?key=T0K3N-SECRET", "ftp://x.example/T0K3N-SECRET",
                "http://[::1/T0K3N-SECRET"):
        try:
            TargetGuard().check(url)
        except UnsafeTarget as exc:
            assert "T0K3N-SECRET" not in str(exc), str(exc)
        else:
            raise AssertionError(f"{url} was not refused")
