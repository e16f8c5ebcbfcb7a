"""Building the typed configuration: the checks a schema cannot express.

:func:`load_config` checks a mapping against :data:`vrrp.schema.CONFIG_SCHEMA`
(the one truth about the format), then checks in code what a schema cannot
express: address families, VRRPv3 centisecond steps, names and VRIDs used
twice, sync group references. The result is a tree of frozen dataclasses with
every default filled in and every value normalized (:mod:`vrrp.config_types`).
:func:`build` does the same for a :class:`~vrrp.config_files.Source` read
from disk, naming the file an error is in. Import these from :mod:`vrrp.config`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from ipaddress import ip_address
from typing import Any, Final

from . import config_routes
from .config_files import ConfigFileError, Source
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
from .errors import ConfigError
from .metrics import ListenAddressError, parse_listen
from .schema import check, json_path, property_defaults, show

Path = tuple[object, ...]

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


def _virtual_addresses(
    items: list[Any], at: Path
) -> tuple[tuple[VirtualAddress, ...], tuple[config_routes.HeldAddress, ...]]:
    result: list[VirtualAddress] = []
    options: list[config_routes.HeldAddress] = []
    texts: list[str] = []
    for index, item in enumerate(items):
        here = (*at, index)
        text, held = config_routes.held_address(item, here)
        texts.append(text)
        vip = held.address
        if held.has_options:
            options.append(held)
        if not isinstance(item, str):
            here = (*here, "address")
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
    return tuple(result), tuple(options)


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


def _multicast_source(obj: Mapping[str, Any], family: int, at: Path) -> Address | None:
    if "multicast_source" not in obj:
        return None
    here = (*at, "multicast_source")
    source = _address(obj["multicast_source"], here)
    if source.version != family:
        raise _fail(
            here, f"IPv{source.version} address {show(str(source))} for an IPv{family} instance"
        )
    if source.version == 6 and not source.is_link_local:
        raise _fail(
            here,
            "IPv6 multicast adverts leave from a link-local address (RFC 9568 §5.1.2.1); "
            f"got {show(str(source))}",
        )
    return source


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
    addresses, vip_options = _virtual_addresses(
        values["virtual_addresses"], (*at, "virtual_addresses")
    )
    family = addresses[0].version
    excluded = config_routes.excluded_addresses(
        obj.get("virtual_addresses_excluded", []),
        (*at, "virtual_addresses_excluded"),
        vips=addresses,
    )
    families: set[int] = {family} | {held.address.version for held in excluded}
    routes = config_routes.virtual_routes(
        obj.get("virtual_routes", []),
        (*at, "virtual_routes"),
        families=families,
        default_family=family,
    )
    rules = config_routes.virtual_rules(
        obj.get("virtual_rules", []),
        (*at, "virtual_rules"),
        families=families,
        default_family=family,
    )
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
    for key in ("virtual_addresses", "virtual_addresses_excluded"):
        config_routes.check_labels(
            obj.get(key, []), (*at, key), ifname=vmac_interface or values["interface"]
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
        multicast_source=_multicast_source(obj, family, at),
        vip_options=vip_options,
        virtual_addresses_excluded=excluded,
        virtual_routes=routes,
        virtual_rules=rules,
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
        startup_delay=float(data.get("startup_delay", 0)),
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


def build_unchecked(data: Mapping[str, Any]) -> Config:
    """A configuration with every check but the schema's, for a caller whose
    document was checked against the schema elsewhere (``vrrp_scan`` on a host
    that lacks jsonschema); input the schema would refuse may raise anything."""
    return _build_config(data)


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
