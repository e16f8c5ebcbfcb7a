"""Our runner inside a lab router: config files, start/stop, control requests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from .core import Lab, Router

_N = 0


class RunnerProc:
    """One `vrrp.runner` process in a lab router, with its own directories."""

    def __init__(self, lab: Lab, router: Router, config: dict[str, Any], *, tag: str = "") -> None:
        global _N  # noqa: PLW0603
        _N += 1
        self.lab = lab
        self.router = router
        self.base = lab.tmpdir / f"runner-{router.name}{tag}-{_N}"
        self.state_dir = self.base / "run"
        self.lib_dir = self.base / "lib"
        self.config_path = self.base / "config.json"
        self.base.mkdir(parents=True)
        self.write_config(config)
        self.proc: subprocess.Popen[Any] | None = None

    @property
    def socket(self) -> str:
        return str(self.state_dir / "control.sock")

    def write_config(self, config: dict[str, Any]) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2))
        os.replace(tmp, self.config_path)

    def start(self, *extra: str, wait: bool = True) -> RunnerProc:
        self.proc = self.lab.python(
            self.router,
            [
                "-m",
                "vrrp.runner",
                "--config",
                str(self.config_path),
                "--state-dir",
                str(self.state_dir),
                "--lib-dir",
                str(self.lib_dir),
                "--log-level",
                "debug",
                *extra,
            ],
        )
        if wait:
            self.lab.wait_for(
                lambda: self._alive() and Path(self.socket).exists(),
                timeout=10,
                what=f"runner in {self.router.name} to listen\n{self.log()}",
            )
        return self

    def _alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"runner in {self.router.name} exited: {self.log()}")
        return True

    def log(self) -> str:
        return self.lab.log_of(self.proc) if self.proc is not None else ""

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        from vrrp.ctl import request

        return request(self.socket, {"cmd": cmd, **args}, timeout=5.0)

    def result(self, cmd: str, **args: Any) -> Any:
        response = self.request(cmd, **args)
        if not response.get("ok"):
            raise RuntimeError(f"{cmd} refused: {response}")
        return response["result"]

    def state_of(self, instance: str) -> str:
        return str(self.result("state")["instances"][instance]["state"])

    def kill(self) -> None:
        if self.proc is not None:
            self.lab.kill(self.proc)
            self.proc.wait()

    def stop(self) -> int:
        if self.proc is None:
            return 0
        return self.lab.stop(self.proc, timeout=10)
