"""The one place for the engine's guarded third-party imports.

ansible-test's ``import`` sanity test imports every module_utils file with
only ansible-core's own requirements installed (PyYAML is one of them,
jsonschema and pyroute2 are not), and an Ansible module must fail with
``missing_required_lib()`` rather than a traceback on a host that lacks a
library. So each optional library is imported here inside ``try``; a failure
keeps its traceback in a module-level ``*_IMPORT_ERROR`` and the code that
needs the library calls ``require_*()`` first, which raises
:class:`MissingLibraryError` naming the library.

A module does::

    except MissingLibraryError as exc:
        module.fail_json(msg=missing_required_lib(exc.library),
                         exception=exc.import_traceback)

To add a library: one more ``try`` block, ``*_IMPORT_ERROR`` and
``require_*()`` below, in the same shape.
"""

from __future__ import annotations

import sys
import traceback

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


# jsonschema: validates configurations against vrrp.schema.CONFIG_SCHEMA.
JSONSCHEMA_IMPORT_ERROR: str | None
try:
    import jsonschema
    import jsonschema.exceptions
except ImportError:
    JSONSCHEMA_IMPORT_ERROR = traceback.format_exc()
else:
    JSONSCHEMA_IMPORT_ERROR = None


def require_jsonschema() -> None:
    """Raise :class:`MissingLibraryError` unless ``jsonschema`` imported."""
    if JSONSCHEMA_IMPORT_ERROR is not None:
        raise MissingLibraryError("jsonschema", JSONSCHEMA_IMPORT_ERROR)


# PyYAML: reads YAML config files. ansible-core depends on it, but a managed
# host that runs only the runner on JSON fragments may not have it.
YAML_IMPORT_ERROR: str | None
try:
    import yaml
except ImportError:
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    YAML_IMPORT_ERROR = None


def require_yaml() -> None:
    """Raise :class:`MissingLibraryError` unless ``yaml`` (PyYAML) imported."""
    if YAML_IMPORT_ERROR is not None:
        raise MissingLibraryError("PyYAML", YAML_IMPORT_ERROR)


__all__ = [
    "JSONSCHEMA_IMPORT_ERROR",
    "YAML_IMPORT_ERROR",
    "MissingLibraryError",
    "jsonschema",
    "require_jsonschema",
    "require_yaml",
    "yaml",
]
