"""Where Vigie may send an outgoing request (a site's callback URL): a guard against server-side request forgery.

A callback URL is accepted only when it is ``http://`` or ``https://``, carries no ``user:password@``, and its host
resolves only to public addresses: loopback, private (RFC 1918, unique-local), link-local (169.254.0.0/16, where
cloud metadata services answer), carrier-grade NAT, multicast, reserved and unspecified addresses are refused, as
are the well-known metadata host names, unless the operator names them in the allow-list
(``VIGIE_CALLBACK_ALLOW_HOSTS``: host names; ``VIGIE_CALLBACK_ALLOW_NETWORKS``: addresses or CIDR networks).

The check runs when the URL is configured (CLI, dashboard) and again at each delivery, which resolves the host
once, refuses it if any address is not allowed, and connects to the address it checked (``pinned_connection``):
no second DNS lookup between the check and the connection (no DNS-rebinding window), no proxy, no redirect.
Only the standard library is used, so both the web process and the workers can import this module.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_URL_CHARS = 2000
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.internal", "169.254.169.254.nip.io"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """The URL may not be called (its message says why, in words safe to show to the site's admin)."""


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks the operator allows despite the rules above (tests, local development, a receiver on
    the operator's own network)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, hosts: str | None = "", networks: str | None = "") -> AllowList:
        names = frozenset(h.strip().lower().rstrip(".") for h in (hosts or "").split(",") if h.strip())
        nets = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in (networks or "").split(",") if n.strip())
        return cls(hosts=names, networks=nets)

    @classmethod
    def from_settings(cls, settings) -> AllowList:
        return cls.parse(getattr(settings, "callback_allow_hosts", ""), getattr(settings, "callback_allow_networks", ""))

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``addresses``, all allowed) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...] = field(default_factory=tuple)

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped ``::ffff:a.b.c.d``, NAT64, 6to4), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def address_problem(address: IPAddress) -> str | None:
    """Why an address may not be called (a short category), or None for a public unicast address."""
    address = _embedded_ipv4(address)
    for check, why in ((address.is_loopback, "loopback"), (address.is_link_local, "link-local"),
                       (address.is_multicast, "multicast"), (address.is_unspecified, "unspecified"),
                       (address.is_private, "private"), (address.is_reserved, "reserved")):
        if check:
            return why
    if not address.is_global:
        return "not public"
    return None


def _split(url: str) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise UnsafeURL(f"must be an http:// or https:// URL of at most {MAX_URL_CHARS} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise UnsafeURL("must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL("must be an http:// or https:// URL")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeURL("must not carry a user name or password (user:pass@)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL("has no host")
    if not host.isascii():
        raise UnsafeURL("host must be ASCII (write an international name in its xn-- form)")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host.lower(), port or (443 if scheme == "https" else 80), path


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (one DNS lookup)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeURL(f"host {host!r} does not resolve") from None
    out: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 scope id is not part of the address
        if address not in out:
            out.append(address)
    if not out:
        raise UnsafeURL(f"host {host!r} does not resolve")
    return out


def check_url(url: str, allow: AllowList | None = None) -> Target:
    """Check ``url`` and resolve its host once; raises UnsafeURL. The returned target's addresses are the ones to
    connect to (all of them allowed)."""
    allow = allow or AllowList()
    scheme, host, port, path = _split(url)
    host_allowed = host in allow.hosts
    if host in METADATA_HOSTS and not host_allowed:
        raise UnsafeURL(f"host {host!r} is a cloud metadata service")
    literal = _literal(host)
    addresses = [str(literal)] if literal is not None else resolve(host, port)
    if not host_allowed:
        for text in addresses:
            address = ipaddress.ip_address(text)
            problem = address_problem(address)
            if problem and not allow.allows_address(address):
                shown = host if literal is not None else f"{host!r} resolves to a {problem} address ({text}); it"
                raise UnsafeURL(f"{shown} is not allowed as a callback address ({problem}); an operator can "
                                "allow it with VIGIE_CALLBACK_ALLOW_HOSTS or VIGIE_CALLBACK_ALLOW_NETWORKS")
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


# ------------------------------------------------------------------------------------------- pinned requests
def _pinned(base: type[http.client.HTTPConnection], address: str):
    class Pinned(base):  # type: ignore[misc, valid-type]
        """Connects to the checked address; the Host header, TLS SNI and certificate check use the host name."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            port = self.port  # http.client sets _create_connection per instance: replace it per instance
            self._create_connection = lambda _addr, *a, **kw: socket.create_connection((address, port), *a, **kw)

    return Pinned


def pinned_connection(target: Target, timeout_s: float, address: str | None = None) -> http.client.HTTPConnection:
    """An HTTP(S) connection to ``target`` that connects to its checked ``address`` (default: the first)."""
    address = address or target.addresses[0]
    if target.scheme == "https":
        cls = _pinned(http.client.HTTPSConnection, address)
        return cls(target.host, target.port, timeout=timeout_s, context=ssl.create_default_context())
    return _pinned(http.client.HTTPConnection, address)(target.host, target.port, timeout=timeout_s)
