"""A network allowlist by domain: its patterns, checked when a policy is made, and matching.

A pattern is a host name (`api.github.com`, `localhost`), a wildcard over the names
below one (`*.example.org`: `a.example.org` and `a.b.example.org`, not `example.org`
itself), or an IP address (`10.0.0.7`, `[::1]`); each may end in `:port` to allow that
port only (any port otherwise). No scheme, path, user info or other wildcard.

What a request may reach (`Allowlist.refusal`, `Allowlist.address_refusal`):
- a name listed exactly, or under a listed wildcard; an IP address only if listed;
- a name that is really a number (`127.1`, `2130706433`, `0x7f.1`) never: it is an IP
  address in disguise, and only a listed address may be reached;
- a name that matched only a wildcard must resolve to public addresses: a name under
  an allowed wildcard that points at loopback, a private network or link-local (DNS
  rebinding, `127.0.0.1.nip.io`) is refused. A name listed exactly may resolve to any
  address (`localhost`, an intranet host named on purpose).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Allowlist", "check_allowlist"]

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
_FORBIDDEN = ("/", "@", "?", "#", "\\", "%")
_EXAMPLES = "'api.github.com', '*.example.org', 'localhost:8080' or '10.0.0.7'"


@dataclass(frozen=True)
class _Rule:
    host: str  # a name without its `*.`, or an IP address's canonical text
    wildcard: bool
    port: int | None

    def allows_port(self, port: int) -> bool:
        return self.port is None or self.port == port

    def covers(self, key: str, address: str | None) -> bool:
        if self.wildcard:
            return address is None and key.endswith("." + self.host)
        return key == self.host


class Allowlist:
    """Checked patterns, and what they let a request reach."""

    def __init__(self, patterns: Iterable[str]) -> None:
        """Check `patterns` (see the module's docstring).

        Raises:
            ValueError: A pattern is malformed; the message says how to write it.
        """
        self.patterns = check_allowlist(patterns)
        self._rules = tuple(_rule(pattern) for pattern in self.patterns)

    def refusal(self, host: str, port: int) -> tuple[str | None, bool]:
        """Why a request for `host:port` is refused (None: allowed), and whether exact.

        Exact: a rule names it, not only a wildcard; then it may resolve to any address
        (see `address_refusal`).
        """
        name = host.lower().removesuffix(".")
        bracketed = name.startswith("[") and name.endswith("]")
        address = _ip(name[1:-1] if bracketed else name)
        if bracketed and (address is None or ":" not in address):
            return f"{host!r} is not an IPv6 address in brackets", False
        if address is None and not _is_name(name):
            return f"{host!r} is not a valid host name", False
        if address is None and _numeric(name):
            return f"{host!r} is an IP address written as a name, which is not allowed", False
        key = address or name
        matched = [
            rule for rule in self._rules if rule.allows_port(port) and rule.covers(key, address)
        ]
        if not matched:
            what = "IP address" if address else "domain"
            listed = ", ".join(self.patterns)
            return (
                f"the {what} {host!r} (port {port}) is not in this process's network "
                f"allowlist ({listed}); add it to the policy's network list to reach it"
            ), False
        return None, any(not rule.wildcard for rule in matched)

    @staticmethod
    def address_refusal(host: str, address: str, *, exact: bool) -> str | None:
        """Why `host`, resolved to `address`, may not be reached (None: it may)."""
        if exact or _public(address):
            return None
        return (
            f"{host!r} resolves to {address}, a loopback, private or link-local address, "
            "and matched only a wildcard; list the name itself to reach it"
        )


def check_allowlist(patterns: Iterable[str]) -> tuple[str, ...]:
    """`patterns` normalized (lower case, no trailing dot, `[v6]`), duplicates dropped.

    Raises:
        TypeError: `patterns` is a string, or holds something that is not a string.
        ValueError: A pattern is malformed; the message says how to write it.
    """
    if isinstance(patterns, str | bytes) or not isinstance(patterns, Iterable):
        msg = f"a network allowlist is a list of domain patterns, not {patterns!r}"
        raise TypeError(msg)
    checked: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            msg = f"a network allowlist holds domain patterns (strings), not {pattern!r}"
            raise TypeError(msg)
        normal = _normal(pattern)
        if normal not in checked:
            checked.append(normal)
    return tuple(checked)


def _normal(pattern: str) -> str:
    rule = _rule(pattern)
    host = f"[{rule.host}]" if ":" in rule.host else rule.host
    host = f"*.{host}" if rule.wildcard else host
    return host if rule.port is None else f"{host}:{rule.port}"


def _rule(pattern: str) -> _Rule:
    text = pattern.strip().lower()
    if "://" in text:
        _refuse(pattern, "give the host alone, without a scheme")
    if not text or any(c in text for c in _FORBIDDEN) or any(c.isspace() for c in text):
        _refuse(pattern, "give a host name, with no path, user info or spaces")
    host, port = _split_port(pattern, text)
    wildcard = host.startswith("*.")
    host = host.removeprefix("*.").removesuffix(".")
    address = _ip(host)
    if address is not None:
        if wildcard:
            _refuse(pattern, "a wildcard covers names, not IP addresses")
        return _Rule(address, wildcard=False, port=port)
    if "*" in host or not _is_name(host):
        _refuse(pattern, "a name is letters, digits and '-' in dot-separated labels")
    if _numeric(host):
        _refuse(pattern, "it reads as an IP address; write the address in dotted form")
    if wildcard and "." not in host:
        _refuse(pattern, "a wildcard must cover a domain of two labels or more")
    return _Rule(host, wildcard=wildcard, port=port)


def _split_port(pattern: str, text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if _ip(host) is None or ":" not in host:
            _refuse(pattern, "brackets hold an IPv6 address, such as '[::1]'")
        if rest and not rest.startswith(":"):
            _refuse(pattern, "only ':port' may follow ']'")
        return host, _port(pattern, rest[1:]) if rest else None
    if text.count(":") > 1:
        _refuse(pattern, "write an IPv6 address in brackets, such as '[::1]:443'")
    host, colon, port = text.partition(":")
    return host, _port(pattern, port) if colon else None


def _port(pattern: str, text: str) -> int:
    if not _PORT.fullmatch(text) or not 0 < int(text) < 65536:
        _refuse(pattern, "a port is a number from 1 to 65535")
    return int(text)


def _refuse(pattern: str, why: str) -> None:
    msg = f"network allowlist pattern {pattern!r} is refused: {why} (e.g. {_EXAMPLES})"
    raise ValueError(msg)


def _ip(text: str) -> str | None:
    """The canonical text of `text` as an IP address literal, else None."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _is_name(text: str) -> bool:
    labels = text.split(".")
    return len(text) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _numeric(name: str) -> bool:
    """Whether `name` is really a number.

    That is an IPv4 address in a legacy form that resolvers accept (`127.1`, `0x7f.1`,
    `2130706433`), or a name ending in an all-digit label (no top-level domain does).
    """
    try:
        socket.inet_aton(name)
    except OSError:
        return name.rsplit(".", 1)[-1].isdigit()
    return True


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
