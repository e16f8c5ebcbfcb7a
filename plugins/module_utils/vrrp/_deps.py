"""The one place for the engine's guarded third-party imports.

ansible-test's ``import`` sanity test imports every module_utils file with
only ansible-core's own requirements installed (PyYAML is one of them,
jsonschema and pyroute2 are not), and an Ansible module must fail with
``missing_required_lib()`` rather than a traceback on a host that lacks a
library. So each optional library is imported here inside ``try`` (lazily, on
first use); a failure keeps its traceback in a module-level ``*_IMPORT_ERROR`` and the code that
needs the library calls ``require_*()`` first, which raises
:class:`MissingLibraryError` naming the library.

A module does::

    except MissingLibraryError as exc:
        module.fail_json(msg=missing_required_lib(exc.library),
                         exception=exc.import_traceback)

To add a library: one more ``_import_*()``, its ``_LAZY`` entries,
``*_IMPORT_ERROR`` and ``require_*()`` below, in the same shape.
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any, Final

from .errors import VRRPError


class MissingLibraryError(VRRPError):
    """A third-party Python library the engine needs is not installed."""

    def __init__(self, library: str, import_traceback: str) -> None:
        super().__init__(
            f"the Python library {library!r} is required but could not be imported "
            f"by {sys.executable}; install it from the OS packages or PyPI"
        )
        self.library = library
        self.import_traceback = import_traceback


# The libraries are imported on first use, not when this module is: the runner
# daemon never validates in its own process (a child does, see
# vrrp.config.load_isolated), and jsonschema alone would cost it some 10 MiB
# of memory for its whole life; PyYAML is needed only for a YAML file. The
# names below are declared for type checkers; at run time the module-level
# ``__getattr__`` imports the library the first time one of them is read
# (``_deps.jsonschema``, ``_deps.JSONSCHEMA_IMPORT_ERROR``, or through
# ``require_*()``), and stores both names as ordinary globals.
if TYPE_CHECKING:
    import jsonschema
    import jsonschema.exceptions
    import prometheus_client
    import yaml

# jsonschema: validates configurations against vrrp.schema.CONFIG_SCHEMA.
JSONSCHEMA_IMPORT_ERROR: str | None

# PyYAML: reads YAML config files. ansible-core depends on it, but a managed
# host that runs only the runner on JSON fragments may not have it.
YAML_IMPORT_ERROR: str | None


# prometheus_client: the runner's metrics endpoint (vrrp.metrics), only when
# metrics are turned on.
PROMETHEUS_CLIENT_IMPORT_ERROR: str | None


def _import_prometheus_client() -> None:
    try:
        import prometheus_client  # noqa: PLC0415
        import prometheus_client.core  # noqa: PLC0415
        import prometheus_client.exposition  # noqa: PLC0415
    except ImportError:
        globals()["PROMETHEUS_CLIENT_IMPORT_ERROR"] = traceback.format_exc()
    else:
        globals().update(prometheus_client=prometheus_client, PROMETHEUS_CLIENT_IMPORT_ERROR=None)


def _import_jsonschema() -> None:
    try:
        import jsonschema  # noqa: PLC0415
        import jsonschema.exceptions  # noqa: PLC0415
    except ImportError:
        globals()["JSONSCHEMA_IMPORT_ERROR"] = traceback.format_exc()
    else:
        globals().update(jsonschema=jsonschema, JSONSCHEMA_IMPORT_ERROR=None)


def _import_yaml() -> None:
    try:
        import yaml  # noqa: PLC0415
    except ImportError:
        globals()["YAML_IMPORT_ERROR"] = traceback.format_exc()
    else:
        globals().update(yaml=yaml, YAML_IMPORT_ERROR=None)


_LAZY: Final = {
    "jsonschema": _import_jsonschema,
    "JSONSCHEMA_IMPORT_ERROR": _import_jsonschema,
    "yaml": _import_yaml,
    "YAML_IMPORT_ERROR": _import_yaml,
    "prometheus_client": _import_prometheus_client,
    "PROMETHEUS_CLIENT_IMPORT_ERROR": _import_prometheus_client,
}


def __getattr__(name: str) -> Any:
    """Import a library on first access to its name (PEP 562)."""
    importer = _LAZY.get(name)
    if importer is not None:
        importer()
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _import_error(name: str) -> str | None:
    if name not in globals():
        _LAZY[name]()
    error: str | None = globals()[name]
    return error


def require_jsonschema() -> None:
    """Raise :class:`MissingLibraryError` unless ``jsonschema`` imports."""
    error = _import_error("JSONSCHEMA_IMPORT_ERROR")
    if error is not None:
        raise MissingLibraryError("jsonschema", error)


def require_yaml() -> None:
    """Raise :class:`MissingLibraryError` unless ``yaml`` (PyYAML) imports."""
    error = _import_error("YAML_IMPORT_ERROR")
    if error is not None:
        raise MissingLibraryError("PyYAML", error)


def require_prometheus_client() -> None:
    """Raise :class:`MissingLibraryError` unless ``prometheus_client`` imports."""
    error = _import_error("PROMETHEUS_CLIENT_IMPORT_ERROR")
    if error is not None:
        raise MissingLibraryError("prometheus_client", error)


__all__ = [
    "JSONSCHEMA_IMPORT_ERROR",
    "PROMETHEUS_CLIENT_IMPORT_ERROR",
    "YAML_IMPORT_ERROR",
    "MissingLibraryError",
    "jsonschema",
    "prometheus_client",
    "require_jsonschema",
    "require_prometheus_client",
    "require_yaml",
    "yaml",
]
