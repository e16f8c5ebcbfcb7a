"""vrrp_scan over a scripted listener (keepalived's captured adverts), and as non-root.

The listening itself (raw sockets in namespaces) is tested in
tests/netns/test_scan.py; here the listener is replaced by one that hands the
golden vectors to the aggregation, so everything between the module's
arguments and its result is the real code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.failover.vrrp.plugins.module_utils import ansible_vrrp_scan
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import scan as linux_scan
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import sockets
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.scan_report import Heard
from ansible_collections.failover.vrrp.plugins.modules import vrrp_scan
from modules_harness import ROOT, run_module

VECTORS = ROOT / "tests/unit/plugins/module_utils/vrrp/vectors"
NAMES = (
    "v2_ipv4_pass_auth_advert",
    "v3_ipv6_link_local_first_advert",
    "v3_ipv4_unicast_old_checksum_advert",
)


def vector(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return doc


class FakeListen:
    """Hands each vector to the scan as heard on ``eth0``; records how it was called."""

    def __init__(self, names: tuple[str, ...] = NAMES) -> None:
        self.names = names
        self.calls: list[tuple[list[str], float]] = []

    def __call__(
        self, interfaces: list[str], *, duration: float, on_heard: Callable[[Heard], None]
    ) -> linux_scan.Listened:
        self.calls.append((list(interfaces), duration))
        for name in self.names:
            doc = vector(name)
            on_heard(
                Heard(
                    interface="eth0",
                    payload=bytes.fromhex(doc["message_hex"]),
                    src=doc["src"],
                    dst=doc["dst"],
                    ttl=doc["ttl"],
                )
            )
        listened = linux_scan.Listened()
        listened.drops["ip_short"] = 1
        listened.listening = [f"{name} IPv4" for name in interfaces]
        return listened


@pytest.fixture
def listen(monkeypatch: pytest.MonkeyPatch) -> FakeListen:
    fake = FakeListen()
    original = ansible_vrrp_scan.scan_segment

    def scan_segment(**kwargs: Any) -> dict[str, Any]:
        return original(**kwargs, listen=fake, own=lambda _warnings: {"192.0.2.250"})

    monkeypatch.setattr(vrrp_scan, "scan_segment", scan_segment)
    monkeypatch.setattr(linux_scan, "up_interfaces", lambda: ["eth0", "eth1"])
    return fake


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str], **kw: Any) -> dict[str, Any]:
    return run_module(vrrp_scan.main, args, capsys=capsys, **kw)


def keepalived_v2(vips: list[str], **extra: Any) -> dict[str, Any]:
    """The instance of the v2 vector (VRID 51) with other ``vips``."""
    return {
        "name": "web",
        "interface": "eth0",
        "vrid": 51,
        "priority": 100,
        "version": 2,
        "virtual_addresses": vips,
        **extra,
    }


def test_routers_from_keepalived_adverts_in_check_mode(
    listen: FakeListen, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run({"duration": 0.5}, capsys, check_mode=True)
    assert result["changed"] is False
    assert listen.calls == [(["eth0", "eth1"], 0.5)]
    assert result["interfaces"] == ["eth0", "eth1"]
    routers = {(r["family"], r["vrid"]): r for r in result["routers"]}
    assert set(routers) == {(4, 51), (6, 53)}
    assert routers[4, 51]["version"] == 2
    assert routers[4, 51]["addresses"] == ["192.0.2.100", "192.0.2.101"]
    assert routers[4, 51]["checksum_form"] == "v2"
    assert routers[4, 51]["auth_type"] == 1
    assert routers[6, 53]["source"] == "fe80::5eff:fe10:1"
    assert routers[6, 53]["advert_interval"] == 1.0
    assert result["drops"] == {"checksum": 1, "ip_short": 1}
    assert result["collisions"] == []
    assert result["instances_checked"] == []


def test_declared_instance_with_other_addresses_collides(
    listen: FakeListen, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run({"instances": [keepalived_v2(["192.0.2.200/24"])]}, capsys)
    (collision,) = result["collisions"]
    assert collision["instance"] == "web"
    assert collision["differs"] == ["addresses"]
    assert result["instances_checked"] == ["web"]
    assert "failed" not in result
    failed = run(
        {"instances": [keepalived_v2(["192.0.2.200/24"])], "fail_on_collision": True}, capsys
    )
    assert failed["failed"] is True
    assert failed["msg"] == collision["msg"]
    assert failed["collisions"] == [collision]


def test_the_same_router_is_no_collision(
    listen: FakeListen, capsys: pytest.CaptureFixture[str]
) -> None:
    same = keepalived_v2(["192.0.2.100/24", "192.0.2.101/24"])
    result = run({"instances": [same], "fail_on_collision": True}, capsys)
    assert result["collisions"] == []


def test_password_is_masked(listen: FakeListen, capsys: pytest.CaptureFixture[str]) -> None:
    inst = keepalived_v2(["192.0.2.200/24"], authentication={"password": "s3cr3t"})
    result = run({"instances": [inst]}, capsys)
    assert "s3cr3t" not in json.dumps(result)
    assert result["collisions"]


def test_instances_from_the_config_dir(
    listen: FakeListen, capsys: pytest.CaptureFixture[str], config_dir: str
) -> None:
    inst = keepalived_v2(["192.0.2.200/24"], version=3)
    Path(config_dir, "instances.d", "web.json").write_text(json.dumps(inst))
    result = run({"config_dir": config_dir}, capsys)
    assert [c["differs"] for c in result["collisions"]] == [["version", "addresses"]]
    missing = run({"config_dir": str(Path(config_dir) / "nosuch")}, capsys)
    assert missing["instances_checked"] == []


def test_bad_instance_fails_before_listening(
    listen: FakeListen, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run({"instances": [keepalived_v2(["192.0.2.200/24"], vrid=0)]}, capsys)
    assert result["failed"] is True
    assert result["path"] == "instances[0].vrid"
    assert listen.calls == []


def test_instances_and_config_dir_exclude_each_other(
    listen: FakeListen, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run({"instances": [], "config_dir": "/etc/failover-vrrp"}, capsys)
    assert result["failed"] is True
    assert "mutually exclusive" in result["msg"]


def test_own_address_is_no_collision(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeListen(("v2_ipv4_pass_auth_advert",))
    original = ansible_vrrp_scan.scan_segment
    monkeypatch.setattr(
        vrrp_scan,
        "scan_segment",
        lambda **kw: original(**kw, listen=fake, own=lambda _w: {"192.0.2.1"}),
    )
    result = run({"interfaces": ["eth0"], "instances": [keepalived_v2(["192.0.2.9/24"])]}, capsys)
    assert result["routers"]
    assert result["collisions"] == []


def test_without_pyroute2_it_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.linux import netlink

    monkeypatch.setattr(netlink, "PYROUTE2_IMPORT_ERROR", "Traceback: no pyroute2")
    fake = FakeListen(("v2_ipv4_pass_auth_advert",))
    original = ansible_vrrp_scan.scan_segment
    monkeypatch.setattr(vrrp_scan, "scan_segment", lambda **kw: original(**kw, listen=fake))
    result = run({"interfaces": ["eth0"]}, capsys)
    assert "failed" not in result
    assert "pyroute2 is missing" in json.dumps(result["warnings"])


def test_bad_duration_and_unknown_interface(capsys: pytest.CaptureFixture[str]) -> None:
    result = run({"interfaces": ["lo"], "duration": 0}, capsys)
    assert result["failed"] is True
    assert "duration 0 s" in result["msg"]
    result = run({"interfaces": ["nosuch0"], "duration": 0.1}, capsys)
    assert result["failed"] is True
    assert "interface 'nosuch0' does not exist" in result["msg"]


def test_refused_raw_socket_says_become(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(sockets.socket, "socket", refuse)
    result = run({"interfaces": ["lo"], "duration": 0.1}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("listening for VRRP adverts needs root (become: true)")
    assert "EPERM" in result["msg"]


PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory an unprivileged user can read (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="vrrp-scan-nobody."))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="drops root to nobody: needs root to start")
def test_as_nobody_the_module_fails_asking_for_become(public_dir: Path) -> None:
    """The real thing: the module run by an unprivileged user, no mock."""
    (public_dir / "ansible_collections" / "failover").mkdir(parents=True)
    (public_dir / "ansible_collections" / "failover" / "vrrp").symlink_to(ROOT)
    args = public_dir / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"interfaces": ["lo"], "duration": 0.1}}))
    args.chmod(0o644)
    out = subprocess.run(
        [PYTHON, "-m", "ansible_collections.failover.vrrp.plugins.modules.vrrp_scan", str(args)],
        env={"PYTHONPATH": f"{public_dir}:{_ansible_path()}", "HOME": "/tmp"},
        user=65534,
        group=65534,
        extra_groups=[],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.stdout.strip().startswith("{"), out
    result = json.loads(out.stdout)
    assert result["failed"] is True, out
    assert result["msg"].startswith("listening for VRRP adverts needs root (become: true)")


def _ansible_path() -> str:
    """Where ansible is installed, if nobody can read it; else the test is skipped."""
    import ansible

    where = str(Path(ansible.__file__).resolve().parents[1])
    probe = subprocess.run(
        [PYTHON, "-c", "import ansible, jsonschema"],
        env={"PYTHONPATH": where},
        user=65534,
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"an unprivileged user cannot import ansible from {where}")
    return where


def test_documentation_matches_the_argument_spec() -> None:
    from test_docs import ANSIBLE_DOC, COLLECTIONS_PATH, argument_spec, same

    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1")
    out = subprocess.run(
        [str(ANSIBLE_DOC), "--json", "failover.vrrp.vrrp_scan"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "ERROR" not in out.stderr and "WARNING" not in out.stderr, out.stderr
    doc = json.loads(out.stdout)["failover.vrrp.vrrp_scan"]["doc"]
    assert doc["module"] == "vrrp_scan"
    same(doc["options"], argument_spec(vrrp_scan), "vrrp_scan")


def test_an_empty_interface_list_is_refused(
    listen: FakeListen, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run({"interfaces": []}, capsys)
    assert result["failed"] is True
    assert result["msg"].endswith("no interface to listen on (interfaces is empty)")
    assert listen.calls == []


def test_no_interface_up(
    listen: FakeListen, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(linux_scan, "up_interfaces", list)
    result = run({}, capsys)
    assert result["failed"] is True
    assert result["msg"].endswith("(no interface is up but the loopback)")


def test_an_instance_on_an_interface_not_listened_on_is_not_checked(
    listen: FakeListen, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = keepalived_v2(["192.0.2.200/24"], name="other", interface="eth9")
    result = run(
        {"interfaces": ["eth0"], "instances": [keepalived_v2(["192.0.2.100/24"]), elsewhere]},
        capsys,
    )
    assert result["instances_checked"] == ["web"]
    assert result["instances_not_checked"] == {"other": "eth9 IPv4 was not listened on"}


def test_a_peer_of_the_group_is_no_collision(
    listen: FakeListen, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rerun that changes a VRID's addresses hears the peer's old ones: the peer is
    one of ours (peer_addresses, ha_pair.yml passes the group's), so no collision."""
    changed = keepalived_v2(["192.0.2.9/24"])
    result = run(
        {"instances": [changed], "peer_addresses": ["192.0.2.1"], "fail_on_collision": True},
        capsys,
    )
    assert "failed" not in result, result.get("msg")
    assert result["routers"] and result["collisions"] == []
    other = run({"instances": [changed], "peer_addresses": ["192.0.2.7"]}, capsys)
    assert [c["source"] for c in other["collisions"]] == ["192.0.2.1"]
    bad = run({"instances": [changed], "peer_addresses": ["r2"]}, capsys)
    assert bad["failed"] is True and "peer_addresses: 'r2' is not an IP address" in bad["msg"]


def test_declared_instances_are_checked_on_a_host_without_jsonschema(
    listen: FakeListen, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ha_pair.yml scans before the role installs the engine's dependencies: on a
    bare host (no jsonschema) the scan still compares the instances, with a warning
    (vrrp_plan checked them against the schema on the controller); a malformed one
    is an error naming the instance, not a traceback."""
    from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import _deps, schema

    monkeypatch.setattr(_deps, "JSONSCHEMA_IMPORT_ERROR", "Traceback: no jsonschema")
    schema._validator.cache_clear()
    try:
        result = run({"instances": [keepalived_v2(["192.0.2.200/24"])]}, capsys)
        broken = run({"instances": [{"name": "web", "vrid": "many"}]}, capsys)
    finally:
        monkeypatch.undo()
        schema._validator.cache_clear()
    assert "failed" not in result, result
    (collision,) = result["collisions"]
    assert collision["instance"] == "web"
    assert result["instances_checked"] == ["web"]
    assert "jsonschema is missing" in json.dumps(result["warnings"]), result
    assert broken["failed"] is True
    assert "instances" in broken["msg"] and "jsonschema" in broken["msg"], broken["msg"]
    assert "Traceback" not in broken["msg"]
