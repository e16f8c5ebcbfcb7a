# Copyright: failover.vrrp developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``failover.vrrp.from_keepalived`` filter (documented in from_keepalived.yml)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.errors import VRRPError
from ansible_collections.failover.vrrp.plugins.module_utils.vrrp.keepalived_conf import (
    import_files,
    import_text,
)


def from_keepalived(
    text: Any, host: str | None = None, path: str | None = None, files: Any = None
) -> dict[str, Any]:
    """Convert keepalived.conf text into ``{config, not_converted, complete}``."""
    if not isinstance(text, str):
        raise AnsibleFilterError(
            f"from_keepalived expects the text of a keepalived.conf, got {type(text).__name__}"
        )
    if host is not None and not isinstance(host, str):
        raise AnsibleFilterError("from_keepalived: host must be a string")
    if files is not None and not (
        isinstance(files, dict) and all(isinstance(v, str) for v in files.values())
    ):
        raise AnsibleFilterError("from_keepalived: files must map paths to file texts")
    if files is not None and not (isinstance(path, str) and path.startswith("/")):
        raise AnsibleFilterError(
            "from_keepalived: with files, path names the input's absolute path"
        )
    try:
        if files is None:
            result = import_text(to_text(text), host=host)
        else:
            texts = {to_text(k): to_text(v) for k, v in files.items()}
            texts[to_text(path)] = to_text(text)
            result = import_files(to_text(path), texts, host=host)
    except VRRPError as exc:
        raise AnsibleFilterError(f"from_keepalived: {exc}") from exc
    return {
        "config": result.config,
        "not_converted": [
            {
                "file": note.file,
                "line": note.line,
                "keyword": note.keyword,
                "why": note.why,
                "vrrp": note.vrrp,
            }
            for note in result.not_converted
        ],
        "complete": result.complete,
    }


class FilterModule:
    """The collection's filters."""

    def filters(self) -> dict[str, Any]:
        return {"from_keepalived": from_keepalived}
