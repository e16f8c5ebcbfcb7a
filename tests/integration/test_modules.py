"""The collection's modules on hosts that boot systemd, reached over SSH like real hosts.

One module-scoped pair (r1 192.0.2.11 priority 150, r2 .12 priority 100, preempt
off, VIP 192.0.2.100 on VRID 51) is provisioned once with the role
(``provision.yml``); every test starts from r1 MASTER and r2 BACKUP
(:func:`ready` puts the pair back there when an earlier test moved it) and
drives one module, ad hoc (``ansible routers -m failover.vrrp.…``) or from a
playbook, from the controller namespace:

- ``vrrp_state``: the facts against the runner's own view, a ``wait_for`` that
  times out, a host whose runner is stopped;
- ``vrrp_link_probe``: what veth supports, ``required`` met and unmet;
- ``vrrp_instance``: arguments the spec or the schema refuse, an instance the
  config layer refuses (a VRID twice on one interface), a change the module's
  own validation passes but the runner refuses (the module puts the previous
  file back), and ``--check --diff`` before a real change.

After every refusal the configuration files are compared byte for byte with
what they were, and the runners must still serve: the same PIDs, one MASTER,
the VIP answering ping from the controller.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.conftest import TIMINGS
from integration.hosts import AdhocRun, Host, HostLab, PlaybookRun
from lab import REPO_ROOT

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
UNIT = "failover-vrrp.service"
CONFIG_DIR = "/etc/failover-vrrp"
INSTANCES_D = f"{CONFIG_DIR}/instances.d"
SOCKET = "/run/failover-vrrp/control.sock"
VIP = "192.0.2.100"
PRIORITY = {"r1": 150, "r2": 100}
ADDRESS = {"r1": "192.0.2.11", "r2": "192.0.2.12"}

# The instance provision.yml declares, as module arguments (the priority per host).
WEB: dict[str, Any] = {
    "name": "web",
    "interface": "eth0",
    "vrid": 51,
    "priority": 150,
    "preempt": False,
    "virtual_addresses": [f"{VIP}/24"],
}

# Every regular file under the config directory: mode, owner and the bytes (hex).
SNAPSHOT = """
import json, os
out = {}
for top, _dirs, files in os.walk(%r):
    for name in files:
        path = os.path.join(top, name)
        st = os.lstat(path)
        with open(path, "rb") as handle:
            out[path] = [oct(st.st_mode), st.st_uid, st.st_gid, handle.read().hex()]
