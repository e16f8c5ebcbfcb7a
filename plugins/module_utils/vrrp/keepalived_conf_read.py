"""Reading a keepalived.conf the way keepalived's ``lib/parser.c`` reads it.

This layer turns files into *logical lines*: comments gone, ``include``
followed, ``@host`` conditionals decided, ``$NAME`` parameters substituted,
and every ``{`` / ``}`` on a line of its own (keepalived splits a line at the
first brace outside quotes). The block grammar is in
:mod:`vrrp.keepalived_conf_tree`.

keepalived's rules kept here:

- ``!`` and ``#`` start a comment outside double quotes; ``\\!`` and
  ``\\#`` are the characters themselves.
- ``include PATTERN`` (and ``includer``/``includem``/...) is a glob relative
  to the directory of the including file; every match is read in order.
- A line ``@ID rest`` applies only when the config id (``keepalived -i``,
  our ``--host``) is ID; ``@^ID rest`` only when it is not.
- ``$NAME=value`` defines a parameter (a value ending in ``\\`` continues
  on the next lines: a multi-line definition); ``$NAME`` and ``${NAME}``
  are replaced where defined, undefined ones stay as written.

Input is bounded (bytes, lines, line length, include depth and count,
substitution rounds) so that a hostile file costs bounded memory and time.
"""

from __future__ import annotations

import fnmatch
import glob
import itertools
import os
import re
import stat
from collections.abc import Iterator, Mapping
from typing import Final, NamedTuple

from .errors import VRRPError

MAX_FILE_BYTES: Final = 1 << 20
MAX_TOTAL_BYTES: Final = 8 << 20
MAX_LINE_CHARS: Final = 4096
MAX_LINES: Final = 20_000
MAX_EXPANSION: Final = 4 << 20  # characters produced by parameter substitution
MAX_INCLUDE_DEPTH: Final = 8
MAX_FILES: Final = 256
MAX_DEFINITIONS: Final = 1000
MAX_SUBSTITUTIONS: Final = 16

_DEFINITION: Final = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$", re.DOTALL)
_REFERENCE: Final = re.compile(r"\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_INCLUDE: Final = re.compile(r"^include[rmwba]?[ \t]+(.*)$")


class Line(NamedTuple):
    """One logical line and where it came from."""

    file: str
    line: int
    text: str


class Note(NamedTuple):
    """Something that was not converted: ``FILE:LINE: KEYWORD: why``.

    ``vrrp`` is False for what is no part of VRRP (LVS, mail alerts, ...):
    named all the same, but the VRRP conversion is complete without it.
    """

    file: str
    line: int
    keyword: str
    why: str
    vrrp: bool = True

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.keyword}: {self.why}"


class ConfSyntaxError(VRRPError):
    """The configuration cannot be read; names the file and line."""

    def __init__(self, file: str, line: int, rule: str) -> None:
        super().__init__(f"{file}:{line}: {rule}")
        self.file = file
        self.line = line
        self.rule = rule


def decomment(text: str) -> tuple[str, bool]:
    """Strip a comment and the surrounding blanks; say if a ``\\`` ends the line."""
    out: list[str] = []
    quote = False
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == '"':
            quote = not quote
        elif char == "\\":
            if index + 1 == length:
                return "".join(out).strip(" \t"), True
            nxt = text[index + 1]
            if not quote and nxt in "#!":
                out.append(nxt)
            else:
                out.append(char + nxt)
            index += 2
            continue
        elif not quote and char in "!#":
            break
        out.append(char)
        index += 1
    return "".join(out).strip(" \t"), False


def split_braces(text: str) -> list[str]:
    """keepalived puts each ``{`` and ``}`` outside quotes on a line of its own."""
    pieces: list[str] = []
    rest = text.strip(" \t")
    while rest:
        quote = False
        cut = -1
        for index, char in enumerate(rest):
            if char == '"':
                quote = not quote
            elif not quote and char in "{}":
                cut = index
                break
        if cut < 0:
            pieces.append(rest)
            break
        if cut > 0:
            pieces.append(rest[:cut].rstrip(" \t"))
        pieces.append(rest[cut])
        rest = rest[cut + 1 :].strip(" \t")
    return pieces


