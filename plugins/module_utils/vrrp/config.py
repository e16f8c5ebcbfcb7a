"""The runner's configuration: read, validated, cross-checked, typed. One entry point.

:func:`load` reads a config file (YAML or JSON) or a fragment directory
(:mod:`.config_files`: bounded, strict), validates it against
:data:`vrrp.schema.CONFIG_SCHEMA` and builds the typed config
(:mod:`.config_build`: the checks a schema cannot express, the dataclasses
of :mod:`vrrp.config_types`). :func:`load_isolated` is the same with the
parsing and the schema check in a child process (:mod:`.config_isolated`),
for the long-lived runner. :func:`check` is the one ``--check``: what
``python -m vrrp.runner --check`` (the unit's ExecStartPre) prints.

Every problem is a :class:`~vrrp.errors.ConfigError` whose ``path`` is the
JSON path a user reads (``instances[1].advert_interval``); errors found in a
file are a :class:`ConfigFileError` that also names the file.
"""

from __future__ import annotations

import os
import sys

from .cli import complain, say
from .config_build import build, load_config, load_instance, load_sync_group
from .config_files import (
    MAX_ALIAS_NODES,
    MAX_FILE_BYTES,
    MAX_TOTAL_BYTES,
    ConfigFileError,
    Pathlike,
    Source,
    read,
    read_dir,
    read_file,
)
from .config_isolated import check_isolated, child_main, load_isolated
from .config_types import (
    Address,
    Authentication,
    Config,
    Garp,
    InstanceConfig,
    Notify,
    SyncGroupConfig,
    TrackFile,
    TrackInterface,
    TrackScript,
    VirtualAddress,
)
from .errors import ConfigError, VRRPError
from .linux.accept_filter import nft_program
from .schema import main as schema_main

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "Address",
    "Authentication",
    "Config",
    "ConfigFileError",
    "Garp",
    "InstanceConfig",
    "Notify",
    "Source",
    "SyncGroupConfig",
    "TrackFile",
    "TrackInterface",
    "TrackScript",
    "VirtualAddress",
    "build",
    "check",
    "check_host",
    "check_isolated",
    "load",
    "load_config",
    "load_dir",
    "load_file",
    "load_instance",
    "load_isolated",
    "load_sync_group",
    "read",
]


def load_file(path: Pathlike) -> Config:
    """Load a YAML or JSON file (``*.json`` is read as JSON, anything else as YAML).

    An empty YAML file is an empty configuration.
    """
    return build(read_file(os.fspath(path)))


def load_dir(path: Pathlike) -> Config:
    """Load a directory of fragments merged into one config.

    ``instances.d/NAME.json`` holds one instance and ``sync_groups.d/NAME.json``
    one sync group, each named like its file; files whose names start with a
    dot (temporary files of an atomic write) and files not ending in ``.json``
    are ignored. Errors name the fragment file and the path inside it.
    """
    return build(read_dir(os.fspath(path)))


def load(path: Pathlike) -> Config:
    """Load a config file or a fragment directory, whichever ``path`` is."""
    return build(read(path))


def check_host(config: Config) -> None:
    """What ``config`` needs of this host beyond its own validity (the runner's host).

    Accept mode off on a non-owner is enforced with nftables (RFC 9568
    §6.4.3): without the nft program that instance cannot run as declared.
    Not part of :func:`load`: the controller (the planner) loads configs
    for hosts it is not.
    """
    needs = [i for i, inst in enumerate(config.instances) if inst.drops_for_vips]
    if needs and nft_program() is None:
        raise ConfigError(
            f"instances[{needs[0]}].accept",
            "accept: false on a non-owner (priority below 255) is enforced with nftables, "
            "and the nft program is not installed (Debian package nftables): install it, "
            "or set accept: true",
        )


def check(path: str) -> int:
    """The one ``--check``: load ``path``, say whether it is valid; the exit status.

    Valid: ``PATH: valid (N instance(s), M sync group(s))`` on stdout. Not:
    the error on stderr, naming the file (and line) once.
    """
    try:
        source = read(path)
        config = build(source)
        try:
            check_host(config)
        except ConfigError as exc:
            raise source.locate(exc) from None
    except VRRPError as exc:
        complain(str(exc) if isinstance(exc, ConfigFileError) else f"{path}: {exc}")
        return 1
    say(
        f"{path}: valid ({len(config.instances)} instance(s), "
        f"{len(config.sync_groups)} sync group(s))"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m vrrp.config schema`` or ``python -m vrrp.config check PATH``."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["schema"]:
        return schema_main()
    if args == ["check-source"]:
        return child_main()
    if len(args) == 2 and args[0] == "check":
        return check(args[1])
    complain("usage: python -m vrrp.config schema | check PATH (the runner's --check)")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
