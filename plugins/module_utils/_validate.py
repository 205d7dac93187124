# Copyright: netplumb.container contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every parser and validator of user input, in one place.

The role filters, the pre-flight of the playbooks and every engine call these,
so that what the playbooks accept is exactly what the modules accept. Each
raises ValidationError with a message that names the option and the value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any

from ansible_collections.netplumb.container.plugins.module_utils._errors import ValidationError

IFNAMSIZ = 15  # bytes, without the trailing NUL
NETNS_NAME_MAX = 64
NETWORK_NAME_MAX = 64
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.@:+-]+$")
_NETNS_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
# A network name becomes a file name (the IPAM store), a bridge name by default and a
# word in rule comments: ASCII letters and digits first, then letters, digits and _.-
_NETWORK_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# systemd unit names (no templates) and POSIX user names (useradd's default rule)
_UNIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
UNIT_NAME_MAX = 200
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

# Ansible's own rules for booleans (ansible.module_utils.parsing.convert_bool).
_TRUE = frozenset(("y", "yes", "on", "1", "true", "t", "1.0"))
_FALSE = frozenset(("n", "no", "off", "0", "false", "f", "0.0"))


def parse_bool(value: Any, what: str, default: bool | None = None) -> bool:
    """A boolean as Ansible reads one: true/false, yes/no, on/off, 1/0 (also as strings); None -> default."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValidationError(f"{what}: {value!r} is not a boolean (use true or false)")


def check_ifname(name: Any, what: str = "interface name") -> str:
    """Linux interface names: 1-15 bytes, no '/', no whitespace, not '.' or '..', not starting with '-'."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{what} must be a non-empty string, got {name!r}")
    if len(name.encode()) > IFNAMSIZ:
        raise ValidationError(f"{what} {name!r} is {len(name.encode())} bytes long; Linux allows at most {IFNAMSIZ}")
    if name in (".", "..") or name.startswith("-") or not _IFNAME_RE.match(name):
        raise ValidationError(
            f"{what} {name!r} has characters Linux does not allow (letters, digits and _.@:+- only, not '-' first)"
        )
    return name


def check_netns_name(name: Any, what: str = "netns name") -> str:
    """Namespace names become files in /run/netns: no '/', no leading dot or dash, bounded length."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{what} must be a non-empty string, got {name!r}")
    if name.startswith((".", "-")) or not _NETNS_RE.match(name):
        raise ValidationError(
            f"{what} {name!r} is not allowed: use letters, digits and _.+- (no '/', not '.' or '-' first)"
        )
    if len(name) > NETNS_NAME_MAX:
        raise ValidationError(f"{what} {name!r} is longer than {NETNS_NAME_MAX} characters")
    return name


def check_network_name(name: Any, what: str = "network name") -> str:
    """Network names: 1-64 ASCII letters, digits and _.- starting with a letter or digit."""
    if not isinstance(name, str) or not _NETWORK_RE.match(name) or len(name) > NETWORK_NAME_MAX:
        raise ValidationError(
            f"{what} {name!r} is not allowed: 1-{NETWORK_NAME_MAX} letters, digits or _.- characters, "
            "starting with a letter or digit"
        )
    return name


def parse_ip(value: Any, what: str = "address") -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 or IPv6 address without prefix length, and without a zone (fe80::1%eth0): neither netlink nor
    the firewalls take one, and an address with a zone is a different one to every comparison here."""
    try:
        address = ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ValidationError(
            f"{what} {value!r} is not a valid IP address (IPv4 or IPv6, without prefix length)"
        ) from None
    if getattr(address, "scope_id", None):
        raise ValidationError(f"{what} {value!r} has a zone (%{address.scope_id}); give the address without it")
    return address


def parse_host_address(
    value: Any, what: str = "address"
) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address with or without prefix length (198.18.0.11 or 198.18.0.11/24); host bits are expected."""
    text = str(value).strip()
    if "/" not in text:
        return parse_ip(text, what)
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise ValidationError(
            f"{what} {value!r} is not a valid IP address (IPv4 or IPv6, optionally with prefix length)"
        ) from None


def parse_subnet(
    value: Any, what: str, version: int | None = None, strict: bool = True
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A subnet in CIDR form with no host bits set (172.17.0.0/16), of the given IP version if one is given.
    ``strict=False`` accepts host bits and clears them (172.17.0.1/16 -> 172.17.0.0/16)."""
    try:
        net = ipaddress.ip_network(str(value).strip(), strict=strict)
    except ValueError as exc:
        raise ValidationError(f"{what}: {value!r} is not a subnet in CIDR form ({exc})") from None
    if version is not None and net.version != version:
        raise ValidationError(f"{what}: {value} is not an IPv{version} subnet")
    return net


