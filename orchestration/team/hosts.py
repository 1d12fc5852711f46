"""Where a host name or address points: this machine only (loopback) or beyond it; what
decides whether a server or a scheduler address needs a warning about plain traffic."""

from __future__ import annotations

import ipaddress
import socket


def addresses(host: str) -> set[str]:
    """The addresses a name or address stands for here; OSError where it does not resolve."""
    return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}


def is_loopback(host: str) -> bool:
    """Every address `host` stands for is loopback; False where it does not resolve."""
    try:
        return all(ipaddress.ip_address(address).is_loopback for address in addresses(host))
    except OSError:
        return False