def _glob_in(pattern: str, paths: Mapping[str, str]) -> Iterator[str]:
    """The keys of ``paths`` that ``pattern`` matches as glob(3) would: per segment."""
    parts = os.path.normpath(pattern).split("/")  # "conf.d/../x" as the kernel walks it
    for path in paths:
        names = path.split("/")
        if len(names) == len(parts) and all(
            fnmatch.fnmatchcase(name, part) for name, part in zip(names, parts)
        ):
            yield path


class Reader:
    """Reads one configuration (with its includes) into logical lines.

    ``files`` (path → text) stands for the file system: the files of a host
    read elsewhere (the migration playbook converts on the controller).
    """

    def __init__(
        self,
        *,
        host: str | None,
        follow_includes: bool = True,
        files: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.follow_includes = follow_includes
        self.files = files
        self.lines: list[Line] = []
        self.notes: list[Note] = []
        self._definitions: dict[str, str] = {}
        self._files = 0
        self._bytes = 0
        self._open: list[str] = []
        self._expanded = 0
        self._depth = 0

    # --- files -------------------------------------------------------------

    def read_file(self, path: str, *, at: tuple[str, int] | None = None) -> None:
        """Read ``path`` and what it includes; ``at`` is the include line naming it."""
        where, line = at or (path, 0)
        about = f"{path}: " if at else ""

        def refuse(rule: str) -> ConfSyntaxError:
            return ConfSyntaxError(where, line, about + rule)

        if len(self._open) >= MAX_INCLUDE_DEPTH:
            raise refuse(f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
        real = os.path.realpath(path)
        if real in self._open:
            raise refuse("included again while it is being read (an include loop)")
        self._files += 1
        if self._files > MAX_FILES:
            raise refuse(f"more than {MAX_FILES} files included")
        if self.files is not None:
            if path not in self.files:
                raise refuse("cannot read: not among the files read from the host")
            text = self.files[path]
            if len(text) > MAX_FILE_BYTES:
                raise refuse(f"larger than {MAX_FILE_BYTES} bytes")
            self._open.append(path)
            try:
                self.read_text(text, name=path, path=path)
            finally:
                self._open.pop()
            return
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise refuse("not a regular file")  # a FIFO would block, a device never end
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise refuse(f"cannot read: {exc.strerror or exc}") from None
        if len(data) > MAX_FILE_BYTES:
            raise refuse(f"larger than {MAX_FILE_BYTES} bytes")
        self._open.append(real)
        try:
            self.read_text(data.decode("utf-8", errors="replace"), name=path, path=path)
        finally:
            self._open.pop()

    def read_text(self, text: str, *, name: str, path: str | None = None) -> None:
        """Read configuration text; ``path`` is where includes are relative to."""
        self._bytes += len(text)
        if self._bytes > MAX_TOTAL_BYTES:
            raise ConfSyntaxError(name, 0, f"more than {MAX_TOTAL_BYTES} bytes in all")
        pending: tuple[str, int, list[str]] | None = None  # a multi-line definition
        for number, raw in enumerate(text.split("\n"), start=1):
            if "\0" in raw:
                raise ConfSyntaxError(name, number, "a NUL character in the text")
            if len(raw) > MAX_LINE_CHARS:
                raise ConfSyntaxError(name, number, f"line longer than {MAX_LINE_CHARS} characters")
            body, more = decomment(raw.rstrip("\r"))
            if pending is not None:
                if body:
                    pending[2].append(body)
                if not more:
                    self._define(name, number, pending[0], "\n".join(pending[2]))
                    pending = None
                continue
            if more:
                body += "\\"
            if not body:
                continue
            started = self._line(name, number, body, more, path)
            if started is not None:
                pending = (started[0], number, [started[1]] if started[1] else [])
        if pending is not None:
            self._define(name, pending[1], pending[0], "\n".join(pending[2]))

    # --- one line ----------------------------------------------------------

    def _line(
        self, name: str, number: int, body: str, more: bool, path: str | None
    ) -> tuple[str, str] | None:
        """Handle one decommented line; a multi-line definition start is returned."""
        text = body
        for _round in range(MAX_SUBSTITUTIONS):
            if text.startswith("@"):
                kept = self._conditional(name, number, text)
                if kept is None:
                    return None
                text = kept
            found = _DEFINITION.match(text)
            if found:
                value = found.group(2)
                if more and value.endswith("\\"):
                    return found.group(1), value[:-1].rstrip(" \t")
                self._define(name, number, found.group(1), value)
                return None
            if text.startswith("~"):
                keyword = text.split(None, 1)[0]
                self.note(name, number, keyword, "keepalived's ~SEQ/~LST lines are not supported")
                return None
            replaced = self._substitute(text)
            if replaced == text:
                break
            self._expanded += len(replaced)
            longest = max(len(part) for part in replaced.split("\n"))
            if longest > MAX_LINE_CHARS or self._expanded > MAX_EXPANSION:
                raise ConfSyntaxError(name, number, "parameter substitution makes it too long")
            if "\n" in replaced:
                self._lines_of(name, number, replaced, path)
                return None
            text = decomment(replaced)[0]
            if not (text.startswith("@") or "$" in text):
                break
        else:
            raise ConfSyntaxError(name, number, "parameter substitution does not end")
        self._emit(name, number, text, path)
        return None

    def _lines_of(self, name: str, number: int, text: str, path: str | None) -> None:
        """A multi-line parameter: keepalived reads each of its lines as a line."""
        self._depth += 1
        if self._depth > MAX_INCLUDE_DEPTH:
            raise ConfSyntaxError(name, number, "multi-line parameters nested too deeply")
        for part in text.split("\n"):
            body = decomment(part)[0]
            if body:
                self._line(name, number, body, False, path)
        self._depth -= 1

    def _conditional(self, name: str, number: int, text: str) -> str | None:
        negate = text.startswith("@^")
        head, _sep, rest = text[2 if negate else 1 :].partition(" ")
        if "\t" in head:
            head, _sep, tail = head.partition("\t")
            rest = tail + " " + rest
        rest = rest.strip(" \t")
        if not rest:
            return None
        if self.host is None:
            self.note(
                name,
                number,
                text.split(None, 1)[0],
                f"applies {'except ' if negate else ''}on host {head!r} only; "
                "name the host with --host to decide",
            )
            return None
        return rest if (self.host == head) != negate else None

    def _define(self, name: str, number: int, key: str, value: str) -> None:
        if key not in self._definitions and len(self._definitions) >= MAX_DEFINITIONS:
            raise ConfSyntaxError(name, number, f"more than {MAX_DEFINITIONS} parameters")
        self._definitions[key] = value

    def _substitute(self, text: str) -> str:
        # keepalived's built-in parameters: _INSTANCE is the config id (-i).
        builtin = {"_HASH": "#", "_BANG": "!"}
        if self.host is not None:
            builtin["_INSTANCE"] = self.host

        def value(match: re.Match[str]) -> str:
            key = match.group(2) or match.group(3)
            return self._definitions.get(key, builtin.get(key, match.group(0)))

        return _REFERENCE.sub(value, text) if "$" in text else text

    def _emit(self, name: str, number: int, text: str, path: str | None) -> None:
        if not text:
            return
        include = _INCLUDE.match(text)
        if include:
            self._include(name, number, include.group(1).strip(" \t"), path)
            return
        for piece in split_braces(text):
            if len(self.lines) >= MAX_LINES:
                raise ConfSyntaxError(name, number, f"more than {MAX_LINES} lines in all")
            self.lines.append(Line(name, number, piece))

    def _include(self, name: str, number: int, pattern: str, path: str | None) -> None:
        pattern = pattern.strip('"')
        if not self.follow_includes or path is None:
            self.note(name, number, "include", f"{pattern!r} cannot be followed from text")
            return
        if not os.path.isabs(pattern):
            pattern = os.path.join(os.path.dirname(path) or ".", pattern)
        found = glob.iglob(pattern) if self.files is None else _glob_in(pattern, self.files)
        matches = list(itertools.islice(found, MAX_FILES + 1))
        if len(matches) > MAX_FILES:
            raise ConfSyntaxError(name, number, f"{pattern!r} matches more than {MAX_FILES} files")
        if not matches:
            self.note(name, number, "include", f"no file matches {pattern!r}")
            return
        for match in sorted(matches):
            if not os.path.isdir(match):
                self.read_file(match, at=(name, number))

    def note(self, file: str, line: int, keyword: str, why: str) -> None:
        """Record something not converted."""
        self.notes.append(Note(file, line, keyword, why))
