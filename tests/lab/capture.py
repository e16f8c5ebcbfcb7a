"""Capture VRRP on the lab's wire and decode it with tshark.

tcpdump writes a pcap (inside the switch namespace on ``br0``, which sees every
frame, or on a router's ``eth0``); after ``stop()`` tshark reads the file and
each VRRP advertisement comes back as a plain dict.

Checksums. tshark always verifies the VRRP checksum (``vrrp.checksum.status``:
1 good, 0 bad, 2 unverified). For VRRPv3 over IPv4 there are two forms in the
field, and tshark judges one of them per run, chosen by the preference
``vrrp.v3_checksum_as_in_v2``:

- FALSE (the default): the sum includes the IPv4 pseudo-header (source,
  destination, zero, protocol 112, VRRP length). This is what keepalived sends.
- TRUE: the sum covers the VRRP message only, as in VRRPv2.

So each capture is decoded twice; ``checksum_status`` is tshark's verdict with
default preferences, ``checksum_status_message_only`` the verdict with the
preference set (v3 IPv4 only), and ``checksum_form`` names the form that
matched: ``"v2"`` (VRRPv2), ``"pseudo_header"`` or ``"rfc9568"`` (v3 IPv4),
``"ipv6"`` (v3 IPv6, always with the IPv6 pseudo-header), or None (bad in every
form). Verified against keepalived 2.2.7 / tshark 4.0 in ``tests/netns/test_lab_capture.py``.
"""

from __future__ import annotations

import json
import subprocess
from types import TracebackType
from typing import Any, Final

from .core import Lab, Router, Target
from .netns import ensure_tool

_STATUS: Final = {"0": "bad", "1": "good", "2": "unverified", "3": "not present", "4": "illegal"}

_VRRP_FIELDS: Final = [
    "frame.number",
    "frame.time_epoch",
    "eth.src",
    "eth.dst",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "vrrp.version",
    "vrrp.type",
    "vrrp.virt_rtr_id",
    "vrrp.prio",
    "vrrp.addr_count",
    "vrrp.auth_type",
    "vrrp.adver_int",
    "vrrp.short_adver_int",
    "vrrp.ip_addr",
    "vrrp.ipv6_addr",
    "vrrp.auth_string",
    "vrrp.checksum",
    "vrrp.checksum.status",
]

_OTHER_FIELDS: Final = [
    "frame.number",
    "frame.time_epoch",
    "frame.protocols",
    "eth.src",
    "eth.dst",
    "arp.opcode",
    "arp.src.hw_mac",
    "arp.src.proto_ipv4",
    "arp.dst.proto_ipv4",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "icmpv6.type",
    "icmpv6.nd.na.target_address",
    "icmpv6.nd.na.flag.o",
    "icmpv6.nd.na.flag.r",
    "icmpv6.nd.na.flag.s",
    "icmpv6.opt.linkaddr",
]


def tshark_json(
    pcap: str, display_filter: str, fields: list[str], prefs: dict[str, str] | None = None
) -> list[dict[str, list[str]]]:
    """``tshark -r pcap -Y filter -T json -e ...``: one ``{field: [values]}`` per frame."""
    argv = [ensure_tool("tshark", "tshark"), "-n", "-r", pcap, "-Y", display_filter, "-T", "json"]
    for key, value in (prefs or {}).items():
        argv += ["-o", f"{key}:{value}"]
    for name in fields:
        argv += ["-e", name]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"tshark failed ({proc.returncode}): {proc.stderr.strip()}")
    frames = json.loads(proc.stdout or "[]")
    return [dict(f["_source"]["layers"]) for f in frames]


def _one(layers: dict[str, list[str]], name: str) -> str | None:
    values = layers.get(name)
    return values[0] if values else None


def _int(layers: dict[str, list[str]], name: str) -> int | None:
    value = _one(layers, name)
    return None if value is None else int(value, 0)


def _vrrp_dict(layers: dict[str, list[str]], message_only: dict[int, str]) -> dict[str, Any]:
    version = _int(layers, "vrrp.version")
    ipv6 = _one(layers, "ipv6.src") is not None
    if version == 3:
        advert_interval_cs = _int(layers, "vrrp.short_adver_int") or 0
    else:
        advert_interval_cs = (_int(layers, "vrrp.adver_int") or 0) * 100
    frame = int(layers["frame.number"][0])
    status = _STATUS.get(_one(layers, "vrrp.checksum.status") or "", "absent")
    status_message_only = message_only.get(frame) if version == 3 and not ipv6 else None
    form: str | None = None
    if version == 2:
        form = "v2" if status == "good" else None
    elif ipv6:
        form = "ipv6" if status == "good" else None
    elif status == "good":
        form = "pseudo_header"
    elif status_message_only == "good":
        form = "rfc9568"
    return {
        "frame": frame,
        "time": float(layers["frame.time_epoch"][0]),
        "eth_src": _one(layers, "eth.src"),
        "eth_dst": _one(layers, "eth.dst"),
        "family": "ipv6" if ipv6 else "ipv4",
        "src": _one(layers, "ipv6.src" if ipv6 else "ip.src"),
        "dst": _one(layers, "ipv6.dst" if ipv6 else "ip.dst"),
        "ttl": _int(layers, "ipv6.hlim" if ipv6 else "ip.ttl"),  # TTL or hop limit
        "version": version,
        "type": _int(layers, "vrrp.type"),
        "vrid": _int(layers, "vrrp.virt_rtr_id"),
        "priority": _int(layers, "vrrp.prio"),
        "addr_count": _int(layers, "vrrp.addr_count"),
        "advert_interval_cs": advert_interval_cs,
        "advert_interval": advert_interval_cs / 100,
        "addresses": layers.get("vrrp.ipv6_addr" if ipv6 else "vrrp.ip_addr", []),
        "auth_type": _int(layers, "vrrp.auth_type"),
        "auth_string": _one(layers, "vrrp.auth_string"),
        "checksum": _int(layers, "vrrp.checksum"),
        "checksum_status": status,
        "checksum_status_message_only": status_message_only,
        "checksum_form": form,
    }


