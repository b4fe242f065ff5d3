"""Printing results: one JSON object with ``--json``, checked against its schema, an aligned table otherwise."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from stablesam.core.schema import schema_errors

__all__ = ["add_json_flag", "emit", "format_table"]


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Format ``rows`` (mappings with the same keys) as a left-aligned text table."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def emit(result: Mapping[str, Any], *, as_json: bool, schema: Mapping[str, Any], rows_key: str | None = None,
         stream=None) -> None:
    """Print ``result``: as one JSON object, or as ``key: value`` lines (and a table of ``rows_key``).

    The JSON object (non-finite floats as ``null`` / ``"inf"``) is checked against ``schema``, the command's
    entry of :mod:`stablesam.cli.schemas`, before anything is printed; a violation is the command's bug and raises
    ``RuntimeError`` naming the first one.
    """
    stream = stream or sys.stdout
    if as_json:
        document = _jsonable(result)
        errors = schema_errors(document, dict(schema))
        if errors:
            raise RuntimeError(f"the output violates its schema {schema.get('title', '')!r}: {errors[0]} "
                               f"({len(errors)} violation(s))")
        print(json.dumps(document, sort_keys=False, allow_nan=False), file=stream)
        return
    for key, value in result.items():
        if key != rows_key:
            print(f"{key}: {_cell(_jsonable(value))}", file=stream)
    if rows_key is not None:
        print(format_table(result[rows_key]), file=stream)
