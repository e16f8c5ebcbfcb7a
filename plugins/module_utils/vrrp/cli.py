"""Output helpers for the engine's command-line entry points.

Module_utils code may not call ``print`` or ``sys.exit`` (ansible-test's
``ansible-bad-function`` check); the CLIs write through these instead and
end with ``raise SystemExit(main())``.
"""

from __future__ import annotations

import sys
from typing import TextIO


def say(text: str, stream: TextIO | None = None) -> None:
    """Write one line to ``stream`` (standard output by default)."""
    (stream or sys.stdout).write(text + "\n")


def complain(text: str) -> None:
    """Write one line to standard error."""
    sys.stderr.write(text + "\n")
