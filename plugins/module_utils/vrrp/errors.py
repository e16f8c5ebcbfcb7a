"""The engine's one error tree.

Every error the engine raises on bad input derives from :class:`VRRPError`, so
a module catches the base class once in ``main()`` and the runner counts and
logs them without ever dying on a packet, a config or a request.
"""

from __future__ import annotations


class VRRPError(Exception):
    """Base class of every error the engine raises on purpose."""


class PacketError(VRRPError):
    """A received VRRP message failed a receive check.

    ``reason`` is a stable short name of the failed check (``ttl``,
    ``version``, ``type``, ``length``, ``checksum``, ``count``, ...): the
    runner counts drops by it and tests match on it.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(VRRPError):
    """A configuration broke a rule.

    ``path`` is the JSON path of the offending value as a user reads it
    (``instances[1].advert_interval``; ``""`` for the document itself) and
    ``rule`` says which rule was broken.
    """

    def __init__(self, path: str, rule: str) -> None:
        super().__init__(f"{path or '<config>'}: {rule}")
        self.path = path
        self.rule = rule


class StateError(VRRPError):
    """An illegal state machine transition was attempted (a bug, not input)."""


class NetlinkError(VRRPError):
    """The kernel refused or failed a netlink or socket operation."""


class ControlError(VRRPError):
    """A control-socket request was malformed or could not be served."""
