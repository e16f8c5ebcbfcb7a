"""keepalived's block grammar: logical lines into a tree of keyword nodes.

A logical line (from :mod:`vrrp.keepalived_conf_read`) is split into words
as keepalived's ``alloc_strvec_r`` does: blanks separate words and a
``"quoted string"`` is one word without its quotes. A ``{`` line opens the
block of the keyword line before it, a ``}`` line closes the innermost block.

Script lines (``script``, ``notify_*``) are split again as keepalived's
``alloc_strvec_quoted`` and ``alloc_strvec_quoted_escaped`` do: the first
word after the keyword is the command line (split into an argv honouring
``"``, ``'`` and backslash escapes); the words after it name a user and group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from .keepalived_conf_read import ConfSyntaxError, Line

MAX_DEPTH: Final = 16
_BLANKS: Final = " \t\f\n\r\v"
_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}


@dataclass
class Node:
    """One keyword line and, if a block follows it, the lines inside."""

    keyword: str
    args: list[str]
    text: str
    file: str
    line: int
    children: list[Node] | None = None
    closed: bool = field(default=False, repr=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def words(text: str, where: Line) -> list[str]:
    """Split a logical line into words (keepalived's ``alloc_strvec_r``)."""
    out: list[str] = []
    index = 0
    length = len(text)
    while True:
        while index < length and text[index] in _BLANKS:
            index += 1
        if index >= length:
            return out
        if text[index] == '"':
            end = text.find('"', index + 1)
            if end < 0:
                raise ConfSyntaxError(where.file, where.line, "unmatched quote")
            out.append(text[index + 1 : end])
            index = end + 1
            continue
        start = index
        while index < length and text[index] not in _BLANKS and text[index] != '"':
            index += 1
        out.append(text[start:index])


def build(lines: list[Line]) -> list[Node]:
    """The top-level nodes; raises :class:`ConfSyntaxError` on unbalanced braces."""
    top: list[Node] = []
    stack: list[Node] = []
    last: Node | None = None
    for line in lines:
        if line.text == "{":
            if last is None or last.children is not None:
                raise ConfSyntaxError(line.file, line.line, "'{' without a keyword before it")
            if len(stack) >= MAX_DEPTH:
                raise ConfSyntaxError(
                    line.file, line.line, f"blocks nested deeper than {MAX_DEPTH}"
                )
            last.children = []
            stack.append(last)
            last = None
            continue
        if line.text == "}":
            if not stack:
                raise ConfSyntaxError(line.file, line.line, "'}' without an open block")
            stack.pop().closed = True
            last = None
            continue
        parts = words(line.text, line)
        if not parts:
            continue
        node = Node(parts[0], parts[1:], line.text, line.file, line.line)
        (stack[-1].children if stack and stack[-1].children is not None else top).append(node)
        last = node
    if stack:
        opened = stack[-1]
        raise ConfSyntaxError(
            opened.file, opened.line, f"the block of {opened.keyword!r} is not closed"
        )
    return top


def _quoted_words(text: str, *, escapes: bool) -> list[str] | None:
    """keepalived's ``alloc_strvec_quoted[_escaped]``; None on a bad quote/escape."""
    out: list[str] = []
    index = 0
    while True:
        while index < len(text) and text[index] in _BLANKS:
            index += 1
        if index >= len(text):
            return out
        word = _quoted_word(text, index, escapes=escapes)
        if word is None:
            return None
        index, value = word
        out.append(value)


def _quoted_word(text: str, index: int, *, escapes: bool) -> tuple[int, str] | None:
    word: list[str] = []
    quote = ""
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 >= len(text):
                return None
            nxt = text[index + 1]
            index += 2
            if escapes:
                index, nxt = _escape(text, index, nxt)
            word.append(nxt if escapes else "\\" + nxt)
        elif quote:
            index += 1
            if char != quote:
                word.append(char)
            else:
                quote = ""
        elif char in "\"'":
            quote = char
            index += 1
        elif char in _BLANKS:
            break
        else:
            word.append(char)
            index += 1
    return None if quote else (index, "".join(word))


def _escape(text: str, index: int, char: str) -> tuple[int, str]:
    """Decode one escape whose letter ``char`` was just read; ``index`` is past it."""
    digits = "0123456789abcdefABCDEF"
    if char == "x" and index < len(text) and text[index] in digits:
        end = index
        while end < len(text) and end < index + 2 and text[end] in digits:
            end += 1
        return end, chr(int(text[index:end], 16))
    if char == "c" and index < len(text):
        return index + 1, chr(ord(text[index]) & 0x1F)
    if "0" <= char <= "7":
        end = index
        while end < len(text) and end < index + 2 and "0" <= text[end] <= "7":
            end += 1
        return end, chr(int(char + text[index:end], 8) & 0xFF)
    return index, _ESCAPES.get(char, char)


def script_line(node: Node) -> tuple[list[str], list[str]] | None:
    """``(argv, user_and_group)`` of a script keyword line, None if unusable."""
    first = _quoted_words(node.text, escapes=False)
    if first is None or len(first) < 2:
        return None
    argv = _quoted_words(first[1], escapes=True)
    if not argv or any(not word or "\0" in word for word in argv):
        return None
    return argv, first[2:]