def parse_int(value: Any, what: str, low: int, high: int) -> int:
    """A whole number in [low, high]; digits in a string are accepted, booleans and fractions are not."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ValidationError(f"{what}: {value!r} is not a whole number")
    number = int(value)
    if not low <= number <= high:
        raise ValidationError(f"{what}: {number} is out of range ({low}-{high})")
    return number


def parse_port(value: Any, what: str) -> int:
    return parse_int(value, what, 1, 65535)


def parse_mtu(value: Any, what: str) -> int:
    return parse_int(value, what, 68, 65535)


VNI_MAX = 2**24 - 1


def parse_vni(value: Any, what: str) -> int:
    """A VXLAN network identifier: 24 bits, 0 excluded (1-16777215)."""
    return parse_int(value, what, 1, VNI_MAX)


def parse_mac(value: Any, what: str) -> str:
    """A unicast Ethernet address, lower case with colons (dashes accepted): 02:42:ac:11:00:02."""
    text = str(value).strip().lower().replace("-", ":") if isinstance(value, str) else ""
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts):
        raise ValidationError(f"{what} {value!r} is not a MAC address like 02:42:ac:11:00:02")
    if int(parts[0], 16) & 1:
        raise ValidationError(f"{what} {value!r} is a multicast MAC address; an interface needs a unicast one")
    return text


def check_unique(items: list[Any], key, what: str) -> None:
    seen: set = set()
    for item in items:
        k = key(item)
        if k in seen:
            raise ValidationError(f"{what} {k} is listed more than once in config")
        seen.add(k)


def check_no_overlap(subnets: Iterable[tuple[str, Any]], what: str) -> None:
    """(owner, subnet) pairs: subnets of one family and different owners must not overlap."""
    overlap = first_overlap(subnets)
    if overlap is not None:
        (owner_a, net_a), (owner_b, net_b) = overlap
        raise ValidationError(f"{what}: subnets of {owner_a} ({net_a}) and {owner_b} ({net_b}) overlap")


def first_overlap(subnets: Iterable[tuple[Any, Any]]) -> tuple[tuple[Any, Any], tuple[Any, Any]] | None:
    """The first two (owner, subnet) pairs of one IP family and different owners whose subnets overlap, or
    None; the subnets as ip_network. One sort, not a comparison of every pair."""
    nets = sorted(
        ((ipaddress.ip_network(str(net)), owner) for owner, net in subnets),
        key=lambda pair: (pair[0].version, pair[0].network_address, pair[0].prefixlen),
    )
    widest: dict[int, tuple[Any, Any]] = {}
    # Sorted by start: a subnet overlaps an earlier one exactly when it starts inside the widest-reaching one.
    for net, owner in nets:
        prev = widest.get(net.version)
        if prev is not None and net.network_address <= prev[0].broadcast_address and owner != prev[1]:
            return (prev[1], prev[0]), (owner, net)
        if prev is None or net.broadcast_address > prev[0].broadcast_address:
            widest[net.version] = (net, owner)
    return None


def config_list(config: Any, state: str, what: str = "") -> list[Any]:
    """A module's ``config`` as a list; the states that make what it lists (merged, replaced) need an entry."""
    config = config or []
    if state in ("merged", "replaced") and not config:
        raise ValidationError(f"{what}state={state} needs a non-empty config")
    return config


def parse_flags(values: dict[str, Any], defaults: dict[str, bool], where: str) -> dict[str, bool]:
    """Several booleans of one entry, read with parse_bool; a missing or null key takes its default."""
    out = {}
    for key, default in defaults.items():
        value = values.get(key)
        out[key] = default if value is None else parse_bool(value, f"{where}.{key}")
    return out


def check_definition_name(name: Any, what: str = "definition") -> str:
    """A definition (what one playbook's variables make) names a file on the host: the network-name rule."""
    return check_network_name(name, what)


