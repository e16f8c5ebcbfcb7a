"""vrrp_link_probe on this host's real interfaces (lo and whatever the box has)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.module_utils import ansible_vrrp_probes
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import netlink
from ansible_collections.failover.vrrp.plugins.modules import vrrp_link_probe
from modules_harness import run_module


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kw: Any) -> dict[str, Any]:
    return run_module(vrrp_link_probe.main, args, capsys=capsys, **kw)


def test_default_is_every_interface_but_the_loopback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run({}, capsys, check_mode=True)
    assert result["changed"] is False
    names = {name for _index, name in socket.if_nameindex()}
    assert set(result["interfaces"]) == names - {"lo"}


def test_report_for_lo(capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"interfaces": ["lo"]}, capsys)
    report = result["interfaces"]["lo"]
    methods = report["methods"]
    assert set(methods) == {"netlink", "ethtool", "mii", "iff_running"}
    assert methods["netlink"]["supported"] is True
    assert methods["iff_running"] == {
        "supported": True,
        "result": "up",
        "detail": methods["iff_running"]["detail"],
    }
    assert methods["mii"]["supported"] is False
    assert report["best"] in ("ethtool", "iff_running")


def test_required_unsupported_fails_naming_host_interface_method(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run({"interfaces": ["lo"], "required": ["iff_running", "mii"]}, capsys)
    assert result["failed"] is True
    host = socket.gethostname()
    assert result["msg"].startswith(f"host {host}, interface lo: link probe 'mii' is unsupported (")
    assert "iff_running" not in result["msg"]
    assert "lo" in result["interfaces"]


def test_required_supported_passes(capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"interfaces": ["lo"], "required": ["netlink", "iff_running"]}, capsys)
    assert result["changed"] is False
    assert "failed" not in result


def test_unknown_interface(capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"interfaces": ["nosuch0"]}, capsys)
    assert result["failed"] is True
    assert result["msg"] == f"interface 'nosuch0' does not exist on host {socket.gethostname()}"


def test_bad_method(capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"required": ["carrier"]}, capsys)
    assert result["failed"] is True
    assert "required" in result["msg"]
    assert "carrier" in result["msg"]


def test_without_pyroute2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netlink, "PYROUTE2_IMPORT_ERROR", "Traceback: no pyroute2")
    report = run({"interfaces": ["lo"]}, capsys)["interfaces"]["lo"]
    assert report["methods"]["netlink"]["supported"] is False
    result = run({"interfaces": ["lo"], "required": ["netlink"]}, capsys)
    assert result["failed"] is True
    assert "Failed to import the required Python library (pyroute2)" in result["msg"]


def test_loopback_detection_falls_back_to_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ansible_vrrp_probes._is_loopback("lo") is True
    assert ansible_vrrp_probes._is_loopback("nosuch0") is False


def test_eperm_without_root_says_it_needs_root_not_unsupported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login without CAP_NET_ADMIN meets EPERM on the MII ioctls (the kernel
    checks the capability before it asks the driver): the probe was not tried,
    so it is not "unsupported"; the module says to use become."""
    from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import link

    real_ioctl = link.fcntl.ioctl

    def ioctl(fd: int, request: int, buf: Any) -> Any:
        if request in (link.SIOCGMIIPHY, link.SIOCGMIIREG):
            raise PermissionError(1, "Operation not permitted")
        return real_ioctl(fd, request, buf)

    monkeypatch.setattr(link.fcntl, "ioctl", ioctl)
    report = run({"interfaces": ["lo"]}, capsys)["interfaces"]["lo"]
    mii = report["methods"]["mii"]
    assert mii["result"] == "denied", mii
    assert mii["supported"] is False
    assert "EPERM" in mii["detail"] and "root" in mii["detail"], mii
    result = run({"interfaces": ["lo"], "required": ["mii"]}, capsys)
    assert result["failed"] is True
    host = socket.gethostname()
    assert result["msg"].startswith(f"host {host}, interface lo: link probe 'mii' needs root"), (
        result["msg"]
    )
    assert "unsupported" not in result["msg"]
    assert "become: true" in result["msg"]
