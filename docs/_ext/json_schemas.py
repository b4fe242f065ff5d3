"""``.. json-schemas::``: every JSON schema the package declares, rendered from the code that validates with it.

A schema is a public name ending in ``_SCHEMA`` in some module's ``__all__`` (``VERDICTS_SCHEMA`` of
:mod:`stablesam.analysis.verify.report`, for ``verdicts.json``); each appears under its qualified name with its
module's summary line, so a schema added to the code appears in the reference without an edit here.
"""

from __future__ import annotations

import importlib
import json

from docutils import nodes
from docutils.parsers.rst import Directive

from _ext.api_pages import _folder, _packages


def declared_schemas() -> dict[str, dict]:
    """Qualified name -> schema, for every ``*_SCHEMA`` that a module's ``__all__`` exports."""
    packages, mapping = _packages()
    schemas = {}
    for package in packages:
        for path in sorted(_folder(package, mapping).glob("*.py")):
            if path.stem.startswith("_") or "_SCHEMA" not in path.read_text():
                continue
            module = importlib.import_module(f"{package}.{path.stem}")
            for name in getattr(module, "__all__", ()):
                if name.endswith("_SCHEMA"):
                    schemas[f"{module.__name__}.{name}"] = getattr(module, name)
    return schemas


class JsonSchemas(Directive):
    has_content = False

    def run(self):
        result = []
        for qualified, schema in declared_schemas().items():
            section = nodes.section(ids=[nodes.make_id(qualified)])
            section += nodes.title(text=qualified)
            module = importlib.import_module(qualified.rpartition(".")[0])
            summary = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
            if summary:
                section += nodes.paragraph(text=summary)
            text = json.dumps(schema, indent=2, default=str)
            block = nodes.literal_block(text, text, language="json")
            section += block
            result.append(section)
        if not result:
            raise self.error("no *_SCHEMA found in any module's __all__")
        return result


def setup(app):
    app.add_directive("json-schemas", JsonSchemas)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
