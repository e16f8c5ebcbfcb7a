"""Accept mode in the kernel: the runner's own nftables table (RFC 9568 §6.4.3).

A Master that does not own the virtual addresses and runs with Accept_Mode
False "MUST NOT accept packets addressed to the IPvX address(es) associated
with the virtual router". The runner holds those addresses on the interface
(it must answer ARP and neighbour discovery for them), so the kernel would
accept anything sent to them: this table drops it, in the input hook, for
the addresses the caller names. Kept out of the drop:

- ARP: not IP, an ``inet`` table never sees it (RFC 9568 §6.4.3 (650));
- IPv6 neighbour solicitations and advertisements addressed to a virtual
  address (a neighbour's reachability check, RFC 4861 §7.3): the MUST
  respond to ND of the same section;
- what the host sends itself (``iif lo``): not a packet from the LAN.

The whole table is written at once from :func:`commands` in one nft
transaction (``nft -j -f -``, nft's JSON interface): add it, delete it, add
it again with its sets, chain and rules. So a change is atomic (no moment
without the drop, no stale address) and the table is always the runner's
own, whatever was in it. An empty set of addresses removes the table.
Nothing here decides which addresses are dropped: that is the caller's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Final, Union

from ..errors import NetlinkError

IPAddress = Union[IPv4Address, IPv6Address]

FAMILY: Final = "inet"
TABLE: Final = "failover_vrrp"
CHAIN: Final = "input"
# Before the default filter priority (0): a host firewall's accept cannot let
# a packet to a virtual address through, and ours never accepts past theirs.
PRIORITY: Final = -10
NFT_TIMEOUT: Final = 10.0
# Where nft lives when PATH (a unit's, a test's) does not name /usr/sbin.
_NFT_PLACES: Final = ("/usr/sbin/nft", "/sbin/nft")
_ND_TYPES: Final = ("nd-neighbor-solicit", "nd-neighbor-advert")
_SETS: Final = (("vips4", "ipv4_addr", "ip"), ("vips6", "ipv6_addr", "ip6"))


def nft_program() -> str | None:
    """The ``nft`` program's path (None: not installed)."""
    found = shutil.which("nft")
    if found is not None:
        return found
    for place in _NFT_PLACES:
        if os.access(place, os.X_OK):
            return place
    return None


def _table() -> dict[str, Any]:
    return {"family": FAMILY, "name": TABLE}


def _rule(*expr: dict[str, Any]) -> dict[str, Any]:
    return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": CHAIN, "expr": list(expr)}}}


def _daddr_in(protocol: str, set_name: str) -> dict[str, Any]:
    left = {"payload": {"protocol": protocol, "field": "daddr"}}
    return {"match": {"op": "==", "left": left, "right": f"@{set_name}"}}


def commands(addresses: Iterable[IPAddress]) -> dict[str, Any]:
    """The nft JSON document that makes the table drop packets to ``addresses``."""
    wanted = sorted(set(addresses), key=lambda a: (a.version, int(a)))
    batch: list[dict[str, Any]] = [{"add": {"table": _table()}}, {"delete": {"table": _table()}}]
    if not wanted:
        return {"nftables": batch}
    batch.append({"add": {"table": _table()}})
    chain = {"family": FAMILY, "table": TABLE, "name": CHAIN, "type": "filter",
             "hook": "input", "prio": PRIORITY, "policy": "accept"}  # fmt: skip
    batch.append({"add": {"chain": chain}})
    for name, kind, _unused in _SETS:
        version = 4 if kind == "ipv4_addr" else 6
        elems = [str(a) for a in wanted if a.version == version]
        spec: dict[str, Any] = {"family": FAMILY, "table": TABLE, "name": name, "type": kind}
        if elems:
            spec["elem"] = elems
        batch.append({"add": {"set": spec}})
    iif = {"meta": {"key": "iif"}}
    batch.append(_rule({"match": {"op": "==", "left": iif, "right": "lo"}}, {"accept": None}))
    icmp6 = {"payload": {"protocol": "icmpv6", "field": "type"}}
    batch.append(
        _rule(
            _daddr_in("ip6", "vips6"),
            {"match": {"op": "==", "left": icmp6, "right": {"set": list(_ND_TYPES)}}},
            {"accept": None},
        )
    )
    for name, _kind, protocol in _SETS:
        batch.append(_rule(_daddr_in(protocol, name), {"counter": None}, {"drop": None}))
    return {"nftables": batch}


RULES: Final = 4  # what commands() puts in the chain: lo, ND, and one drop per family


def _nft(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    program = nft_program()
    if program is None:
        raise NetlinkError("nftables: the nft program is not installed (Debian: nftables)")
    try:
        # The argv is ours (nft's absolute path, fixed words), never a shell.
        return subprocess.run(  # noqa: S603
            [program, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=NFT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise NetlinkError(f"nftables: running nft: {exc}") from exc


def apply(addresses: Iterable[IPAddress]) -> None:
    """Make the table drop packets to exactly ``addresses`` (none: no table), atomically."""
    proc = _nft(["-j", "-f", "-"], json.dumps(commands(addresses)))
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise NetlinkError(f"nftables: nft refused the table: {' '.join(detail)[:300]}")


def current() -> frozenset[IPAddress] | None:
    """The addresses the table drops now; None when it is not whole (gone, emptied, changed)."""
    proc = _nft(["-j", "list", "table", FAMILY, TABLE])
    if proc.returncode != 0:
        return None
    try:
        items = json.loads(proc.stdout)["nftables"]
    except (ValueError, KeyError, TypeError):
        return None
    found: set[IPAddress] = set()
    rules = 0
    sets = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        if "rule" in item and item["rule"].get("chain") == CHAIN:
            rules += 1
        spec = item.get("set")
        if isinstance(spec, dict) and spec.get("name") in ("vips4", "vips6"):
            sets.add(spec["name"])
            for elem in spec.get("elem", ()):
                if isinstance(elem, str):
                    found.add(_parse(elem))
    if rules != RULES or len(sets) != len(_SETS):
        return None
    return frozenset(found)


def _parse(text: str) -> IPAddress:
    return IPv6Address(text) if ":" in text else IPv4Address(text)
