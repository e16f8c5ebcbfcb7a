"""Import a keepalived.conf: the equivalent runner configuration.

``python -m vrrp.keepalived_conf FILE [--host NAME] [--json]`` prints the
runner configuration (``instances``, ``sync_groups``; YAML, or JSON) that
``python -m vrrp.runner --check`` accepts as it is, and on standard error one
line ``FILE:LINE: KEYWORD: why`` per thing it did not convert. Exit status:
0 everything VRRP-related converted (items that are no part of VRRP, such as
LVS or mail alerts, may still be named), 3 something VRRP-related left out
(the output is still valid), 1 the input is unusable (the error names
FILE:LINE).

``--host`` is keepalived's ``-i`` (config id): it decides the ``@NAME`` and
``@^NAME`` lines. Without it such lines are left out and named.

The layers: :mod:`vrrp.keepalived_conf_read` (files, includes, conditionals,
parameters), :mod:`vrrp.keepalived_conf_tree` (blocks, words, script argv),
:mod:`vrrp.keepalived_conf_convert` and ``_instance`` (the conversion).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import _deps
from .cli import complain, say
from .errors import VRRPError
from .keepalived_conf_convert import convert
from .keepalived_conf_read import ConfSyntaxError, Note, Reader
from .keepalived_conf_tree import build
from .keepalived_conf_values import Context

EXIT_COMPLETE = 0
EXIT_UNUSABLE = 1
EXIT_INCOMPLETE = 3


@dataclass(frozen=True)
class Import:
    """A converted configuration and what was not converted."""

    config: dict[str, Any]
    not_converted: tuple[Note, ...]

    @property
    def complete(self) -> bool:
        """Every VRRP-related item converted (what is no part of VRRP may be named)."""
        return not any(note.vrrp for note in self.not_converted)


def _finish(reader: Reader) -> Import:
    ctx = Context(notes=list(reader.notes))
    config = convert(ctx, build(reader.lines))
    files: dict[str, int] = {}
    for file in [line.file for line in reader.lines] + [note.file for note in ctx.notes]:
        files.setdefault(file, len(files))
    notes = sorted(ctx.notes, key=lambda note: (files[note.file], note.line))
    return Import(config=config, not_converted=tuple(notes))


def import_file(path: str, *, host: str | None = None) -> Import:
    """Convert the file at ``path`` and what it includes.

    Raises :class:`ConfSyntaxError` when the input is unusable.
    """
    reader = Reader(host=host)
    reader.read_file(path)
    return _finish(reader)


def import_files(path: str, files: Mapping[str, str], *, host: str | None = None) -> Import:
    """Convert ``files[path]`` and what it includes, among ``files`` (path → text).

    The files of a host read elsewhere: includes resolve among the keys as
    they would on that host's file system. Raises :class:`ConfSyntaxError`.
    """
    reader = Reader(host=host, files=files)
    reader.read_file(path)
    return _finish(reader)


def import_text(text: str, *, name: str = "keepalived.conf", host: str | None = None) -> Import:
    """Convert configuration text; ``include`` lines are named, not followed."""
    reader = Reader(host=host, follow_includes=False)
    reader.read_text(text, name=name)
    return _finish(reader)


def render(config: dict[str, Any], *, as_json: bool) -> str:
    """The configuration as YAML (or JSON) text."""
    if as_json:
        return json.dumps(config, indent=2, sort_keys=False)
    _deps.require_yaml()
    text: str = _deps.yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    return text.rstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vrrp.keepalived_conf", description=__doc__.split("\n", maxsplit=1)[0]
    )
    parser.add_argument("file", help="keepalived.conf to convert")
    parser.add_argument("--host", help="the config id for @NAME lines (keepalived -i)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    args = parser.parse_args(argv)
    try:
        result = import_file(args.file, host=args.host)
        text = render(result.config, as_json=args.json)
    except ConfSyntaxError as exc:
        complain(str(exc))
        return EXIT_UNUSABLE
    except VRRPError as exc:
        complain(f"{args.file}: {exc}")
        return EXIT_UNUSABLE
    say(text)
    for note in result.not_converted:
        complain(str(note))
    return EXIT_COMPLETE if result.complete else EXIT_INCOMPLETE


if __name__ == "__main__":
    raise SystemExit(main())
