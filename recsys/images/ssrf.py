"""SSRF protection: HTTP connections only to public addresses, checked at connect time.

The check lives in the network backend that opens every TCP connection (first request and
every redirect hop alike), and the connection goes to the very address that was checked, so a
DNS answer cannot change between the check and the connect (DNS rebinding). Private, loopback,
link-local, shared, multicast, reserved and unspecified addresses are refused unless
``allow_private`` (tests use it for their loopback server). A host that resolves to any refused
address is refused as a whole.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import httpcore

Resolver = Callable[[str, int], list[str]]


class AddressRefused(Exception):
    """The host resolves to an address the policy refuses."""


class HostUnresolvable(Exception):
    """DNS has no answer for the host (a failure that retrying right away does not fix)."""


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local)


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals resolve to themselves)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HostUnresolvable(f"cannot resolve {host!r}: {exc.strerror}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise HostUnresolvable(f"cannot resolve {host!r}: no addresses")
    return addresses


class GuardedNetworkBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, connecting only to addresses the policy allows."""

    def __init__(self, allow_private: bool, resolver: Resolver = resolve_host):
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private
        self._resolve = resolver

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = self._resolve(host, port)
        if not self._allow_private:
            refused = [a for a in addresses if not is_public_address(a)]
            if refused:
                raise AddressRefused(f"{host} resolves to non-public address {refused[0]}")
        error: Exception | None = None
        for address in addresses:  # like socket.create_connection: the first that answers
            try:
                return self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                               socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AddressRefused("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
