"""Sphinx configuration of the API reference (``make docs``; CI builds it with warnings as errors).

Sphinx rather than mkdocs: the docstrings are reStructuredText with Sphinx roles (``:mod:``, ``:class:``) and
Google-style sections (``Args:``, ``Returns:``), which autodoc with napoleon reads as written; the command line
is an argparse parser, rendered from ``stablesam.cli.build_parser`` (a local directive, :mod:`_ext.cli_reference`); MathJax renders
the math. ``docs/theory.md`` stays Markdown, read by myst-parser.

The API pages are not written by hand: :mod:`_ext.api_pages` writes one page per package of pyproject's package
list at every build, documenting the package's ``__all__`` and each module's docstring, so a new package, module
or public name appears without an edit here.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))

project = "StableSAM toolkit"
author = "StableSAM toolkit contributors"
from stablesam import __version__ as release  # noqa: E402

version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "_ext.cli_reference",
    "myst_parser",
    "_ext.api_pages",
    "_ext.json_schemas",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# The README's and theory.md's repository links point at files outside the docs.
suppress_warnings = ["myst.xref_missing"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Sources annotate with postponed annotations (``from __future__ import annotations``): show them as written.
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

html_theme = "alabaster"
html_title = f"StableSAM toolkit {release}"


def _no_type_docstring(app, what, name, obj, options, lines):
    """A value with no documentation of its own (a table such as ``METHODS``) would otherwise show its type's
    docstring (``dict``'s, ``tuple``'s); its module's text describes it instead."""
    if what in ("data", "attribute") and lines and "\n".join(lines).strip() == str(type(obj).__doc__ or "").strip():
        lines.clear()


def setup(app):
    app.connect("autodoc-process-docstring", _no_type_docstring)
