"""Sphinx settings of the collection's documentation site (``make docs``).

Started from ``antsibull-docs sphinx-init --use-current failover.vrrp``
(antsibull-docs 2.28.0). Changed: the site builds offline (CI has no network),
so no intersphinx; the two labels of the Ansible documentation that
antsibull-docs' pages link to resolve to their docs.ansible.com addresses.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes

project = "failover.vrrp"
project_copyright = "failover.vrrp developers"
title = "failover.vrrp documentation"
html_short_title = "failover.vrrp"

extensions = ["sphinx_antsibull_ext"]
pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = "any"
nitpicky = True

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
EXTERNAL_LABELS = {
    "ansible_configuration_settings": "reference_appendices/config.html",
    "common_return_values": "reference_appendices/common_return_values.html",
}


def _external_label(_app: Any, _env: Any, node: Any, contnode: Any) -> Any:
    """A ``:ref:`` to a label of the Ansible documentation: a link to its page."""
    target = node.get("reftarget")
    if node.get("refdomain") != "std" or target not in EXTERNAL_LABELS:
        return None
    reference = nodes.reference(
        "", "", internal=False, refuri=ANSIBLE_DOCS + EXTERNAL_LABELS[target]
    )
    reference += contnode
    return reference


def setup(app: Any) -> None:
    app.connect("missing-reference", _external_label)
