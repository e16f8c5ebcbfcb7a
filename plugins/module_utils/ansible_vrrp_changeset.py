"""A change set over the config directory: every object at once, one validation, one reload.

``vrrp_config`` (and, for one object each, ``vrrp_instance`` and
``vrrp_sync_group``) go through :class:`ChangeSet`:

1. :func:`read_objects` reads every fragment of ``instances.d`` and
   ``sync_groups.d`` (text and parsed object);
2. :func:`desired` computes the directory the task asks for, by resource
   state (``merged``, ``replaced``, ``overridden``, ``deleted``); each new
   object is canonical (:func:`canonical_object`), an untouched one keeps its
   bytes;
3. :meth:`ChangeSet.validate` loads the whole resulting directory once, in a
   shadow copy, with the runner's own loader (:func:`vrrp.config.load_dir`);
4. :meth:`ChangeSet.apply` holds the directory lock, writes every changed file
   with the fragment writer (:class:`FragmentStore`) and, should one write
   fail, puts back the ones already written; then asks the runner for ONE
   reload and, if it refuses, puts every file back as it was.

Check mode stops after step 3.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ansible_collections.failover.vrrp.plugins.module_utils.ansible_vrrp_fragments import (
    RELOAD_TIMEOUT,
    SUBDIRS,
    FragmentStore,
    Previous,
    RunnerRefusedError,
    canonical_text,
    config_lock,
    hide_secrets,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp import control
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.config import (
    ConfigFileError,
    load_dir,
    load_instance,
    load_sync_group,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import (
    ConfigError,
    ControlError,
)
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.schema import check

# The two kinds of object: the config key, its directory and its word in messages.
KINDS: Final = (
    ("instances", "instances.d", "instance"),
    ("sync_groups", "sync_groups.d", "sync_group"),
)
STATES: Final = ("merged", "replaced", "overridden", "deleted", "gathered", "rendered")
BROKEN: Final = "\0broken"  # the key of a placeholder for a file that is not a JSON object

UNDONE: Final = {"add": "was removed again", "change": "was restored", "remove": "was put back"}

Objects = dict[str, dict[str, Any]]  # name -> object, per kind


def canonical_object(key: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object as the schema completes it (every default filled in)."""
    loader = load_instance if key == "instances" else load_sync_group
    return loader(obj).to_dict()


