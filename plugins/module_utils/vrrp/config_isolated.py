"""Validating a configuration in a short-lived child process.

The runner is a long-lived daemon: importing jsonschema would cost it about
10 MiB for its whole life to validate a config once per (re)load. So it reads
the files itself (bounded, :mod:`.config_files`), hands the very texts it read
to a child (``python -m vrrp.config check-source``, JSON on stdin and stdout;
no race with the files changing meanwhile) that parses them the same way and
checks the document against the schema, and builds the Config in-process
from the child's document only when the child found it valid. The errors
are the ones :func:`vrrp.config.load` gives.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, Final

from . import _deps
from .cli import say
from .config_build import build
from .config_files import ConfigFileError, Entries, Pathlike, Source, parsed, texts
from .config_types import Config
from .errors import ConfigError
from .schema import check

CHECK_TIMEOUT: Final = 60.0


def _engine_root() -> str:
    """The sys.path entry this package is imported from."""
    root = os.path.dirname(os.path.abspath(__file__))
    for _unused in (__package__ or "vrrp").split("."):
        root = os.path.dirname(root)
    return root


def _child_argv() -> list[str]:
    code = (
        f"import sys; sys.path.insert(0, {_engine_root()!r}); "
        f"from {__package__}.config import main; raise SystemExit(main(['check-source']))"
    )
    flags = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *flags, "-c", code]


def _source_check(request: Mapping[str, Any]) -> dict[str, Any]:
    """The child's side: parse the texts of a request, check them, say what was found."""
    try:
        document = parsed(request["path"], request["is_dir"], request["files"]).document
        check(document)
        # Back to the parent as JSON: what passed the schema is JSON data.
        return {"valid": True, "document": json.loads(json.dumps(document, allow_nan=False))}
    except ConfigFileError as exc:
        return {"file": exc.file, "line": exc.line, "path": exc.path, "rule": exc.rule}
    except ConfigError as exc:
        return {"path": exc.path, "rule": exc.rule}
    except _deps.MissingLibraryError as exc:
        return {"missing": exc.library, "traceback": exc.import_traceback}
    except (TypeError, ValueError) as exc:
        return {"path": "", "rule": f"holds a value that is not JSON data ({exc})"}


async def check_isolated(source: Source) -> None:
    """Validate ``source`` against the schema in a child process.

    Raises the :class:`ConfigFileError` :func:`build` would, a
    :class:`~vrrp._deps.MissingLibraryError` when the child lacks jsonschema
    (or PyYAML), or a :class:`ConfigFileError` saying the check could not run.
    """
    await _checked_in_child(source.path, source.is_dir, list(source.entries))


async def _checked_in_child(path: str, is_dir: bool, entries: Entries) -> object:
    """The document the child parsed from ``entries`` and found valid (see check_isolated)."""
    source = Source(path, is_dir, tuple(entries), None)
    request = {"path": path, "is_dir": is_dir, "files": entries}
    payload = json.dumps(request, ensure_ascii=False).encode()

    def failed(why: str) -> ConfigFileError:
        return ConfigFileError(file=path, path="", rule=f"cannot be validated: {why}")

    try:
        process = await asyncio.create_subprocess_exec(
            *_child_argv(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise failed(f"cannot start {sys.executable}: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(process.communicate(payload), CHECK_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise failed(f"the checker process did not answer within {CHECK_TIMEOUT:g} s") from None
    try:
        if process.returncode != 0:
            raise ValueError
        answer = json.loads(out)
    except ValueError:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise failed(f"the checker process failed (exit {process.returncode}): {tail[0]}") from None
    if "missing" in answer:
        raise _deps.MissingLibraryError(answer["missing"], answer["traceback"])
    if "file" in answer:
        raise ConfigFileError(
            file=answer["file"], line=answer["line"], path=answer["path"], rule=answer["rule"]
        )
    if "rule" in answer:
        raise source.locate(ConfigError(answer["path"], answer["rule"]))
    return answer["document"]


async def load_isolated(path: Pathlike) -> Config:
    """Like :func:`load`, but the files are parsed and checked in a child process.

    This process never imports jsonschema nor PyYAML and never parses YAML:
    it reads the files (bounded, see :func:`_read`), the child parses them
    and checks them against the schema and sends the document back as JSON,
    and this process builds the typed config from it.
    """
    file = os.fspath(path)
    is_dir, entries = texts(file)
    document = await _checked_in_child(file, is_dir, entries)
    return build(Source(file, is_dir, tuple(entries), document), validate=None)


def child_main() -> int:
    """The child's side (``check-source``): a request on stdin, the answer on stdout."""
    say(json.dumps(_source_check(json.load(sys.stdin))))
    return 0
