"""The runner's configuration: validated, cross-checked, typed.

:func:`load_config` checks a mapping against :data:`vrrp.schema.CONFIG_SCHEMA`
(the one truth about the format), then checks in code what a schema cannot
express: address families, VRRPv3 centisecond steps, names and VRIDs used
twice, sync group references. The result is a tree of frozen dataclasses with
every default filled in and every value normalized (defined in
:mod:`vrrp.config_types`, imported from here).

Every problem is a :class:`~vrrp.errors.ConfigError` whose ``path`` is the
JSON path a user reads (``instances[1].advert_interval``); errors found in a
file are a :class:`ConfigFileError` that also names the file.

Files are read by :func:`load_file` (YAML or JSON) and :func:`load_dir` (a directory of JSON
fragments, one object per file, as the modules write them); :func:`load`
picks one by the kind of path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import functools
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from ipaddress import ip_address, ip_interface
from typing import Any, Final, Union

from . import _deps
from .cli import complain, say
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
from .metrics import ListenAddressError, parse_listen
from .schema import check, json_path, property_defaults, show
from .schema import main as schema_main

__all__ = [
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

Path = tuple[object, ...]
Pathlike = Union[str, "os.PathLike[str]"]

_INSTANCE_DEFAULTS: Final = property_defaults("instance")
_GROUP_DEFAULTS: Final = property_defaults("sync_group")
_SCRIPT_DEFAULTS: Final = property_defaults("track_script")
_WEIGHT_DEFAULT: Final[int] = property_defaults("track_interface")["weight"]

# --- building the typed objects (input already valid against the schema) ---


def _fail(at: Path, rule: str) -> ConfigError:
    return ConfigError(json_path(at), rule)


def _argv(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _notify(obj: Mapping[str, Any] | None) -> Notify:
    values = {**property_defaults("notify"), **(obj or {})}
    return Notify(
        master=_argv(values.get("master")),
        backup=_argv(values.get("backup")),
        fault=_argv(values.get("fault")),
        stop=_argv(values.get("stop")),
        timeout=float(values["timeout"]),
    )


def _garp(obj: Mapping[str, Any] | None) -> Garp:
    values = {**property_defaults("garp"), **(obj or {})}
    return Garp(
        delay=float(values["delay"]),
        repeat=int(values["repeat"]),
        refresh=float(values["refresh"]),
        refresh_repeat=int(values["refresh_repeat"]),
        interval=float(values["interval"]),
    )


def _unique(items: Iterable[Any], key: str, at: Path, what: str) -> None:
    seen: set[object] = set()
    for index, item in enumerate(items):
        value = item[key]
        if value in seen:
            raise _fail((*at, index, key), f"{what} {show(value)} is listed twice")
        seen.add(value)


def _address(text: str, at: Path) -> Address:
    try:
        address = ip_address(text)
    except ValueError:
        raise _fail(at, f"not a valid IPv4 or IPv6 address: {show(text)}") from None
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        raise _fail(at, f"must be a unicast address, got {show(text)}")
    return address


def _virtual_addresses(texts: list[str], at: Path) -> tuple[VirtualAddress, ...]:
    result: list[VirtualAddress] = []
    for index, text in enumerate(texts):
        here = (*at, index)
        try:
            vip = ip_interface(text)
        except ValueError:
            raise _fail(here, f"not a valid ADDR or ADDR/PREFIX: {show(text)}") from None
        _address(str(vip.ip), here)
        if result and vip.version != result[0].version:
            raise _fail(
                here,
                f"all virtual addresses must be of one family: {show(text)} is "
                f"IPv{vip.version}, the first one is IPv{result[0].version}",
            )
        for earlier, other in enumerate(result):
            if other.ip == vip.ip:
                raise _fail(here, f"{show(text)} repeats virtual_addresses[{earlier}]")
        result.append(vip)
    if result[0].version == 6 and not result[0].ip.is_link_local:
        raise _fail(
            (*at, 0),
            "the first IPv6 virtual address must be the virtual router's link-local "
            f"address, in fe80::/10 (RFC 9568 §5.2.9); got {show(texts[0])}",
        )
    return tuple(result)


def _advert_interval_cs(seconds: float, at: Path) -> int:
    # The v3 field counts centiseconds (RFC 9568 §5.2.7); a float such as
    # 0.07 is 7.000000000000001 cs, so compare with a tolerance.
    centiseconds = round(seconds * 100)
    if abs(seconds * 100 - centiseconds) > 1e-6:
        raise _fail(at, f"must be a multiple of 0.01 seconds (centiseconds), got {show(seconds)}")
    return centiseconds


def _unicast(
    obj: Mapping[str, Any], family: int, at: Path
) -> tuple[Address | None, tuple[Address, ...]]:
    source: Address | None = None
    if "unicast_source" in obj:
        source = _address(obj["unicast_source"], (*at, "unicast_source"))
        if source.version != family:
            raise _fail(
                (*at, "unicast_source"),
                f"IPv{source.version} address {show(obj['unicast_source'])} for an "
                f"IPv{family} instance",
            )
    peers: list[Address] = []
    for index, text in enumerate(obj.get("unicast_peers", [])):
        here = (*at, "unicast_peers", index)
        peer = _address(text, here)
        if peer.version != family:
            raise _fail(here, f"IPv{peer.version} peer {show(text)} for an IPv{family} instance")
        if peer in peers:
            raise _fail(here, f"{show(text)} repeats unicast_peers[{peers.index(peer)}]")
        if peer == source:
            raise _fail(here, f"{show(text)} is this router's own unicast_source")
        peers.append(peer)
    scopes = {peer.is_link_local for peer in peers if peer.version == 6}
    if source is None and len(scopes) > 1:
        # The source follows the peers' scope (vrrp.source): with both, one
        # kind of peer would drop every advert as a stranger's.
        raise _fail(
            (*at, "unicast_peers"),
            "IPv6 unicast peers are named by link-local and by global addresses; name them "
            "all one way, or set unicast_source (the address every peer knows us by)",
        )
    return source, tuple(peers)


def _tracking(
    obj: Mapping[str, Any], at: Path
) -> tuple[tuple[TrackInterface, ...], tuple[TrackFile, ...], tuple[TrackScript, ...]]:
    interfaces = obj.get("track_interfaces", [])
    files = obj.get("track_files", [])
    scripts = obj.get("track_scripts", [])
    _unique(interfaces, "interface", (*at, "track_interfaces"), "interface")
    _unique(files, "path", (*at, "track_files"), "file")
    _unique(scripts, "name", (*at, "track_scripts"), "script")
    return (
        tuple(
            TrackInterface(interface=t["interface"], weight=int(t.get("weight", _WEIGHT_DEFAULT)))
            for t in interfaces
        ),
        tuple(
            TrackFile(path=t["path"], weight=int(t.get("weight", _WEIGHT_DEFAULT))) for t in files
        ),
        tuple(_track_script({**_SCRIPT_DEFAULTS, **t}) for t in scripts),
    )


def _track_script(values: Mapping[str, Any]) -> TrackScript:
    interval = float(values["interval"])
    return TrackScript(
        name=values["name"],
        argv=tuple(values["argv"]),
        interval=interval,
        timeout=float(values.get("timeout", interval)),
        rise=int(values["rise"]),
        fall=int(values["fall"]),
        weight=int(values["weight"]),
    )


def _instance(obj: Mapping[str, Any], at: Path) -> InstanceConfig:
    """Build one instance; ``obj`` is valid against ``$defs/instance``."""
    values = {**_INSTANCE_DEFAULTS, **obj}
    version = int(values["version"])
    vrid = int(values["vrid"])
    addresses = _virtual_addresses(values["virtual_addresses"], (*at, "virtual_addresses"))
    family = addresses[0].version
    if version == 2 and family == 6:
        raise _fail(
            (*at, "version"),
            "VRRP version 2 carries IPv4 only (RFC 3768); IPv6 needs version 3",
        )
    checksum_form: str | None = None
    if family == 6 and "checksum_form" in obj:
        raise _fail(
            (*at, "checksum_form"),
            "checksum_form applies to VRRP version 3 over IPv4 only; this instance is IPv6",
        )
    if version == 3 and family == 4:
        checksum_form = values["checksum_form"]
    source, peers = _unicast(obj, family, at)
    if "unicast_ttl" in obj and not peers:
        raise _fail(
            (*at, "unicast_ttl"),
            "unicast_ttl applies to unicast adverts only: set unicast_peers, or leave it out",
        )
    vmac = bool(values["vmac"])
    vmac_interface: str | None = None
    if vmac:
        vmac_interface = obj.get("vmac_interface", f"vrrp{'6' if family == 6 else ''}.{vrid}")
        if vmac_interface == values["interface"]:
            raise _fail(
                (*at, "vmac_interface"),
                f"the VMAC interface must differ from interface {show(values['interface'])}",
            )
    auth = obj.get("authentication")
    track_interfaces, track_files, track_scripts = _tracking(obj, at)
    return InstanceConfig(
        name=values["name"],
        interface=values["interface"],
        vrid=vrid,
        priority=int(values["priority"]),
        version=version,
        advert_interval_cs=_advert_interval_cs(
            float(values["advert_interval"]), (*at, "advert_interval")
        ),
        virtual_addresses=addresses,
        family=family,
        preempt=bool(values["preempt"]),
        preempt_delay=float(values["preempt_delay"]),
        accept=bool(values["accept"]),
        unicast_source=source,
        unicast_peers=peers,
        vmac=vmac,
        vmac_interface=vmac_interface,
        track_interfaces=track_interfaces,
        track_files=track_files,
        track_scripts=track_scripts,
        garp=_garp(obj.get("garp")),
        notify=_notify(obj.get("notify")),
        authentication=None
        if auth is None
        else Authentication(type=auth.get("type", "pass"), password=auth["password"]),
        checksum_form=checksum_form,
        unicast_ttl=int(values["unicast_ttl"]),
        description=values["description"],
    )


def _sync_group(obj: Mapping[str, Any]) -> SyncGroupConfig:
    values = {**_GROUP_DEFAULTS, **obj}
    return SyncGroupConfig(
        name=values["name"],
        members=tuple(values["members"]),
        notify=_notify(obj.get("notify")),
        description=values["description"],
    )


def _cross_check_instances(instances: tuple[InstanceConfig, ...]) -> None:
    names: dict[str, int] = {}
    vrids: dict[tuple[str, int, int], InstanceConfig] = {}
    vmacs: dict[str, InstanceConfig] = {}
    for index, inst in enumerate(instances):
        at: Path = ("instances", index)
        if inst.name in names:
            raise _fail(
                (*at, "name"),
                f"the instance name {show(inst.name)} is used twice "
                f"(first at instances[{names[inst.name]}])",
            )
        names[inst.name] = index
        # RFC 9568 §7.3: a VRID identifies one virtual router per LAN and family.
        other = vrids.setdefault((inst.interface, inst.family, inst.vrid), inst)
        if other is not inst:
            raise _fail(
                (*at, "vrid"),
                f"VRID {inst.vrid} is already used on {inst.interface} for "
                f"IPv{inst.family} by instance {show(other.name)}",
            )
        if inst.vmac_interface is not None:
            other = vmacs.setdefault(inst.vmac_interface, inst)
            if other is not inst:
                raise _fail(
                    (*at, "vmac_interface"),
                    f"the VMAC interface {show(inst.vmac_interface)} is already used by "
                    f"instance {show(other.name)}; set a distinct vmac_interface",
                )


def _cross_check_groups(config: Config) -> None:
    known = [inst.name for inst in config.instances]
    names: dict[str, int] = {}
    owner: dict[str, str] = {}
    for index, group in enumerate(config.sync_groups):
        at: Path = ("sync_groups", index)
        if group.name in names:
            raise _fail(
                (*at, "name"),
                f"the sync group name {show(group.name)} is used twice "
                f"(first at sync_groups[{names[group.name]}])",
            )
        names[group.name] = index
        for position, member in enumerate(group.members):
            here = (*at, "members", position)
            if member not in known:
                close = difflib.get_close_matches(member, known, n=1)
                hint = f"; did you mean {show(close[0])}?" if close else ""
                raise _fail(here, f"no instance is named {show(member)}{hint}")
            if member in owner:
                raise _fail(
                    here,
                    f"instance {show(member)} is already a member of sync group "
                    f"{show(owner[member])}; an instance belongs to one group at most",
                )
            owner[member] = group.name


def _build_config(data: Mapping[str, Any]) -> Config:
    """Typed config from a mapping already valid against the schema."""
    instances = tuple(
        _instance(obj, ("instances", index)) for index, obj in enumerate(data.get("instances", []))
    )
    _cross_check_instances(instances)
    listen = data.get("metrics_listen")
    if listen is not None:
        try:
            parse_listen(listen)
        except ListenAddressError as exc:
            raise _fail(("metrics_listen",), str(exc)) from None
    config = Config(
        instances=instances,
        sync_groups=tuple(_sync_group(g) for g in data.get("sync_groups", [])),
        metrics_listen=listen,
    )
    _cross_check_groups(config)
    return config


def load_config(data: Mapping[str, Any]) -> Config:
    """Validate and normalize a whole configuration.

    Raises :class:`ConfigError` naming the JSON path and the rule broken, or
    :class:`~vrrp._deps.MissingLibraryError` when jsonschema is missing.
    """
    document = dict(data) if isinstance(data, Mapping) and not isinstance(data, dict) else data
    check(document)
    return _build_config(document)


def load_instance(obj: Mapping[str, Any]) -> InstanceConfig:
    """Validate and normalize one instance (paths start inside it).

    Checks everything that does not need the other instances; a module uses
    it before it writes a fragment, and ``to_dict()`` for its diff.
    """
    check(obj, definition="instance")
    return _instance(obj, ())


def load_sync_group(obj: Mapping[str, Any]) -> SyncGroupConfig:
    """Validate and normalize one sync group (paths start inside it)."""
    check(obj, definition="sync_group")
    return _sync_group(obj)


# --- files ------------------------------------------------------------------


class ConfigFileError(ConfigError):
    """A :class:`ConfigError` found in a file: also names the file (and line)."""

    def __init__(self, *, file: str, path: str, rule: str, line: int | None = None) -> None:
        super().__init__(path, rule)
        self.file = file
        self.line = line
        where = file if line is None else f"{file}:{line}"
        self.args = (f"{where}: {path}: {rule}" if path else f"{where}: {rule}",)


class _DuplicateKeyError(ValueError):
    pass


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _json_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON value")


def _parse_json(file: str, text: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_json_constant)
    except _DuplicateKeyError as exc:
        raise ConfigFileError(
            file=file, path="", rule=f"duplicate key {show(exc.args[0])}"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            file=file,
            line=exc.lineno,
            path="",
            rule=f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ConfigFileError(file=file, path="", rule=f"invalid JSON: {exc}") from None


def _parse_yaml(file: str, text: str) -> object:
    _deps.require_yaml()
    yaml = _deps.yaml
    try:
        return yaml.load(text, Loader=_strict_yaml_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = None if mark is None else mark.line + 1
        where = "" if mark is None else f" (line {line}, column {mark.column + 1})"
        rule = f"invalid YAML: {exc.problem}{where}"
        raise ConfigFileError(file=file, line=line, path="", rule=rule) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        # PyYAML lets a few errors of its constructors through unwrapped
        # (a date such as 2024-13-01, !!int "x") and recursion on deep nesting.
        rule = f"invalid YAML: {exc or type(exc).__name__}"
        raise ConfigFileError(file=file, path="", rule=rule) from None


@functools.cache
def _strict_yaml_loader() -> Any:
    """PyYAML's SafeLoader, refusing a key given twice in one mapping.

    PyYAML would silently keep the last value: a typo-catching loader must not.
    """
    yaml = _deps.yaml

    class StrictSafeLoader(yaml.SafeLoader):
        def compose_document(self) -> Any:
            node = super().compose_document()
            if node is not None:
                _check_aliases(node, yaml)
            return node

    def construct_mapping(loader: Any, node: Any) -> Any:
        seen: set[object] = set()
        for key_node, _unused in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable: SafeLoader reports it below
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {show(key)}",
                    key_node.start_mark,
                )
            seen.add(key)
        return loader.construct_mapping(node, deep=True)

    StrictSafeLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping
    )
    return StrictSafeLoader


MAX_ALIAS_NODES: Final = 100_000
MAX_FILE_BYTES: Final = 1 << 20
MAX_TOTAL_BYTES: Final = 8 << 20  # a fragment directory, all files together


def _check_aliases(root: Any, yaml: Any) -> None:
    """Refuse aliases that would add more than MAX_ALIAS_NODES nodes, before expanding.

    A composed document shares an aliased node wherever it is used: its size
    once expanded is counted here over that graph (each node once), so nine
    nested lines of ten aliases ("billion laughs", 10⁹ nodes) cost nothing to
    measure. Merge keys (``<<: *defaults``) add a few nodes per use.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in open_nodes:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to itself (a recursive node)", node.start_mark
            )
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        sizes[key] = total
        return total

    added = size(root) - len(sizes)
    if added > MAX_ALIAS_NODES:
        raise yaml.composer.ComposerError(
            None,
            None,
            f"aliases would expand the document by {added} nodes, more than the "
            f"{MAX_ALIAS_NODES} allowed",
            root.start_mark,
        )


