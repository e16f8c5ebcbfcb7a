"""VRRP advertisement codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 9568), IPv4 and IPv6.

Sans-IO: bytes and the IP header's source, destination and TTL in, an
:class:`Advertisement` out, and back.  :func:`decode` applies every
message-level receive check of RFC 9568 §7.1 and RFC 3768 §7.1; the checks
that need a configured virtual router (VRID configured, address owner,
authentication match, address list match, advert interval match) belong to
the state machine.  :func:`encode` is the exact inverse of :func:`decode`:
``encode(decode(m, ...), ...) == m`` for every message ``decode`` accepts.

Wire formats
============

VRRPv2, RFC 3768 §5.1 (``V2_HEADER``, then ``count`` IPv4 addresses, then
the 8 octets of authentication data)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |   Auth Type   |   Adver Int   |          Checksum             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                         IP Address (1)                        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                            .                                  |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                         IP Address (n)                        |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                     Authentication Data (1)                   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                     Authentication Data (2)                   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Adver Int is in whole seconds; :attr:`Advertisement.interval_cs` holds it
times 100.  The authentication data is kept as the 8 octets on the wire
(RFC 3768 §5.3.6 keeps type 1, the clear-text password, only for
compatibility with RFC 2338; keepalived still sends it).

VRRPv3, RFC 9568 §5.1 (``V3_HEADER``, then ``count`` IPv4 or IPv6 addresses;
nothing follows them)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |(rsvd) |     Max Adver Int     |          Checksum             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                      IPvX Address(es)                         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

Max Adver Int is in centiseconds (12 bits, 1..4095).  The 4 reserved bits
"MUST be set to zero on transmission and ignored on reception" (RFC 9568
§5.2.6): ignored, but kept in :attr:`Advertisement.reserved` so that a
message round-trips byte for byte.

Checksum forms
==============

One RFC 1071 sum (16-bit one's complement of the one's complement sum, the
checksum field taken as zero) over the VRRP message, plus, depending on the
form, a pseudo-header.  :attr:`Advertisement.checksum_form` names it:

===================  ========================================================
``"v2"``             VRRPv2: the whole message including the authentication
                     data, no pseudo-header (RFC 3768 §5.3.8).
``"rfc9568"``        VRRPv3 over IPv4: the VRRP message only ("For the IPv4
                     address family, the checksum calculation only includes
                     the VRRP message", RFC 9568 §5.2.8).  VRRPv3 over IPv6:
                     the message plus the RFC 8200 §8.1 pseudo-header
                     (source, destination, 32-bit length, next header 112):
                     the only form there, and what RFC 9568 prescribes.
``"pseudo_header"``  VRRPv3 over IPv4: the message plus an IPv4 pseudo-header
                     (source, destination, zero, protocol 112, 16-bit VRRP
                     length), from RFC 5798 §5.2.8's wording "and a
                     pseudo-header as defined in Section 8.1 of [RFC2460]".
===================  ========================================================

What is in the field (sources read for this module):

* RFC 5798 §5.2.8 asked for the RFC 2460 pseudo-header without saying what
  it is for IPv4.  keepalived, Wireshark and FRR built an IPv4
  pseudo-header; Cisco (per keepalived's ChangeLog) left it out.  RFC 9568
  §5.2.8 settled it the other way: message only for IPv4, pseudo-header for
  IPv6 only.  So ``"pseudo_header"`` is the pre-RFC 9568 form that most
  open-source peers still send, and ``"rfc9568"`` the standard one.
* keepalived (``keepalived/vrrp/vrrp.c``) sends and requires
  ``"pseudo_header"`` for v3 over IPv4.  From 2.2.8 on, ``v3_checksum_as_v2``
  (global_defs or per instance) switches an instance to ``"rfc9568"``.
  Debian 12's keepalived 2.2.7 has no such keyword: the golden vectors show
  it sending ``"pseudo_header"``, also to a unicast peer, where the
  pseudo-header holds the peer's address.  ``vrrp_strict`` changes no
  checksum: its list in keepalived.conf(5) covers VIPs, unicast peers,
  authentication, preempt delay, accept mode and GARP repeats.
* keepalived's ``old_unicast_checksum`` (and its auto-detection of it) is a
  third, broken form: up to 1.3.6 keepalived put 224.0.0.18 in the
  pseudo-header of *unicast* adverts (keepalived issue #642).  It is not
  accepted here (``checksum``); a golden vector shows it refused.
* FRR vrrpd built the IPv4 pseudo-header with the group address
  (``vrrpd/vrrp_packet.c``, multicast only); newer FRR has
  ``[no] vrrp (1-255) checksum-with-ipv4-pseudoheader``: the ``no`` form
  sends ``"rfc9568"``.
* The other one's complement zero: the field must equal the computed value
  exactly (``0x0000``, never ``0xFFFF``, for a sum of ``0xFFFF``), which is
  what RFC 1071 code (keepalived's ``in_csum``, the kernel's) writes; this
  keeps the round trip exact.

:func:`decode` accepts both v3 IPv4 forms and records which one matched
(``"pseudo_header"`` when both do).  :func:`encode` sends the form it is
asked for, else the advert's own, else ``"v2"`` for v2 and ``"rfc9568"``
for v3.

Drop reasons
============

:class:`~.errors.PacketError` ``reason`` values, in the order checked:

==============  ==============================================================
``ttl``         IPv4 TTL / IPv6 hop limit is not 255 (RFC 9568 §7.1,
                RFC 3768 §7.1).
``endpoint``    ``src`` or ``dst`` is not an IP address, or they are of
                different families.
``length``      the message is shorter than the 8-octet fixed header, or its
                length is not exactly the fixed header plus ``count``
                addresses of the family (plus 8 octets of authentication data
                for v2): truncated or trailing bytes.
``version``     version is not 2 or 3.
``type``        type is not 1 (ADVERTISEMENT).
``family``      VRRPv2 over IPv6 (RFC 3768 is IPv4 only).
``count``       the address count is 0.
``checksum``    the checksum matches no form allowed for the version and
                family.
``interval``    the advertisement interval is 0.
==============  ==============================================================

:func:`encode` refuses an advert it cannot send with the same error and
these reasons: ``version``, ``family`` (v2 with IPv6, or addresses not of
the family of ``src``/``dst``), ``count`` (0 or over 255), ``interval``
(v2: not whole seconds 1..255; v3: not 1..4095 cs), ``field`` (VRID,
priority, auth type or reserved out of range; authentication data over 8
octets), ``checksum`` (a form that does not exist for the version and
family), ``endpoint``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final, Union

from .errors import PacketError

VRRP_PROTOCOL: Final = 112
VRRP_MCAST_V4: Final = "224.0.0.18"
VRRP_MCAST_V6: Final = "ff02::12"
VRRP_TTL: Final = 255
VRRP_TYPE_ADVERTISEMENT: Final = 1

CHECKSUM_V2: Final = "v2"
CHECKSUM_RFC9568: Final = "rfc9568"
CHECKSUM_PSEUDO_HEADER: Final = "pseudo_header"
CHECKSUM_FORMS: Final = (CHECKSUM_V2, CHECKSUM_RFC9568, CHECKSUM_PSEUDO_HEADER)

#: version/type, VRID, priority, count, auth type, adver int (s), checksum
V2_HEADER: Final = struct.Struct("!BBBBBBH")
#: version/type, VRID, priority, count, rsvd(4) + max adver int (12, cs), checksum
V3_HEADER: Final = struct.Struct("!BBBBHH")
HEADER_LEN: Final = 8
V2_AUTH_LEN: Final = 8
V2_INTERVAL_MAX_S: Final = 255
V3_INTERVAL_MAX_CS: Final = 0x0FFF

Address = Union[IPv4Address, IPv6Address]

_ADDR_LEN: Final = {4: 4, 6: 16}
_FOLD: Final = 0xFFFF  # 2**16 ≡ 1 (mod 0xFFFF): a sum of 16-bit words ≡ the big integer


@dataclass(frozen=True)
class Advertisement:
    """One VRRP ADVERTISEMENT (type 1, the only type), as on the wire."""

    version: int
    vrid: int
    priority: int
    interval_cs: int
    addresses: tuple[Address, ...]
    auth_type: int = 0
    auth_data: bytes = b""
    checksum_form: str | None = None
    reserved: int = 0  # v3 Rsvd bits, kept only for the byte-exact round trip


@lru_cache(maxsize=1024)
def _endpoint(addr: str) -> tuple[int, int]:
    """(IP version, integer value) of an address string; ValueError if none."""
    parsed = ip_address(addr)
    return parsed.version, int(parsed)


def _endpoints(src: str, dst: str) -> tuple[int, int]:
    """(IP version, pseudo-header sum of both addresses mod 0xFFFF)."""
    try:
        src_family, src_int = _endpoint(src)
        dst_family, dst_int = _endpoint(dst)
    except (ValueError, TypeError):
        raise PacketError("endpoint", f"src {src!r} / dst {dst!r}: not IP addresses") from None
    if src_family != dst_family:
        raise PacketError("endpoint", f"src {src} and dst {dst} are of different families")
    return src_family, (src_int + dst_int) % _FOLD


def _checksum(total: int) -> int:
    """RFC 1071 checksum of words whose sum is ``total`` (field taken as 0)."""
    return -total % _FOLD


@lru_cache(maxsize=1024)
def _multicast(dst: str) -> bool:
    """Whether ``dst`` is a multicast address (an unparsable one counts as one)."""
    try:
        return ip_address(dst).is_multicast
    except ValueError:
        return True


def decode(
    message: bytes, *, src: str, dst: str, ttl: int, any_unicast_ttl: bool = False
) -> Advertisement:
    """Decode and check one VRRP message (the IP payload); raise PacketError.

    ``any_unicast_ttl`` waives the TTL / hop limit check for an advert sent to
    a unicast address (unicast peers across a routed path: keepalived's
    ``unicast_ttl``); a multicast advert needs 255 always (RFC 9568 §7.1).
    """
    if ttl != VRRP_TTL and not (any_unicast_ttl and not _multicast(dst)):
        raise PacketError("ttl", f"TTL/hop limit {ttl}, must be {VRRP_TTL}")
    family, addr_sum = _endpoints(src, dst)
    version, vrid, priority, count, word, checksum = _fixed_fields(message, family)
    form = _checksum_form(message, checksum, version, family, addr_sum)
    if form is None:
        raise PacketError(
            "checksum",
            f"checksum 0x{checksum:04x} matches no v{version} IPv{family} form "
            f"(src {src}, dst {dst})",
        )
    addresses = _addresses(message, family, count)
    if version == 2:
        interval_cs = (word & 0xFF) * 100
        if interval_cs == 0:
            raise PacketError("interval", "Adver Int 0 s")
        return Advertisement(
            version=2,
            vrid=vrid,
            priority=priority,
            interval_cs=interval_cs,
            addresses=addresses,
            auth_type=word >> 8,
            auth_data=bytes(message[-V2_AUTH_LEN:]),
            checksum_form=form,
        )
    interval_cs = word & V3_INTERVAL_MAX_CS
    if interval_cs == 0:
        raise PacketError("interval", "Max Adver Int 0 cs")
    return Advertisement(
        version=3,
        vrid=vrid,
        priority=priority,
        interval_cs=interval_cs,
        addresses=addresses,
        checksum_form=form,
        reserved=word >> 12,
    )


def _fixed_fields(message: bytes, family: int) -> tuple[int, int, int, int, int, int]:
    """(version, VRID, priority, count, word at offset 4, checksum), or PacketError."""
    size = len(message)
    if size < HEADER_LEN:
        raise PacketError("length", f"{size} octets, shorter than the {HEADER_LEN}-octet header")
    ver_type, vrid, priority, count, word, checksum = V3_HEADER.unpack_from(message)
    version = ver_type >> 4
    if version not in (2, 3):
        raise PacketError("version", f"version {version}, must be 2 or 3")
    if ver_type & 0x0F != VRRP_TYPE_ADVERTISEMENT:
        raise PacketError("type", f"type {ver_type & 0x0F}, must be 1 (ADVERTISEMENT)")
    if version == 2 and family == 6:
        raise PacketError("family", "VRRPv2 over IPv6 (RFC 3768 is IPv4 only)")
    if count == 0:
        raise PacketError("count", "address count 0")
    expected = HEADER_LEN + count * _ADDR_LEN[family] + (V2_AUTH_LEN if version == 2 else 0)
    if size != expected:
        raise PacketError(
            "length",
            f"{size} octets, expected {expected} for v{version} with {count} "
            f"IPv{family} address(es)",
        )
    return version, vrid, priority, count, word, checksum


def _checksum_form(
    message: bytes, checksum: int, version: int, family: int, addr_sum: int
) -> str | None:
    """The checksum form ``checksum`` is right in, or None."""
    # The field sits at an even offset and the length is even, so it adds
    # exactly `checksum` to the big integer's residue: take it out.
    msg_sum = (int.from_bytes(message, "big") - checksum) % _FOLD
    if version == 2:
        return CHECKSUM_V2 if checksum == _checksum(msg_sum) else None
    with_pseudo = _checksum(msg_sum + addr_sum + len(message) + VRRP_PROTOCOL)
    if family == 6:
        return CHECKSUM_RFC9568 if checksum == with_pseudo else None
    if checksum == with_pseudo:
        return CHECKSUM_PSEUDO_HEADER
    return CHECKSUM_RFC9568 if checksum == _checksum(msg_sum) else None


_V4_WORDS: Final = [struct.Struct(f"!{n}I") for n in range(256)]
# Per family: 16 octets are one IPv6 address or four IPv4 ones.
_ADDRESS_CACHE: Final[dict[int, dict[bytes, tuple[Address, ...]]]] = {4: {}, 6: {}}
# Bounded in addresses, not only in lists: a LAN peer sending distinct valid
# adverts of 255 addresses made 4096 lists hold 96 to 145 MiB. A cached
# address costs about 90 (IPv4) to 125 (IPv6) bytes with its share of the
# tuple and key: the two families hold well under 1 MiB together.
_ADDRESS_CACHE_MAX_ADDRESSES: Final = 3072  # per family
_ADDRESS_CACHE_MAX_LISTS: Final = 1024  # per family (4 links × 255 VRIDs)
_address_cache_load: Final[dict[int, int]] = {4: 0, 6: 0}  # addresses held per family


def _addresses(message: bytes, family: int, count: int) -> tuple[Address, ...]:
    """The address list; a router hears the same few lists again and again."""
    raw = bytes(message[HEADER_LEN : HEADER_LEN + count * _ADDR_LEN[family]])
    cache = _ADDRESS_CACHE[family]
    cached = cache.get(raw)
    if cached is not None:
        return cached
    result: tuple[Address, ...]
    if family == 4:
        result = tuple(map(IPv4Address, _V4_WORDS[count].unpack(raw)))
    else:
        result = tuple(IPv6Address(raw[off : off + 16]) for off in range(0, len(raw), 16))
    load = _address_cache_load[family] + count
    if load > _ADDRESS_CACHE_MAX_ADDRESSES or len(cache) >= _ADDRESS_CACHE_MAX_LISTS or not cache:
        # Start over: the steady lists come back at their next advert.
        cache.clear()
        load = count
    cache[raw] = result
    _address_cache_load[family] = load
    return result


def encode(advert: Advertisement, *, src: str, dst: str, checksum_form: str | None = None) -> bytes:
    """Build the VRRP message for ``advert`` sent from ``src`` to ``dst``."""
    family, addr_sum = _endpoints(src, dst)
    version = advert.version
    form = checksum_form or advert.checksum_form
    if form is None:
        form = CHECKSUM_V2 if version == 2 else CHECKSUM_RFC9568
    _check_encodable(advert, family, form)
    count = len(advert.addresses)
    if version == 2:
        seconds = advert.interval_cs // 100
        head = V2_HEADER.pack(
            0x21, advert.vrid, advert.priority, count, advert.auth_type, seconds, 0
        )
        body = b"".join(a.packed for a in advert.addresses)
        message = head + body + advert.auth_data.ljust(V2_AUTH_LEN, b"\0")
    else:
        word = advert.reserved << 12 | advert.interval_cs
        head = V3_HEADER.pack(0x31, advert.vrid, advert.priority, count, word, 0)
        message = head + b"".join(a.packed for a in advert.addresses)
    total = int.from_bytes(message, "big")
    if form == CHECKSUM_PSEUDO_HEADER or (version == 3 and family == 6):
        total += addr_sum + len(message) + VRRP_PROTOCOL
    return message[:6] + _checksum(total % _FOLD).to_bytes(2, "big") + message[8:]


def _check_encodable(advert: Advertisement, family: int, form: str) -> None:
    version = advert.version
    if version not in (2, 3):
        raise PacketError("version", f"version {version}, must be 2 or 3")
    if version == 2 and family == 6:
        raise PacketError("family", "VRRPv2 over IPv6 (RFC 3768 is IPv4 only)")
    if not 1 <= len(advert.addresses) <= 255:
        raise PacketError("count", f"{len(advert.addresses)} addresses, must be 1..255")
    if any(a.version != family for a in advert.addresses):
        raise PacketError("family", f"addresses {advert.addresses} are not all IPv{family}")
    for name, value, top in (
        ("vrid", advert.vrid, 255),
        ("priority", advert.priority, 255),
        ("auth_type", advert.auth_type, 255),
        ("reserved", advert.reserved, 15),
    ):
        if not 0 <= value <= top:
            raise PacketError("field", f"{name} {value}, must be 0..{top}")
    if len(advert.auth_data) > V2_AUTH_LEN:
        raise PacketError("field", f"auth_data of {len(advert.auth_data)} octets, at most 8")
    if version == 2:
        _check_v2(advert, form)
    else:
        _check_v3(advert, family, form)


def _check_v2(advert: Advertisement, form: str) -> None:
    seconds, rest = divmod(advert.interval_cs, 100)
    if rest or not 1 <= seconds <= V2_INTERVAL_MAX_S:
        raise PacketError("interval", f"{advert.interval_cs} cs: v2 needs whole 1..255 s")
    if advert.reserved:
        raise PacketError("field", f"reserved {advert.reserved}: VRRPv2 has no reserved bits")
    if form != CHECKSUM_V2:
        raise PacketError("checksum", f"checksum form {form!r} for VRRPv2")


def _check_v3(advert: Advertisement, family: int, form: str) -> None:
    if not 1 <= advert.interval_cs <= V3_INTERVAL_MAX_CS:
        raise PacketError("interval", f"{advert.interval_cs} cs: v3 needs 1..4095 cs")
    if advert.auth_type or advert.auth_data:
        raise PacketError("field", "authentication in a VRRPv3 advert (RFC 9568 has none)")
    allowed = (CHECKSUM_RFC9568,) if family == 6 else (CHECKSUM_RFC9568, CHECKSUM_PSEUDO_HEADER)
    if form not in allowed:
        raise PacketError("checksum", f"checksum form {form!r} for VRRPv3 over IPv{family}")