print(json.dumps(out, sort_keys=True))
""" % (CONFIG_DIR,)  # noqa: UP031 - the script's own braces stay literal

_runs: dict[str, PlaybookRun] = {}


def engine_version() -> str:
    text = (REPO_ROOT / "plugins" / "module_utils" / "vrrp" / "version.py").read_text()
    match = re.search(r'__version__: Final = "([^"]+)"', text)
    assert match is not None, "no __version__ in version.py"
    return match.group(1)


# --- on the hosts ---------------------------------------------------------------------


def main_pid(lab: HostLab, host: Host) -> int:
    out = lab.on(host, "systemctl", "show", UNIT, "--property=MainPID")
    return int(out.strip().split("=", 1)[1])


def snapshot(lab: HostLab, host: Host) -> dict[str, list[Any]]:
    """Every file under the config directory of ``host``, byte for byte."""
    return dict(json.loads(lab.on(host, "python3", "-c", SNAPSHOT)))


def snapshots(lab: HostLab) -> dict[str, dict[str, list[Any]]]:
    return {name: snapshot(lab, host) for name, host in lab.hosts.items()}


# One SSH login per host for what the tests watch: the runner's PID, its state
# (empty when no runner answers), the addresses of eth0.
STATUS = (
    f"systemctl show --property=MainPID --value {UNIT}; echo ---; "
    "failover-vrrp-ctl state --json 2>/dev/null; echo ---; "
    "ip -j addr show dev eth0"
)


@dataclass(frozen=True)
class Status:
    pid: int
    web: dict[str, Any] | None
    vip: bool

    @property
    def role(self) -> tuple[str, str | None] | None:
        return None if self.web is None else (str(self.web["state"]), self.web.get("master"))


def status(lab: HostLab, host: Host) -> Status:
    parts = lab.on(host, "sh", "-c", STATUS).split("---\n")
    assert len(parts) == 3, parts
    try:
        web: dict[str, Any] | None = json.loads(parts[1])["instances"]["web"]
    except (KeyError, ValueError):
        web = None
    addrs = (a.get("local") for i in json.loads(parts[2]) for a in i.get("addr_info", []))
    return Status(pid=int(parts[0].strip() or 0), web=web, vip=VIP in addrs)


def statuses(lab: HostLab) -> dict[str, Status]:
    return {name: status(lab, host) for name, host in lab.hosts.items()}


def roles_now(lab: HostLab) -> dict[str, tuple[str, str | None] | None]:
    """``{host: (state of web, master heard)}``, None where no runner answers."""
    return {name: now.role for name, now in statuses(lab).items()}


WANTED_ROLES = {"r1": ("MASTER", ADDRESS["r1"]), "r2": ("BACKUP", ADDRESS["r1"])}


def wait_wanted_roles(lab: HostLab, *, timeout: float = 20.0) -> None:
    lab.lab.wait_for(
        lambda: roles_now(lab) == WANTED_ROLES,
        timeout=timeout,
        interval=0.3,
        what="r1 MASTER and r2 BACKUP under r1",
    )


def ready(lab: HostLab) -> dict[str, int]:
    """The pair provisioned (once), r1 MASTER with the VIP, r2 BACKUP hearing r1.

    With preempt off, a test that made r2 MASTER (a changed instance is
    re-created by the reload, and says goodbye with priority 0) leaves it MASTER:
    restarting r2's runner hands the VIP back to r1, and r2 rejoins as BACKUP.
    Returns the runners' PIDs.
    """
    if "provision" not in _runs:
        run = lab.playbook(PLAYBOOKS / "provision.yml")
        TIMINGS["test_modules: provision.yml"] = run.seconds
        _runs["provision"] = run
    run = _runs["provision"]
    assert run.returncode == 0 and run.failed() == 0, run.output[-6000:]

    def settled() -> dict[str, tuple[str, str | None] | None] | None:
        roles = roles_now(lab)
        states = sorted(role[0] for role in roles.values() if role is not None)
        return roles if states == ["BACKUP", "MASTER"] else None

    roles = lab.lab.wait_for(settled, timeout=20, interval=0.3, what="one MASTER, one BACKUP")
    if roles != WANTED_ROLES:
        lab.on(lab.hosts["r2"], "systemctl", "restart", UNIT)
        wait_wanted_roles(lab)
    now = statuses(lab)
    assert {name: st.role for name, st in now.items()} == WANTED_ROLES
    assert (now["r1"].vip, now["r2"].vip) == (True, False)
    return {name: st.pid for name, st in now.items()}


def ping_vip(lab: HostLab) -> None:
    assert lab.controller is not None
    ping = lab.lab.run(lab.controller, ["ping", "-c", "1", "-W", "2", VIP])
    assert ping.returncode == 0, ping.stdout + ping.stderr


def assert_still_serving(lab: HostLab, pids: dict[str, int]) -> None:
    """The same runners, answering on their control sockets, r1 MASTER, the VIP up."""
    now = statuses(lab)
    assert {name: st.pid for name, st in now.items()} == pids
    assert {name: st.role for name, st in now.items()} == WANTED_ROLES
    for name, st in now.items():
        assert st.web is not None and st.web["priority"] == PRIORITY[name]
    assert (now["r1"].vip, now["r2"].vip) == (True, False)
    ping_vip(lab)


def no_traceback(run: AdhocRun | PlaybookRun) -> None:
    assert "Traceback" not in run.output, run.output[-6000:]


def failed_result(run: AdhocRun, host: str) -> dict[str, Any]:
    assert run.returncode != 0, run.output[-4000:]
    assert run.status.get(host) == "FAILED", run.output[-4000:]
    result = run.results[host]
    # A clean fail_json, not a crash: no module stderr, no exception.
    assert "module_stderr" not in result and "exception" not in result, result
    return result


# --- vrrp_state -----------------------------------------------------------------------


def test_state_facts_ad_hoc_match_the_runners(pair: HostLab) -> None:
    pids = ready(pair)
    run = pair.adhoc("routers", "failover.vrrp.vrrp_state")
    TIMINGS["test_modules: ad hoc vrrp_state"] = run.seconds
    assert run.returncode == 0, run.output[-6000:]
    assert run.status == {"r1": "SUCCESS", "r2": "SUCCESS"}, run.output[-6000:]
    no_traceback(run)
    now = time.time()
    for name, host in pair.hosts.items():
        result = run.results[name]
        assert result["changed"] is False
        facts = result["ansible_facts"]["vrrp"]
        assert facts["version"] == engine_version()
        assert facts["pid"] == pids[name]
        assert isinstance(facts["uptime"], float) and 0 < facts["uptime"] < 3600
        assert sorted(facts["instances"]) == ["web"]
        web = facts["instances"]["web"]
        assert web["vrid"] == 51 and web["interface"] == "eth0"
        assert web["virtual_addresses"] == [f"{VIP}/24"]
        assert web["priority"] == PRIORITY[name]
        assert web["effective_priority"] == PRIORITY[name]
        assert web["master"] == ADDRESS["r1"]
        assert web["master_priority"] == 150
        assert web["faults"] == [] and web["demoted"] is None
        assert web["drift"] == [] and facts["drift_count"] == 0, facts["drift"]
        # since: when the last transition happened, within the runner's life.
        assert now - facts["uptime"] - 2 < web["since"] <= now + 1
        history = web["history"]
        assert 1 <= len(history) <= 5, history
        for entry in history:
            assert set(entry) >= {"from", "to", "cause", "time"}, entry
        assert [e["time"] for e in history] == sorted(e["time"] for e in history)
        assert history[-1]["to"] == web["state"]
        assert history[-1]["time"] == pytest.approx(web["since"], abs=0.5)
        # The runner says the same over its own socket.
        own = pair.runner_state(host)["instances"]["web"]
        assert (own["state"], own["master"], own["priority"]) == (
            web["state"],
            web["master"],
            web["priority"],
        )
    assert run.results["r1"]["ansible_facts"]["vrrp"]["instances"]["web"]["state"] == "MASTER"
    assert run.results["r2"]["ansible_facts"]["vrrp"]["instances"]["web"]["state"] == "BACKUP"


def test_state_wait_for_times_out_naming_the_instance_and_its_state(pair: HostLab) -> None:
    ready(pair)
    args = {"wait_for": "MASTER", "instances": ["web"], "timeout": 2}
    run = pair.adhoc("r2", "failover.vrrp.vrrp_state", args)
    result = failed_result(run, "r2")
    no_traceback(run)
    msg = result["msg"]
    assert "timed out after 2 s waiting for MASTER" in msg, msg
    assert f"web is BACKUP (master {ADDRESS['r1']}, priority 150)" in msg, msg
    assert run.seconds >= 2.0
    # The wait that is already satisfied returns at once, with how long it took
    # (and history 0 leaves the transitions out).
    run = pair.adhoc("r2", "failover.vrrp.vrrp_state", {**args, "wait_for": "BACKUP", "history": 0})
    assert run.status == {"r2": "SUCCESS"}, run.output[-4000:]
    assert 0 <= run.results["r2"]["elapsed"] < 2.0
    web = run.results["r2"]["ansible_facts"]["vrrp"]["instances"]["web"]
    assert (web["state"], web["master"], web["history"]) == ("BACKUP", ADDRESS["r1"], [])


def test_state_on_a_host_whose_runner_is_stopped(pair: HostLab) -> None:
    ready(pair)
    r2 = pair.hosts["r2"]
    pair.on(r2, "systemctl", "stop", UNIT)
    try:
        assert pair.on(r2, "systemctl", "is-active", UNIT, check=False).strip() == "inactive"
        run = pair.adhoc("routers", "failover.vrrp.vrrp_state")
        result = failed_result(run, "r2")
        no_traceback(run)
        assert result["msg"] == f"no runner is listening on {SOCKET}", result
        # The other host is not affected by its peer's failure.
        assert run.status["r1"] == "SUCCESS"
        assert run.results["r1"]["ansible_facts"]["vrrp"]["instances"]["web"]["state"] == "MASTER"
    finally:
        pair.on(r2, "systemctl", "start", UNIT)
        # Preempt off and r1 still MASTER: r2 comes back as BACKUP under r1.
        wait_wanted_roles(pair)
    ping_vip(pair)


# --- vrrp_link_probe ------------------------------------------------------------------


def test_link_probe_reports_what_veth_supports(pair: HostLab) -> None:
    ready(pair)
    run = pair.adhoc("routers", "failover.vrrp.vrrp_link_probe", {"interfaces": ["eth0"]})
    assert run.returncode == 0, run.output[-6000:]
    assert run.status == {"r1": "SUCCESS", "r2": "SUCCESS"}, run.output[-6000:]
    for name, host in pair.hosts.items():
        result = run.results[name]
        assert result["changed"] is False
        assert sorted(result["interfaces"]) == ["eth0"]
        eth0 = result["interfaces"]["eth0"]
        methods = eth0["methods"]
        assert sorted(methods) == ["ethtool", "iff_running", "mii", "netlink"]
        assert methods["netlink"]["supported"] is True
        assert methods["netlink"]["result"] == "events"
        assert (methods["ethtool"]["supported"], methods["ethtool"]["result"]) == (True, "up")
        assert methods["iff_running"]["supported"] is True
        assert methods["iff_running"]["result"] == "up"
        # veth answers EOPNOTSUPP to the MII ioctls.
        assert methods["mii"]["supported"] is False
        assert methods["mii"]["result"] == "unsupported"
        assert "EOPNOTSUPP" in methods["mii"]["detail"], methods["mii"]
        assert eth0["best"] == "ethtool"
        # ... and the runner polls that very probe.
        assert pair.runner_state(host)["instances"]["web"]["link_probe"] == eth0["best"]


def test_link_probe_required_methods(pair: HostLab) -> None:
    ready(pair)
    run = pair.adhoc(
        "routers", "failover.vrrp.vrrp_link_probe", {"interfaces": ["eth0"], "required": ["mii"]}
    )
    no_traceback(run)
    for name in pair.hosts:
        result = failed_result(run, name)
        msg = result["msg"]
        assert f"host {name}, interface eth0: link probe 'mii' is unsupported" in msg, msg
        assert "EOPNOTSUPP" in msg
        # The report comes with the failure.
        assert result["interfaces"]["eth0"]["best"] == "ethtool"
    run = pair.adhoc(
        "routers",
        "failover.vrrp.vrrp_link_probe",
        {"interfaces": ["eth0"], "required": ["ethtool", "netlink", "iff_running"]},
    )
    assert run.returncode == 0, run.output[-6000:]
    assert run.status == {"r1": "SUCCESS", "r2": "SUCCESS"}


# --- vrrp_instance: refusals ----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        pytest.param({"vrid": 300}, ["vrid", "300"], id="vrid-300"),
        pytest.param({"colour": "blue"}, ["Unsupported parameters", "colour"], id="unknown-option"),
        pytest.param(
            {"virtual_addresses": ["192.0.2.300/24"]},
            ["virtual_addresses[0]", "192.0.2.300"],
            id="not-an-address",
        ),
        pytest.param({"priority": 0}, ["priority", "0"], id="priority-0"),
    ],
)
def test_instance_bad_arguments_change_nothing(
    pair: HostLab, changes: dict[str, Any], named: list[str]
) -> None:
    pids = ready(pair)
    before = snapshots(pair)
    run = pair.adhoc("routers", "failover.vrrp.vrrp_instance", {**WEB, **changes})
    no_traceback(run)
    for name in pair.hosts:
        msg = failed_result(run, name)["msg"]
        for word in named:
            assert word in msg, msg
    assert snapshots(pair) == before
    assert_still_serving(pair, pids)


def test_instance_with_a_vrid_already_used_on_the_interface_is_refused(pair: HostLab) -> None:
    pids = ready(pair)
    before = snapshots(pair)
    twin = {**WEB, "name": "twin", "priority": 100, "virtual_addresses": ["192.0.2.101/24"]}
    run = pair.adhoc("routers", "failover.vrrp.vrrp_instance", twin)
    no_traceback(run)
    for name in pair.hosts:
        result = failed_result(run, name)
        msg = result["msg"]
        # Files load in name order (twin.json, then web.json): the clash is met
        # at web.json, which this task does not touch, so the message also names
        # the instance the task declares.
        assert result["file"] == f"{INSTANCES_D}/web.json", result
        assert msg == (
            f"{INSTANCES_D}/web.json: vrid: VRID 51 is already used on eth0 for IPv4 "
            'by instance "twin" (a clash with instances.d/twin.json as this task declares it)'
        ), msg
        assert result["path"] == "vrid", result
    assert snapshots(pair) == before  # no twin.json, web.json as it was
    assert_still_serving(pair, pids)


def test_instance_the_runner_refuses_is_rolled_back(pair: HostLab) -> None:
    """A change that passes the module's own whole-directory check but not the runner.

    The module runs as root with every capability; the runner as root with only
    CAP_NET_ADMIN and CAP_NET_RAW, so it cannot read a fragment that another user
    owns with mode 0600 (no CAP_DAC_OVERRIDE). The module reads that fragment,
    finds the directory valid, writes, and the runner refuses the reload: the
    module must put the previous file back (or remove the new one) and fail with
    the runner's error, and the runner keeps running what it ran.
    """
    pids = ready(pair)
    r1 = pair.hosts["r1"]
    original = snapshots(pair)
    private = f"{INSTANCES_D}/private.json"
    fragment = {
        "name": "private",
        "interface": "eth0",
        "vrid": 61,
        "virtual_addresses": ["192.0.2.161/24"],
    }
    pair.on(
        r1,
        "sh",
        "-c",
        f"printf '%s\\n' '{json.dumps(fragment)}' > {private} && "
        f"chown 65534:65534 {private} && chmod 0600 {private}",
    )
    try:
        with_private = snapshot(pair, r1)
        assert set(with_private) == {*original["r1"], private}
        refused_before = json.loads(pair.on(r1, "failover-vrrp-ctl", "stats", "--json"))

        # A changed instance: web.json goes back to what it was, byte for byte.
        run = pair.adhoc("r1", "failover.vrrp.vrrp_instance", {**WEB, "priority": 140})
        no_traceback(run)
        msg = failed_result(run, "r1")["msg"]
        assert msg.startswith(
            "the runner refused the new configuration and keeps running the previous one "
            f"({INSTANCES_D}/web.json was restored): "
        ), msg
        assert private in msg and "Permission denied" in msg, msg
        assert snapshot(pair, r1) == with_private

        # A new instance: its file is removed again.
        extra = {**WEB, "name": "extra", "vrid": 62, "virtual_addresses": ["192.0.2.162/24"]}
        run = pair.adhoc("r1", "failover.vrrp.vrrp_instance", extra)
        no_traceback(run)
        msg = failed_result(run, "r1")["msg"]
        assert f"({INSTANCES_D}/extra.json was removed again)" in msg, msg
        assert private in msg, msg
        assert snapshot(pair, r1) == with_private

        refused_after = json.loads(pair.on(r1, "failover-vrrp-ctl", "stats", "--json"))
        assert _refused(refused_after) == _refused(refused_before) + 2
        assert sorted(pair.runner_state(r1)["instances"]) == ["web"]
    finally:
        pair.on(r1, "rm", "-f", private)
    assert snapshots(pair) == original
    assert_still_serving(pair, pids)


def _refused(stats: dict[str, Any]) -> int:
    """The runner's count of refused reloads (a counter never bumped is absent)."""
    return int(stats["runner"].get("reloads_refused", 0))