def _read(file: Pathlike, *, budget: int = MAX_FILE_BYTES) -> str:
    """The text of a regular file of at most ``budget`` (and MAX_FILE_BYTES) bytes.

    Opened non-blocking: a FIFO put in the config's place is refused, not waited on.
    """
    limit = min(budget, MAX_FILE_BYTES)

    def refuse(rule: str) -> ConfigFileError:
        return ConfigFileError(file=str(file), path="", rule=rule)

    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise refuse("is not a regular file")
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise refuse(f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        if limit < MAX_FILE_BYTES:
            raise refuse(f"the config files are together larger than {MAX_TOTAL_BYTES} bytes")
        raise refuse(f"is larger than {MAX_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse("is not UTF-8 text") from None


def _in_file(file: str, error: ConfigError) -> ConfigFileError:
    return ConfigFileError(file=file, path=error.path, rule=error.rule)


_FRAGMENT_DIRS: Final = (("instances", "instances.d"), ("sync_groups", "sync_groups.d"))
# The runner's own top-level keys (metrics_listen) in a fragment directory: one
# JSON object merged into the top of the document, validated with it.
SETTINGS_FILE: Final = "runner.json"
_MERGED_PATH: Final = re.compile(r"^(instances|sync_groups)\[(\d+)\]\.?(.*)$")


def _parse(file: str, text: str) -> object:
    """``*.json`` is read as JSON, anything else as YAML."""
    return _parse_json(file, text) if file.endswith(".json") else _parse_yaml(file, text)


@dataclasses.dataclass(frozen=True)
class Source:
    """A config as read from disk: its texts and what they parse to, not yet validated.

    ``entries`` holds ``(file, key, text)`` per file read: ``key`` is None for a
    config file, ``"instances"`` or ``"sync_groups"`` for a fragment. The
    texts are kept so that another process can validate exactly what was read
    (:func:`load_isolated`).
    """

    path: str
    is_dir: bool
    entries: tuple[tuple[str, str | None, str], ...]
    document: object = dataclasses.field(compare=False)

    def locate(self, error: ConfigError) -> ConfigFileError:
        """``error`` (a path in :attr:`document`) as an error naming its file."""
        if isinstance(error, ConfigFileError):
            return error
        if not self.is_dir:
            return _in_file(self.path, error)
        match = _MERGED_PATH.match(error.path)
        if match is None:  # a top-level key: runner.json's
            settings = [file for file, key, _unused in self.entries if key == "settings"]
            return _in_file(settings[0] if settings else self.path, error)
        files = [file for file, key, _unused in self.entries if key == match.group(1)]
        return ConfigFileError(
            file=files[int(match.group(2))], path=match.group(3), rule=error.rule
        )


def _assemble(
    path: str, is_dir: bool, entries: Iterable[tuple[str, str | None, str, object]]
) -> Source:
    kept: list[tuple[str, str | None, str]] = []
    if not is_dir:
        ((file, key, text, data),) = entries
        return Source(path, False, ((file, key, text),), {} if data is None else data)
    merged: dict[str, list[object]] = {"instances": [], "sync_groups": []}
    for file, key, text, data in entries:
        if key == "settings":
            if not isinstance(data, dict) or {"instances", "sync_groups"} & set(data):
                rule = "holds one JSON object of top-level keys other than the lists"
                raise ConfigFileError(file=file, path="", rule=rule)
            merged.update(data)
        else:
            merged[str(key)].append(data)
        kept.append((file, key, text))
    return Source(path, True, tuple(kept), merged)


Entries = list[tuple[str, Union[str, None], str]]  # (file, key, text) per file read


def _read_file(file: str) -> Source:
    return _parsed(file, False, [(file, None, _read(file))])


def _read_dir(root: str) -> Source:
    return _parsed(root, True, _dir_texts(root))


def _parsed(path: str, is_dir: bool, entries: Entries) -> Source:
    return _assemble(path, is_dir, [(f, k, t, _parse(f, t)) for f, k, t in entries])


def _texts(path: str) -> tuple[bool, Entries]:
    """(is it a directory, the texts of its files), unparsed."""
    if os.path.isdir(path):
        return True, _dir_texts(path)
    return False, [(path, None, _read(path))]


def _dir_texts(root: str) -> Entries:
    entries: Entries = []
    found = False
    total = 0
    for key, subdir in _FRAGMENT_DIRS:
        directory = os.path.join(root, subdir)
        if not os.path.isdir(directory):
            continue
        found = True
        for name in sorted(os.listdir(directory)):
            file = os.path.join(directory, name)
            if name.startswith(".") or not name.endswith(".json") or not os.path.isfile(file):
                continue
            text = _read(file, budget=MAX_TOTAL_BYTES - total)
            total += len(text.encode())
            entries.append((file, key, text))
    if not found:
        raise ConfigFileError(
            file=root, path="", rule="holds neither an instances.d nor a sync_groups.d directory"
        )
    settings = os.path.join(root, SETTINGS_FILE)
    if os.path.isfile(settings):
        entries.append((settings, "settings", _read(settings, budget=MAX_TOTAL_BYTES - total)))
    return entries


def read(path: Pathlike) -> Source:
    """Read and parse a config file or a fragment directory, without validating it.

    Raises :class:`ConfigFileError` for a file that cannot be read or parsed.
    """
    file = os.fspath(path)
    return _read_dir(file) if os.path.isdir(file) else _read_file(file)


def build(source: Source, *, validate: Callable[[object], None] | None = check) -> Config:
    """The typed config of ``source``, validated by ``validate`` first.

    ``validate`` is :func:`vrrp.schema.check` unless the caller has already
    checked the document against the schema (``None``); every later check is
    made here. Errors name the file they are in.
    """
    try:
        if validate is not None:
            validate(source.document)
        position = dict.fromkeys(("instances", "sync_groups"), 0)
        for file, key, _unused in source.entries if source.is_dir else ():
            if key == "settings":
                continue
            stem = os.path.basename(file)[: -len(".json")]
            name = source.document[key][position[key]]["name"]  # type: ignore[index]
            position[str(key)] += 1
            if name != stem:
                raise ConfigFileError(
                    file=file,
                    path="name",
                    rule=f"a fragment is named like its file: {show(name)} belongs in {name}.json",
                )
        return _build_config(source.document)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise source.locate(exc) from None


def load_file(path: Pathlike) -> Config:
    """Load a YAML or JSON file (``*.json`` is read as JSON, anything else as YAML).

    An empty YAML file is an empty configuration.
    """
    return build(_read_file(os.fspath(path)))


def load_dir(path: Pathlike) -> Config:
    """Load a directory of fragments merged into one config.

    ``instances.d/NAME.json`` holds one instance and ``sync_groups.d/NAME.json``
    one sync group, each named like its file; files whose names start with a
    dot (temporary files of an atomic write) and files not ending in ``.json``
    are ignored. Errors name the fragment file and the path inside it.
    """
    return build(_read_dir(os.fspath(path)))


def load(path: Pathlike) -> Config:
    """Load a config file or a fragment directory, whichever ``path`` is."""
    return build(read(path))


# --- validation in a child process -------------------------------------------
#
# The runner is a long-lived daemon: importing jsonschema would cost it about
# 10 MiB for its whole life to validate a config once per (re)load. So it reads
# and parses the files itself, hands the very texts it read to a short-lived
# child (``python -m vrrp.config check-source``, JSON on stdin and stdout; no
# race with the files changing meanwhile) that parses them the same way and
# checks the document against the schema, and builds the Config in-process
# from its own parse only when the child found it valid. The errors are the
# ones :func:`load` gives.

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
        document = _parsed(request["path"], request["is_dir"], request["files"]).document
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
    is_dir, entries = _texts(file)
    document = await _checked_in_child(file, is_dir, entries)
    return build(Source(file, is_dir, tuple(entries), document), validate=None)


def main(argv: list[str] | None = None) -> int:
    """``python -m vrrp.config schema`` or ``python -m vrrp.config check PATH``."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["schema"]:
        return schema_main()
    if args == ["check-source"]:
        say(json.dumps(_source_check(json.load(sys.stdin))))
        return 0
    if len(args) == 2 and args[0] == "check":
        try:
            config = load(args[1])
        except VRRPError as exc:
            complain(f"error: {exc}")
            return 1
        say(
            f"{args[1]}: valid, {len(config.instances)} instance(s), "
            f"{len(config.sync_groups)} sync group(s)"
        )
        return 0
    complain("usage: python -m vrrp.config schema | check PATH")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