def decode_vrrp(pcap: str) -> list[dict[str, Any]]:
    """Every VRRP packet in ``pcap`` as a dict (see the module docstring)."""
    message_only = {
        int(f["frame.number"][0]): _STATUS.get(_one(f, "vrrp.checksum.status") or "", "absent")
        for f in tshark_json(
            pcap,
            "vrrp && ip",
            ["frame.number", "vrrp.checksum.status"],
            {"vrrp.v3_checksum_as_in_v2": "TRUE"},
        )
    }
    return [_vrrp_dict(f, message_only) for f in tshark_json(pcap, "vrrp", _VRRP_FIELDS)]


def decode_other(pcap: str) -> list[dict[str, Any]]:
    """ARP and ICMPv6 frames (gratuitous ARP, unsolicited NA) as flat dicts."""
    out = []
    for layers in tshark_json(pcap, "arp || icmpv6", _OTHER_FIELDS):
        out.append(
            {
                "frame": int(layers["frame.number"][0]),
                "time": float(layers["frame.time_epoch"][0]),
                "protocols": _one(layers, "frame.protocols"),
                "eth_src": _one(layers, "eth.src"),
                "eth_dst": _one(layers, "eth.dst"),
                "arp_opcode": _int(layers, "arp.opcode"),
                "arp_src_mac": _one(layers, "arp.src.hw_mac"),
                "arp_src_ip": _one(layers, "arp.src.proto_ipv4"),
                "arp_dst_ip": _one(layers, "arp.dst.proto_ipv4"),
                "src": _one(layers, "ipv6.src"),
                "dst": _one(layers, "ipv6.dst"),
                "hop_limit": _int(layers, "ipv6.hlim"),
                "icmpv6_type": _int(layers, "icmpv6.type"),
                "na_target": _one(layers, "icmpv6.nd.na.target_address"),
                "na_override": _one(layers, "icmpv6.nd.na.flag.o") in ("1", "True", "true"),
                "na_router": _one(layers, "icmpv6.nd.na.flag.r") in ("1", "True", "true"),
                "na_solicited": _one(layers, "icmpv6.nd.na.flag.s") in ("1", "True", "true"),
                "linkaddr": _one(layers, "icmpv6.opt.linkaddr"),
            }
        )
    return out


class Capture:
    """tcpdump on the bridge (default) or on a router's eth0, stopped by PID.

    ``arp`` / ``icmp6`` widen the filter beyond ``ip proto 112 or ip6 proto 112``.
    Use as a context manager or call ``start()`` / ``stop()``; ``packets()`` then
    decodes VRRP, ``others()`` ARP and ICMPv6.
    """

    def __init__(
        self,
        lab: Lab,
        *,
        on: Router | None = None,
        arp: bool = False,
        icmp6: bool = False,
        name: str = "cap",
    ) -> None:
        self.lab = lab
        self.target: Target = lab.switch_ns if on is None else on
        self.interface = lab.bridge if on is None else on.ifname
        parts = ["ip proto 112", "ip6 proto 112"]
        if arp:
            parts.append("arp")
        if icmp6:
            parts.append("icmp6")
        self.bpf = " or ".join(parts)
        self.pcap = lab.tmpdir / f"{name}-{id(self):x}.pcap"
        self.proc: subprocess.Popen[Any] | None = None

    def start(self) -> Capture:
        # -Z root: tcpdump would drop to its own user and could not write our temp dir.
        argv = [ensure_tool("tcpdump", "tcpdump"), "-n", "-Z", "root", "-i", self.interface,
                "-U", "--immediate-mode", "-s", "0", "-w", str(self.pcap), self.bpf]  # fmt: skip
        self.proc = proc = self.lab.popen(self.target, argv)
        # tcpdump says "listening on" once the socket and filter are in place.
        self.lab.wait_for(
            lambda: "listening on" in self.lab.log_of(proc) or proc.poll() is not None,
            timeout=10.0,
            what=f"tcpdump listening on {self.interface}",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"tcpdump exited {proc.returncode}: {self.lab.log_of(proc)}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.lab.stop(self.proc, timeout=5.0)

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def packets(self) -> list[dict[str, Any]]:
        """VRRP packets captured so far (tcpdump writes each one out at once)."""
        return decode_vrrp(str(self.pcap)) if self.pcap.exists() else []

    def others(self) -> list[dict[str, Any]]:
        return decode_other(str(self.pcap)) if self.pcap.exists() else []


def capture(
    lab: Lab, *, on: Router | None = None, arp: bool = False, icmp6: bool = False
) -> Capture:
    """A started ``Capture``; stop it (or use ``with``) before the final ``packets()``."""
    return Capture(lab, on=on, arp=arp, icmp6=icmp6).start()
