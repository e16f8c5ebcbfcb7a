"""Reading configuration files: bounded, strict, not yet validated.

A config is a YAML or JSON file, or a directory of JSON fragments
(``instances.d/NAME.json``, ``sync_groups.d/NAME.json``) as the modules
write them. Every read is bounded (:data:`MAX_FILE_BYTES` per file,
:data:`MAX_TOTAL_BYTES` per directory, :data:`MAX_ALIAS_NODES` for YAML
aliases), duplicate keys and NaN are refused, and every error is a
:class:`ConfigFileError` naming the file (and line). What is read is a
:class:`Source`: the texts and what they parse to, for
:func:`vrrp.config_build.build` to check.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import stat
from collections.abc import Iterable
from typing import Any, Final, Union

from . import _deps
from .errors import ConfigError
from .schema import show

Pathlike = Union[str, "os.PathLike[str]"]


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


def read_file(file: str) -> Source:
    return parsed(file, False, [(file, None, _read(file))])


def read_dir(root: str) -> Source:
    return parsed(root, True, _dir_texts(root))


def parsed(path: str, is_dir: bool, entries: Entries) -> Source:
    return _assemble(path, is_dir, [(f, k, t, _parse(f, t)) for f, k, t in entries])


def texts(path: str) -> tuple[bool, Entries]:
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
    return read_dir(file) if os.path.isdir(file) else read_file(file)