def _merge(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    # Resource-module merge: a mapping merges key by key, anything else
    # (a list, a scalar) replaces what was there.
    out = dict(base)
    for key, value in given.items():
        old = out.get(key)
        out[key] = (
            _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return out


@dataclass(frozen=True)
class Current:
    """The fragments on disk: per kind, ``name -> (previous file, parsed object)``."""

    files: dict[str, dict[str, Previous]]
    objects: dict[str, Objects]


def read_objects(config_dir: str) -> Current:
    """Every fragment under ``config_dir`` (a missing directory is an empty one)."""
    files: dict[str, dict[str, Previous]] = {}
    objects: dict[str, Objects] = {}
    for key, subdir, _word in KINDS:
        store = FragmentStore(config_dir, subdir)
        directory = os.path.join(config_dir, subdir)
        try:
            entries = sorted(os.listdir(directory))
        except FileNotFoundError:
            entries = []
        except OSError as exc:
            raise ConfigFileError(
                file=directory, path="", rule=f"cannot be listed: {exc}"
            ) from None
        files[key], objects[key] = {}, {}
        for entry in entries:
            if entry.startswith(".") or not entry.endswith(".json"):
                continue
            name = entry[: -len(".json")]
            previous = store.read(name)
            try:
                obj = json.loads(previous.text or "")
            except ValueError:
                obj = None  # hand-broken: replaced or removed, never merged into
            files[key][name] = previous
            objects[key][name] = obj if isinstance(obj, dict) else {BROKEN: store.path(name)}
    return Current(files=files, objects=objects)


def given_objects(config: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The task's objects per kind, names checked, a name given twice refused."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, _subdir, word in KINDS:
        items = list((config or {}).get(key) or [])
        seen: set[str] = set()
        for index, item in enumerate(items):
            check(item.get("name"), definition="name", prefix=(key, index, "name"))
            if item["name"] in seen:
                raise ConfigError(
                    f"{key}[{index}].name", f"the {word} {item['name']!r} is given twice"
                )
            seen.add(item["name"])
        out[key] = items
    return out


def desired(state: str, current: Objects, given: list[dict[str, Any]], key: str) -> Objects:
    """The objects of one kind after the task (``current`` as read, ``given`` by the task)."""
    if state == "deleted":
        if not given:
            return {}
        gone = {item["name"] for item in given}
        return {name: obj for name, obj in current.items() if name not in gone}
    out = {} if state in ("overridden", "rendered") else dict(current)
    for index, item in enumerate(given):
        base = current.get(item["name"], {}) if state == "merged" else {}
        if BROKEN in base:
            raise ConfigFileError(
                file=base[BROKEN],
                path="",
                rule="is not a JSON object: nothing to merge into (state=replaced rewrites it)",
            )
        try:
            out[item["name"]] = canonical_object(key, _merge(base, item))
        except ConfigFileError:
            raise
        except ConfigError as exc:
            # Name the object: the schema's path starts inside it.
            where = f"{key}[{index}]" + (f".{exc.path}" if exc.path else "")
            merged = ", merged into the one on the host" if base else ""
            rule = f"{exc.rule} ({key[:-1]} {item['name']!r}{merged})"
            raise ConfigError(where, rule) from None
    return out


@dataclass
class Change:
    """One file of the set: its text before (``previous``) and after (None: removed)."""

    kind: str
    name: str
    store: FragmentStore
    previous: Previous
    text: str | None
    mode: int

    @property
    def action(self) -> str:
        if self.previous.text is None:
            return "add"
        return "remove" if self.text is None else "change"


@dataclass
class ChangeSet:
    """The files a task changes under ``config_dir``; see the module docstring."""

    config_dir: str
    changes: list[Change] = field(default_factory=list)
    untouched: dict[str, dict[str, str]] = field(default_factory=dict)
    reloaded: bool = False
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def between(cls, config_dir: str, current: Current, wanted: dict[str, Objects]) -> ChangeSet:
        """The changes that turn ``current`` into ``wanted`` (objects per kind)."""
        found = cls(config_dir=config_dir)
        for key, subdir, word in KINDS:
            store = FragmentStore(config_dir, subdir)
            files = current.files[key]
            found.untouched[subdir] = {}
            for name in sorted(set(files) | set(wanted[key])):
                previous = files.get(name, Previous(text=None, mode=0o644))
                obj = wanted[key].get(name)
                if obj is not None and name in files and obj is current.objects[key].get(name):
                    text: str | None = previous.text  # not touched by the task: its bytes stay
                else:
                    text = None if obj is None else canonical_text(obj)
                if text == previous.text:
                    if text is not None:
                        found.untouched[subdir][name] = text
                    continue
                secret = obj is not None and "authentication" in obj
                found.changes.append(
                    Change(word, name, store, previous, text, 0o600 if secret else 0o644)
                )
        return found

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def commands(self) -> list[str]:
        """``add instance web``, ``change instance db (priority)``, ``remove sync_group g``."""
        lines = []
        for change in self.changes:
            line = f"{change.action} {change.kind} {change.name}"
            if change.action == "change":
                keys = _changed_keys(change.previous.text, change.text)
                if keys:
                    line += f" ({', '.join(keys)})"
            lines.append(line)
        return lines

    # -- validation ------------------------------------------------------------------

    def texts(self) -> dict[str, dict[str, str]]:
        """Every file of the directory after the change: ``{subdir: {name: text}}``."""
        out = {subdir: dict(names) for subdir, names in self.untouched.items()}
        for change in self.changes:
            if change.text is not None:
                out.setdefault(change.store.subdir, {})[change.name] = change.text
        return out

    def validate(self) -> None:
        """Load the whole resulting directory, once, with the runner's loader."""
        shadow = tempfile.mkdtemp(prefix=".failover-vrrp-check.")
        try:
            texts = self.texts()
            for subdir in SUBDIRS:
                os.mkdir(os.path.join(shadow, subdir))
                for name, text in texts.get(subdir, {}).items():
                    with open(
                        os.path.join(shadow, subdir, f"{name}.json"), "w", encoding="utf-8"
                    ) as fh:
                        fh.write(text)
            try:
                load_dir(shadow)
            except ConfigFileError as exc:
                file, rule = exc.file, exc.rule
                if file.startswith(shadow + os.sep):
                    file = os.path.join(self.config_dir, file[len(shadow) + 1 :])
                written = [c for c in self.changes if c.text is not None]
                if written and file not in {c.store.path(c.name) for c in written}:
                    # A cross-check blames the later file of a clash, which may be
                    # one this task does not touch: say which objects caused it.
                    names = ", ".join(f"{c.store.subdir}/{c.name}.json" for c in written)
                    rule = f"{rule} (a clash with {names} as this task declares it)"
                raise ConfigFileError(file=file, path=exc.path, rule=rule, line=exc.line) from None
        finally:
            shutil.rmtree(shadow, ignore_errors=True)

    # -- writing and reloading -------------------------------------------------------

    def apply(self, *, check_mode: bool, reload: bool, control_socket: str) -> None:
        """Validate, then (unless ``check_mode``) write every change and reload once.

        The caller holds :func:`locked` from the read of the directory on.
        """
        if not self.changes:
            return
        self.validate()
        if check_mode:
            return
        self._write_all()
        if reload:
            self.reloaded = self._reload(control_socket)

    def _write_all(self) -> None:
        done: list[Change] = []
        try:
            for change in self.changes:
                if change.text is None:
                    change.store.remove(change.name)
                else:
                    change.store.write(change.name, change.text, mode=change.mode)
                done.append(change)
        except ControlError as exc:
            self._restore(done)
            raise ControlError(f"{exc}; every file of the change set is as it was") from None

    def _restore(self, done: list[Change]) -> None:
        for change in reversed(done):
            change.store.restore(change.name, change.previous)

    def _reload(self, socket: str) -> bool:
        try:
            response = control.request(socket, {"cmd": "reload"}, timeout=RELOAD_TIMEOUT)
        except control.NoRunnerError:
            self.warnings.append(
                f"no runner is listening on {socket}: {len(self.changes)} file(s) under "
                f"{self.config_dir} are written and the runner will read them when it starts"
            )
            return False
        except ControlError as exc:
            raise ControlError(
                f"{exc}; the files under {self.config_dir} are written but the runner did not "
                "confirm the reload (check the runner, then run again)"
            ) from None
        if response["ok"]:
            return True
        self._restore(self.changes)
        undone = ", ".join(
            f"{change.store.path(change.name)} {UNDONE[change.action]}" for change in self.changes
        )
        message = (
            "the runner refused the new configuration and keeps running the previous one "
            f"({undone}): {response.get('error', 'refused')}"
        )
        raise RunnerRefusedError(
            message, path=str(response.get("path", "")), rule=str(response.get("rule", message))
        )

    def diff(self) -> list[dict[str, str]]:
        """One diff per changed file, passwords hidden."""
        return [
            {
                "before": shown(change.previous.text),
                "after": shown(change.text),
                "before_header": change.store.path(change.name),
                "after_header": change.store.path(change.name),
            }
            for change in self.changes
        ]


@contextlib.contextmanager
def locked(config_dir: str) -> Iterator[None]:
    """Hold ``<config_dir>/.lock`` (:func:`config_lock`) from the read through
    validate, write, reload.

    Two tasks on one host (two plays, a user's own task) would otherwise each
    validate against a directory the other is changing. Check mode takes no
    lock: it would create the file (and the directory on a bare host).
    """
    if os.path.exists(config_dir) and not os.path.isdir(config_dir):
        raise ConfigFileError(file=config_dir, path="", rule="is not a directory")
    with config_lock(config_dir):
        yield


def _changed_keys(before: str | None, after: str | None) -> list[str]:
    try:
        old, new = json.loads(before or "{}"), json.loads(after or "{}")
    except ValueError:
        return []
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    return sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))


def shown(text: str | None) -> str:
    """A fragment's text for a diff or a result, its password hidden."""
    if not text:
        return ""
    try:
        obj = json.loads(text)
    except ValueError:
        return f"(not valid JSON, {len(text)} characters: replaced)\n"
    return canonical_text(hide_secrets(obj))


def as_config(objects: Mapping[str, Objects]) -> dict[str, list[dict[str, Any]]]:
    """``{instances: [...], sync_groups: [...]}`` sorted by name, passwords hidden."""
    return {
        key: [
            hide_secrets(objects[key][name])
            for name in sorted(objects[key])
            if BROKEN not in objects[key][name]
        ]
        for key, _subdir, _word in KINDS
    }
