"""The VMAC's sysctls (linux.addresses._write_sysctls) over a fake /proc/sys/net.

A refused write names the sysctl's path and the errno text (what the
``vmac:`` fault reason shows); a kernel without IPv6 (booted with
``ipv6.disable=1``: no ``/proc/sys/net/ipv6``) has no IPv6 settings to make,
which must not stop an IPv4 VMAC.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vrrp.errors import NetlinkError
from vrrp.linux import addresses


def tree(root: Path, *families: str) -> Path:
    for family in families:
        for ifname in ("eth0", "vrrp.5"):
            (root / family / "conf" / ifname).mkdir(parents=True)
    return root


def test_the_values_are_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "SYSCTL_NET", tree(tmp_path, "ipv4", "ipv6"))
    addresses._write_sysctls("vrrp.5", addresses.VMAC_SYSCTLS)
    addresses._write_sysctls("vrrp.5", addresses.VMAC6_SYSCTLS, version=6)
    assert (tmp_path / "ipv4/conf/vrrp.5/arp_ignore").read_text() == "1"
    assert (tmp_path / "ipv6/conf/vrrp.5/addr_gen_mode").read_text() == "1"


def test_a_refused_write_names_the_path_and_the_errno_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(addresses, "SYSCTL_NET", tree(tmp_path, "ipv4"))
    conf = tmp_path / "ipv4/conf/vrrp.5"
    (conf / "arp_ignore").mkdir()  # refused even to root, as EROFS is
    with pytest.raises(NetlinkError) as caught:
        addresses._write_sysctls("vrrp.5", addresses.VMAC_SYSCTLS)
    assert str(caught.value) == f"sysctl {conf}/arp_ignore=1: Is a directory"


def test_a_missing_interface_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "SYSCTL_NET", tree(tmp_path, "ipv4", "ipv6"))
    with pytest.raises(NetlinkError, match="No such file or directory"):
        addresses._write_sysctls("vrrp.6", addresses.VMAC6_SYSCTLS, version=6)


def test_a_kernel_without_ipv6_needs_no_ipv6_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(addresses, "SYSCTL_NET", tree(tmp_path, "ipv4"))
    addresses._write_sysctls("vrrp.5", addresses.VMAC6_SYSCTLS, version=6)
    assert not (tmp_path / "ipv6").exists()
