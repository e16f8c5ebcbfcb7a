"""The error bridge: the engine's one error tree into ``fail_json``.

``missing_required_lib`` for a missing library, ``path`` and ``rule`` (and
``file``) for a :class:`~vrrp.errors.ConfigError`, the last state for a wait
that timed out, and the hint to use become for a login without root.
"""

from __future__ import annotations

import os
from typing import Any, Final, NoReturn

from ansible.module_utils.basic import (  # type: ignore[import-untyped]
    AnsibleModule,
    missing_required_lib,
)
from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_runner import (
    WaitTimeoutError,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp._deps import MissingLibraryError
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import (
    ConfigError,
    VRRPError,
)


def fail_from_error(module: AnsibleModule, exc: VRRPError, **extra: Any) -> NoReturn:
    """``fail_json`` for an engine error; the one place modules turn errors into results."""
    if isinstance(exc, MissingLibraryError):
        module.fail_json(
            msg=missing_required_lib(exc.library), exception=exc.import_traceback, **extra
        )
    if isinstance(exc, WaitTimeoutError):
        extra.setdefault("ansible_facts", {"vrrp": exc.facts})
    if isinstance(exc, ConfigError):
        file = getattr(exc, "file", None)
        if file is not None:
            extra["file"] = file
        module.fail_json(msg=_with_hint(str(exc)), path=exc.path, rule=exc.rule, **extra)
    module.fail_json(msg=_with_hint(str(exc)), **extra)
    raise SystemExit(1)  # pragma: no cover - fail_json exits; for the type checker


BECOME_HINT: Final = (
    "; the runner's socket and files are root's: run the task as root "
    "(become: true in a play, -b / --become ad hoc)"
)


def _with_hint(message: str) -> str:
    # A login without root meets EACCES on the control socket or the config
    # directory; the one fix is become, so the error says it. As root, a
    # "Permission denied" is something else (the runner, with fewer
    # capabilities, could not read a file): no hint.
    if os.geteuid() != 0 and "permission denied" in message.lower():
        return message + BECOME_HINT
    return message
