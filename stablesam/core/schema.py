"""A small JSON Schema checker: the keywords the toolkit's own schemas use, with no extra package.

The documents the toolkit writes or prints (``verdicts.json``, every subcommand's ``--json`` object) are checked
against their schema before they leave the process. The schemas are plain JSON Schema (draft 2020-12) restricted to
the keywords checked here, so ``jsonschema`` (which the tests use where it is installed) gives the same answer:

- ``type`` (a name or a list of names: ``object``, ``array``, ``string``, ``number``, ``integer``, ``boolean``,
  ``null``; a boolean is never a number, as in JSON Schema),
- ``const``, ``enum``, ``pattern`` (strings only, ``re.search``), ``minimum`` (numbers only),
- ``required``, ``properties``, ``additionalProperties`` (``false`` or a schema for the keys ``properties`` does
  not name),
- ``items`` (one schema for every element),
- ``oneOf`` (exactly one of its schemas holds, e.g. ``[{"required": ["a"]}, {"required": ["b"]}]``: one of two
  keys, never both).

Annotations (``title``, ``description``, ``$schema``) are ignored. Any other keyword is refused
(``ValueError``): a schema that used one would be checked less than it says.

>>> schema = {"type": "object", "required": ["lr"], "properties": {"lr": {"type": "number", "minimum": 0}}}
>>> schema_errors({"lr": 0.1}, schema)
[]
>>> schema_errors({"lr": True}, schema)
['$.lr: expected number, got bool']
>>> schema_errors({}, schema)
["$: missing 'lr'"]
>>> either = {"oneOf": [{"required": ["max_lr"]}, {"required": ["max_c"]}]}
>>> schema_errors({"max_lr": 1.0, "max_c": 2.0}, either)
['$: matches 2 of the 2 schemas of oneOf (exactly one must hold)']
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["schema_errors"]

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
_ANNOTATIONS = {"title", "description", "$schema"}
_CHECKED = {"type", "const", "enum", "pattern", "minimum", "required", "properties", "additionalProperties", "items",
            "oneOf"}


def _is_type(value: Any, name: str) -> bool:
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def schema_errors(instance: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Violations of ``schema`` by ``instance``, one line each, naming the JSON path (``$.rows[0].lr``).

    Args:
        instance: a document as ``json.loads`` returns it (dicts, lists, strings, numbers, booleans, ``None``).
        schema: a JSON Schema using only the keywords of this module's docstring.
        path: the path of ``instance`` in the whole document (for the messages).

    Returns:
        An empty list when ``instance`` satisfies ``schema``.

    Raises:
        ValueError: ``schema`` uses a keyword this checker does not check.
    """
    unknown = set(schema) - _CHECKED - _ANNOTATIONS
    if unknown:
        raise ValueError(f"schema at {path} uses keyword(s) {sorted(unknown)} that schema_errors does not check")
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_is_type(instance, n) for n in names):
            return [f"{path}: expected {' or '.join(names)}, got {type(instance).__name__}"]
    errors = []
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}, got {instance!r}")
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r} is not one of {schema['enum']!r}")
    if "pattern" in schema and isinstance(instance, str) and not re.search(schema["pattern"], instance):
        errors.append(f"{path}: {instance!r} does not match {schema['pattern']!r}")
    if "minimum" in schema and _is_type(instance, "number") and instance < schema["minimum"]:
        errors.append(f"{path}: {instance!r} is below the minimum {schema['minimum']!r}")
    if isinstance(instance, dict):
        errors += [f"{path}: missing {key!r}" for key in schema.get("required", ()) if key not in instance]
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key in instance:
                errors += schema_errors(instance[key], sub, f"{path}.{key}")
        extra = schema.get("additionalProperties", True)
        for key in (k for k in instance if k not in properties):
            if extra is False:
                errors.append(f"{path}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                errors += schema_errors(instance[key], extra, f"{path}.{key}")
    if "oneOf" in schema:
        holding = sum(not schema_errors(instance, sub, path) for sub in schema["oneOf"])
        if holding != 1:
            errors.append(f"{path}: matches {holding} of the {len(schema['oneOf'])} schemas of oneOf (exactly one "
                          "must hold)")
    if isinstance(instance, list) and "items" in schema:
        for k, item in enumerate(instance):
            errors += schema_errors(item, schema["items"], f"{path}[{k}]")
    return errors
