"""Where we may send a callback: refuse targets inside our own network (SSRF).

A ticket's ``callback_url`` comes from whoever created the ticket. Without a check, a webhook
sender could make our worker POST to ``http://169.254.169.254/`` (cloud metadata), to
``localhost`` admin ports or to anything on the private network. So before each POST we:

1. resolve the host ourselves (every A/AAAA record),
2. refuse the target when ANY resolved address is private, loopback, link-local, multicast,
   reserved, unspecified or otherwise not globally routable (IPv4 and IPv6, including
   IPv4-mapped, 6to4 and NAT64 forms of a private IPv4), unless the host is allow-listed in
   ``settings.CALLBACK_ALLOWED_HOSTS``,
3. connect to the address we validated (not to the name again), sending the original ``Host``
   header and TLS SNI. A DNS answer that changes between the check and the connect (DNS
   rebinding) therefore cannot move the request to another address.

Redirects are never followed (a 3xx is a failed attempt), and proxies from the environment are
ignored, since a proxy would do its own resolution.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")


class CallbackTargetRefused(Exception):
    """The target is not allowed. Permanent: retrying will not change the answer."""


class CallbackTargetUnresolvable(Exception):
    """The host name did not resolve. May be temporary (DNS outage), so callers retry."""


@dataclass(frozen=True)
class CallbackTarget:
    url: str  # the URL as given
    scheme: str  # http or https
    host: str  # the host name as given, lower case, IPv6 without brackets
    port: int
    ip: str  # the validated address to connect to
    allow_listed: bool


def address_refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = address_refusal_reason(embedded)
            return f"{reason} (embedded in {address})" if reason else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for label, hit in checks:
        if hit:
            return f"{label} address {address}"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return f"shared (carrier-grade NAT) address {address}"
    if not address.is_global:
        return f"non-global address {address}"
    return None


def host_allow_listed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Exact, case-insensitive match; an entry starting with a dot also matches sub-domains."""
    host = host.lower().rstrip(".")
    for entry in allowed_hosts:
        entry = entry.strip().lower().strip("[]").rstrip(".")
        if not entry:
            continue
        if host == entry or (entry.startswith(".") and host.endswith(entry)):
            return True
    return False


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise CallbackTargetUnresolvable(f"cannot resolve {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        # IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the zone is not part of the address.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise CallbackTargetUnresolvable(f"{host!r} has no addresses")
    return addresses


def callback_target_resolve(*, url: str, allowed_hosts: Iterable[str]) -> CallbackTarget:
    """Validate ``url`` as a callback target and pick the address to connect to.

    Raises CallbackTargetRefused for a target we must never call (permanent) and
    CallbackTargetUnresolvable when DNS gives no answer (possibly temporary).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise CallbackTargetRefused(f"invalid callback URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise CallbackTargetRefused(f"callback URL scheme must be http or https, not {scheme!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise CallbackTargetRefused("callback URL has no host")
    port = port or (443 if scheme == "https" else 80)
    allow_listed = host_allow_listed(host, allowed_hosts)

    addresses = _resolve(host, port)
    if not allow_listed:
        # Every answer must be public: a name with one public and one private record would let
        # the connect step (or a rebinding resolver) pick the private one.
        for address in addresses:
            reason = address_refusal_reason(address)
            if reason:
                raise CallbackTargetRefused(
                    f"callback host {host!r} resolves to a {reason}; "
                    "add it to CALLBACK_ALLOWED_HOSTS if this is intended"
                )
    # Prefer IPv4 when both families answer: it is what most receivers listen on.
    addresses.sort(key=lambda address: address.version)
    return CallbackTarget(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        ip=str(addresses[0]),
        allow_listed=allow_listed,
    )