def check_abs_path(value: Any, what: str) -> str:
    """A path on the managed host that must not depend on the module's working directory."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValidationError(f"{what}: {value!r} is not an absolute path")
    return value


def parse_sysctl(key: Any, value: Any, what: str) -> tuple[str, str]:
    """A per-namespace sysctl as text: a net.* key without path tricks, a printable ASCII value."""
    if not isinstance(key, str) or not key.startswith("net.") or "/" in key or ".." in key or not key.isascii():
        raise ValidationError(f"{what}: sysctl {key!r} is not a per-namespace sysctl (it must start with 'net.')")
    if isinstance(value, bool):
        value = int(value)
    text = str(value) if isinstance(value, (str, int)) else None
    if text is None or not text.strip() or not text.isascii() or not text.isprintable():
        raise ValidationError(f"{what}: sysctl {key} value {value!r} is not printable ASCII text or a number")
    return key, text.strip()


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """A JSON document that must be an object (a config file such as Docker's daemon.json)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{what} is not valid JSON ({exc}); it was left untouched, fix or remove it") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{what} is not a JSON object (got {type(data).__name__}); it was left untouched")
    return data


def check_unit_name(name: Any, what: str = "unit name") -> str:
    """A systemd service name without the .service suffix (accepted and dropped), no template '@'."""
    if isinstance(name, str) and name.endswith(".service"):
        name = name[: -len(".service")]
    if not isinstance(name, str) or not _UNIT_RE.match(name) or len(name) > UNIT_NAME_MAX:
        raise ValidationError(
            f"{what} {name!r} is not allowed: use letters, digits and _.:- (a letter or digit first, "
            f"at most {UNIT_NAME_MAX} characters)"
        )
    return name


def check_user_name(name: Any, what: str = "user name") -> str:
    if not isinstance(name, str) or not _USER_RE.match(name):
        raise ValidationError(f"{what} {name!r} is not a user name (lower-case letters, digits, _ and -)")
    return name


def check_command_line(value: Any, what: str) -> str:
    """One line of a systemd unit: printable, no line break (it would start a new directive)."""
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise ValidationError(f"{what}: {value!r} is not a non-empty command on one printable line")
    return value.strip()


HOSTNAME_MAX = 253
# A word of a hosts file or resolv.conf: what getent and the resolver read as one token (no blank, no
# comment sign), bounded like a DNS name; letters, digits and _.+- (container names may hold them all).
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")
_RESOLV_OPTION_RE = re.compile(r"^[A-Za-z0-9_.:+-]+$")


def check_hostname(name: Any, what: str = "host name") -> str:
    """A name in a hosts file or a search domain: 1-253 letters, digits and _.+-, not '.' or '-' first."""
    if not isinstance(name, str) or not _HOSTNAME_RE.match(name) or len(name) > HOSTNAME_MAX or ".." in name:
        raise ValidationError(
            f"{what} {name!r} is not allowed: 1-{HOSTNAME_MAX} letters, digits or _.+- characters, "
            "not '.' or '-' first, no empty label"
        )
    return name


def _text_list(value: Any, what: str) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValidationError(f"{what}: {value!r} is not a list")
    return value


def parse_hosts_entries(value: Any, what: str = "hosts") -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """Entries of a hosts file: [{address, names}] -> ((address, (name, ...)), ...); None stays None."""
    entries = _text_list(value, what)
    if entries is None:
        return None
    out = []
    for index, entry in enumerate(entries):
        where = f"{what}[{index}]"
        if not isinstance(entry, dict):
            raise ValidationError(f"{where}: {entry!r} is not a dict with address and names")
        address = str(parse_ip(entry.get("address"), f"{where}.address"))
        names = _text_list(entry.get("names"), f"{where}.names")
        if not names:
            raise ValidationError(f"{where}.names: {address} needs at least one name")
        out.append((address, tuple(check_hostname(n, f"{where}.names") for n in names)))
    return tuple(out)


def parse_resolv_conf(value: Any, what: str = "resolv_conf") -> dict[str, tuple[str, ...] | None] | None:
    """{nameservers, search, options} of a resolv.conf; a missing or null key means "as the host's"."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError(f"{what}: {value!r} is not a dict with nameservers, search and options")
    unknown = sorted(set(value) - {"nameservers", "search", "options"})
    if unknown:
        raise ValidationError(f"{what}: unknown key {unknown[0]!r} (use nameservers, search, options)")
    return {
        "nameservers": parse_nameservers(value.get("nameservers"), f"{what}.nameservers"),
        "search": parse_search_domains(value.get("search"), f"{what}.search"),
        "options": parse_resolv_options(value.get("options"), f"{what}.options"),
    }


def parse_nameservers(value: Any, what: str) -> tuple[str, ...] | None:
    """Nameserver addresses (a list); None stays None (the host's)."""
    servers = _text_list(value, what)
    return None if servers is None else tuple(str(parse_ip(s, what)) for s in servers)


def parse_search_domains(value: Any, what: str) -> tuple[str, ...] | None:
    domains = _text_list(value, what)
    return None if domains is None else tuple(check_hostname(d, f"{what}: search domain") for d in domains)


def parse_resolv_options(value: Any, what: str) -> tuple[str, ...] | None:
    options = _text_list(value, what)
    for option in options or []:
        if not isinstance(option, str) or not _RESOLV_OPTION_RE.match(option):
            raise ValidationError(f"{what}: {option!r} is not a resolver option such as ndots:2")
    return None if options is None else tuple(options)