# --- vrrp_instance: check mode, diff, the real change ---------------------------------


def web_priority(lab: HostLab, priority: int, *args: str) -> PlaybookRun:
    return lab.playbook(
        PLAYBOOKS / "modules_web_priority.yml",
        extra_vars={"target": "r1", "web_priority": priority},
        args=args,
    )


def test_instance_check_diff_then_apply_then_idempotent(pair: HostLab) -> None:
    pid = ready(pair)["r1"]
    r1 = pair.hosts["r1"]
    before = snapshots(pair)
    web_json = f"{INSTANCES_D}/web.json"
    try:
        check = web_priority(pair, 140, "--check", "--diff")
        TIMINGS["test_modules: vrrp_instance --check --diff"] = check.seconds
        assert check.returncode == 0, check.output[-6000:]
        assert set(check.recap) == {"r1"}
        assert check.changed() == 1, check.output[-6000:]
        assert f"--- before: {web_json}" in check.output, check.output[-6000:]
        assert '-  "priority": 150,' in check.output, check.output[-6000:]
        assert '+  "priority": 140,' in check.output, check.output[-6000:]
        # Check mode wrote nothing and reloaded nothing.
        assert snapshots(pair) == before
        assert pair.runner_state(r1)["instances"]["web"]["priority"] == 150

        real = web_priority(pair, 140, "--diff")
        assert real.returncode == 0, real.output[-6000:]
        assert real.changed() == 1, real.output[-6000:]
        assert '+  "priority": 140,' in real.output
        written = json.loads(pair.on(r1, "cat", web_json))
        assert written["priority"] == 140
        assert {k: v for k, v in written.items() if k != "priority"} == {
            k: v for k, v in json.loads(bytes.fromhex(before["r1"][web_json][3])).items()
            if k != "priority"
        }  # fmt: skip
        web = pair.runner_state(r1)["instances"]["web"]
        assert (web["priority"], web["effective_priority"]) == (140, 140)
        assert main_pid(pair, r1) == pid  # reloaded, not restarted
        assert snapshot(pair, pair.hosts["r2"]) == before["r2"]

        again = web_priority(pair, 140)
        assert again.returncode == 0 and again.changed() == 0, again.output[-6000:]
    finally:
        back = web_priority(pair, 150)
        assert back.returncode == 0, back.output[-6000:]
    assert snapshots(pair) == before
    ready(pair)
    ping_vip(pair)
