"""The SSRF guard: deliveries go to the public internet only, unless an operator allows more.

A webhook URL is configuration, but a mistaken or malicious one could make
the dispatcher call into the network it runs in: a cloud metadata service
(``169.254.169.254``), an admin port on ``localhost``, a database on a
private address. So every target is resolved, and *every* address it
resolves to must be globally routable — loopback, private, link-local,
shared, reserved, multicast and unspecified addresses are refused, IPv4 and
IPv6 alike (an IPv4-mapped IPv6 address is judged as its IPv4 address) —
unless it falls in a network the settings explicitly allow.

The checked address is then the one connected to (:attr:`Target.pinned_url`,
with the original host in ``Host`` and in TLS SNI), so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot redirect
a delivery. Redirects are never followed by the channels, for the same reason.

>>> guard = TargetGuard()
>>> guard.check("http://127.0.0.1:8080/hook")
Traceback (most recent call last):
...
interventions.errors.UnsafeTarget: refused http://127.0.0.1:8080: 127.0.0.1 is a loopback address; to allow it, add its network to the dispatcher's allow_private_networks
>>> TargetGuard(allowed_networks=["127.0.0.0/8"]).check("http://127.0.0.1:8080/hook").pinned_url
'http://127.0.0.1:8080/hook'
>>> TargetGuard().check("https://93.184.215.14/x?y=1").host_header
'93.184.215.14'
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from interventions.errors import DeliveryError, UnsafeTarget

__all__ = ["Target", "TargetGuard", "address_problem"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_DEFAULT_PORTS = {"http": 80, "https": 443}


def address_problem(ip: IPAddress) -> str | None:
    """Why an address is not a safe delivery target (None when it is globally routable)."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        return address_problem(mapped)
    for attr, what in (("is_loopback", "loopback"), ("is_link_local", "link-local"),
                       ("is_unspecified", "unspecified"), ("is_multicast", "multicast"),
                       ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return f"a {what} address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked delivery target: where to connect, and what to call the host in Host and SNI."""

    scheme: str
    host: str
    port: int
    ip: str
    path: str

    @property
    def pinned_url(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


Resolver = Callable[[str, int], Sequence[str]]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class TargetGuard:
    """Checks URLs and pins them to a vetted address; DNS answers are cached for ``cache_s``."""

    def __init__(self, allowed_networks: Sequence[str] = (), resolver: Resolver = _resolve, cache_s: float = 30.0):
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
        self._resolver = resolver
        self._cache_s = cache_s
        self._cache: dict[tuple[str, int], tuple[float, Target]] = {}
        self._lock = threading.Lock()

    def _allowed_here(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self._allowed)

    def check(self, url: str) -> Target:
        """The target of ``url`` pinned to a safe address, or :class:`UnsafeTarget` saying why not."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UnsafeTarget("refused a target that is not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise UnsafeTarget(f"refused a {scheme or 'scheme-less'} URL: only http and https targets are allowed")
        if parts.username or parts.password:
            raise UnsafeTarget(f"refused a {scheme} URL with credentials in it; use the channel secret instead")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise UnsafeTarget(f"refused a {scheme} URL without a host")
        port = port or _DEFAULT_PORTS[scheme]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (f"{scheme}://{host}", port)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._cache_s:
            return Target(scheme, host, port, hit[1].ip, path)
        # Refusals name the origin only: a hook URL's path or query often carries a token, and the
        # refusal goes into receipts, DLQ headers and logs.
        target = Target(scheme, host, port, self._vet(f"{scheme}://{host}:{port}", host, port), path)
        with self._lock:
            self._cache[key] = (now, target)
        return target

    def _vet(self, url: str, host: str, port: int) -> str:
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolver(host, port)]
            except (OSError, UnicodeError) as exc:
                # Resolution failing is an outage of DNS or a typo: the dispatcher may retry it.
                raise DeliveryError("dns", f"cannot resolve {host!r}: {exc}", retryable=True) from None
            if not addresses:
                raise UnsafeTarget(f"refused {url}: {host!r} resolves to no address")
        for ip in addresses:
            problem = address_problem(ip)
            if problem and not self._allowed_here(ip):
                via = "" if str(ip) == host else f"{host!r} resolves to "
                raise UnsafeTarget(f"refused {url}: {via}{ip} is {problem}; to allow it, add its network "
                                   f"to the dispatcher's allow_private_networks")
        return str(addresses[0])
