"""Ask the runner what it is doing, over its control socket.

``PYTHONPATH=plugins/module_utils python3 -m vrrp.ctl [--socket PATH]
[--timeout S] COMMAND [--json] [ARGS]`` with COMMAND one of ``state``,
``stats``, ``history [--instance NAME] [--limit N]``, ``reload``,
``demote [--instance NAME] [--priority N]``, ``restore [--instance NAME]``,
``version``. Without ``--instance``, ``demote`` and ``restore`` act on every
instance; ``demote`` without ``--priority`` resigns: the Master keeps serving
while it advertises priority 0, hands over as soon as a peer takes over, and
stays Backup at priority 1 until ``restore``.

Output is a table for people; ``--json`` prints the runner's raw result.
Exit status: 0 done, 1 the runner refused the request (the reason is on
stderr) or the exchange failed, 2 no runner listens on the socket,
64 bad command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NoReturn, TextIO

from .cli import say
from .control import DEFAULT_SOCKET, NoRunnerError, request
from .errors import ControlError
from .priorities import MAX_DEMOTION
from .version import __version__

EXIT_REFUSED: Final = 1
EXIT_NO_RUNNER: Final = 2
EXIT_USAGE: Final = 64  # sysexits.h EX_USAGE: 2 already means "no runner"


def age(seconds: float) -> str:
    """A duration as a person reads it: ``42s``, ``5m03s``, ``3h12m``, ``2d04h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _dash(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def format_state(result: Mapping[str, Any], *, now: float) -> str:
    head = (
        f"runner {result.get('version', '?')}, pid {result.get('pid', '?')}, "
        f"up {age(float(result.get('uptime', 0)))}"
    )
    instances: Mapping[str, Mapping[str, Any]] = result.get("instances") or {}
    if not instances:
        return f"{head}\nno instances"
    rows = []
    for name, inst in sorted(instances.items()):
        master = _dash(inst.get("master"))
        if inst.get("master_priority") is not None:
            master += f" ({inst['master_priority']})"
        notes = []
        if inst.get("demoted") is not None:
            notes.append(f"demoted to {inst['demoted']}")
        if inst.get("faults"):
            notes.append("faults: " + ", ".join(map(str, inst["faults"])))
        since = inst.get("since")
        rows.append(
            [
                name,
                _dash(inst.get("vrid")),
                _dash(inst.get("interface")),
                _dash(inst.get("state")),
                f"{_dash(inst.get('priority'))}/{_dash(inst.get('effective_priority'))}",
                master,
                "-" if since is None else age(now - float(since)),
                _dash(inst.get("link_probe")),
                " ".join(map(str, inst.get("virtual_addresses") or [])) or "-",
                "; ".join(notes),
            ]
        )
    headers = ["INSTANCE", "VRID", "INTERFACE", "STATE", "PRIO/EFF", "MASTER (PRIO)", "SINCE"]
    headers += ["PROBE", "ADDRESSES", "NOTES"]
    return f"{head}\n{table(headers, rows)}"


def format_mapping(result: Mapping[str, Any], indent: int = 0) -> str:
    """Nested counters as indented ``name  value`` lines (the stats layout)."""
    lines = []
    scalars = {k: v for k, v in result.items() if not isinstance(v, Mapping)}
    width = max((len(str(k)) for k in scalars), default=0)
    pad = " " * indent
    for key, value in sorted(result.items()):
        if isinstance(value, Mapping):
            lines.append(f"{pad}{key}:")
            lines.append(format_mapping(value, indent + 2) if value else f"{pad}  (none)")
        else:
            lines.append(f"{pad}{str(key).ljust(width)}  {_render(value)}")
    return "\n".join(lines)


def _render(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return _dash(value)


def format_history(result: Mapping[str, Any]) -> str:
    entries = [
        (float(h.get("time", 0)), name, h) for name, items in result.items() for h in items or []
    ]
    if not entries:
        return "no transitions"
    entries.sort(key=lambda e: e[0])
    rows = [
        [
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)),
            name,
            _dash(h.get("from")),
            _dash(h.get("to")),
            _dash(h.get("cause")),
        ]
        for t, name, h in entries
    ]
    return table(["TIME", "INSTANCE", "FROM", "TO", "CAUSE"], rows)


def _format_demote(result: Any) -> str:
    done = result["demoted"]
    lines = [
        f"{name}: resigning (priority 0 adverts, then Backup at 1)"
        if prio == 0
        else f"{name}: demoted to priority {prio}"
        for name, prio in done.items()
    ]
    return "\n".join(lines) or "no instance to demote"


def _format_restore(result: Any) -> str:
    return "\n".join(f"{name}: restored" for name in result["restored"]) or (
        "no instance was demoted"
    )


def _format_version(result: Any) -> str:
    return f"failover-vrrp {result['version']} (runner pid {result['pid']})"


def _format_reload(result: Any) -> str:
    parts = [f"{k}: {', '.join(map(str, v))}" for k, v in result.items() if v]
    return "reloaded" + ("; " + "; ".join(parts) if parts else ": nothing changed")


def format_result(cmd: str, result: Any, *, now: float) -> str:
    """The human form of a command's result; unknown shapes fall back to JSON."""

    def state(r: Any) -> str:
        return format_state(r, now=now)

    formatters: dict[str, Callable[[Any], str]] = {
        "state": state,
        "stats": format_mapping,
        "history": format_history,
        "demote": _format_demote,
        "restore": _format_restore,
        "version": _format_version,
        "reload": _format_reload,
    }
    try:
        formatter = formatters.get(cmd)
        return format_mapping(result) if formatter is None else formatter(result)
    except (AttributeError, KeyError, TypeError, ValueError):
        return json.dumps(result, indent=2, sort_keys=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vrrp.ctl", description="Query and steer the failover-vrrp runner.")
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help=f"(default {DEFAULT_SOCKET})")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--version", action="version", version=f"vrrp.ctl {__version__}")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    helps = {
        "state": "state of every virtual router",
        "stats": "counters, including every drop reason",
        "history": "last state transitions with their cause",
        "reload": "validate the config on disk and apply it",
        "demote": "override the priority at runtime (persisted across restarts)",
        "restore": "remove a runtime priority override",
        "version": "the runner's version and pid",
    }
    for name, text in helps.items():
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--json", action="store_true", help="print the raw JSON result")
        if name in ("history", "demote", "restore"):
            cmd.add_argument("--instance", help="one instance (default: all)")
        if name == "history":
            cmd.add_argument("--limit", type=int, help="transitions per instance")
        if name == "demote":
            cmd.add_argument(
                "--priority",
                type=int,
                help=f"0 (default): resign without a gap; 1..{MAX_DEMOTION}: run at it",
            )
    return parser


def payload_of(args: argparse.Namespace) -> dict[str, Any]:
    payload: dict[str, Any] = {"cmd": args.cmd}
    for key in ("instance", "limit", "priority"):
        value = getattr(args, key, None)
        if value is not None:
            payload[key] = value
    return payload


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        response = request(args.socket, payload_of(args), timeout=args.timeout)
    except NoRunnerError as exc:
        say(f"vrrp.ctl: {exc}", err)
        return EXIT_NO_RUNNER
    except ControlError as exc:
        say(f"vrrp.ctl: {exc}", err)
        return EXIT_REFUSED
    if not response["ok"]:
        message = str(response.get("error", "request refused"))
        say(f"vrrp.ctl: {args.cmd} refused: {message}", err)
        return EXIT_REFUSED
    result = response.get("result")
    if args.json:
        say(json.dumps(result, indent=2, sort_keys=True), out)
    else:
        say(format_result(args.cmd, result, now=time.time()), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
